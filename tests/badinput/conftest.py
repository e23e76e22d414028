"""Fixtures of the bad-input tests: the default model's seeded weights, a plan and the pruned model (8x8 digits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardening_support import save_default_model


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """``(m.safetensors, plan.json, pruned/)``: never modified by a test (copy before mutating)."""
    return save_default_model(tmp_path_factory.mktemp("model_files"))
