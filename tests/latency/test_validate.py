"""The latency model's validation error compares fractions of the unpruned latency, not milliseconds."""

from __future__ import annotations

import pytest

from edgeprune.latency.validate import PlanCheck, Validation


def test_error_ignores_the_machine_running_faster_than_when_fitted() -> None:
    # fitted when the unpruned network took 2.0 ms, validated when it took 1.6 ms: same fraction, no error
    drifted = PlanCheck("a", predicted_ms=1.0, measured_ms=0.8, measured_fraction=0.5, predicted_fraction=0.5)
    assert drifted.error == pytest.approx(0.0)
    wrong = PlanCheck("b", predicted_ms=1.0, measured_ms=1.0, measured_fraction=0.5, predicted_fraction=0.6)
    assert wrong.error == pytest.approx(0.2)
    result = Validation(2.0, [drifted, wrong, wrong])
    assert result.p50 == pytest.approx(0.2) and result.summary()["max_error"] == pytest.approx(0.2)
