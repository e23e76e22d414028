"""Fixtures of the security tests: the model files of the bad-input tests, and the loopback sshd of the bench tests
(one real OpenSSH server; see tests/bench/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.conftest import sshd  # noqa: F401  (the fixture reused, not redefined)
from hardening_support import save_default_model
from hardening_support import tiny_tflite as convert_tiny_tflite


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """``(m.safetensors, plan.json, pruned/)``: never modified by a test (copy before mutating)."""
    return save_default_model(tmp_path_factory.mktemp("model_files"))


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny conv model as .tflite (16x16 RGB input, 8 channels)."""
    return convert_tiny_tflite(tmp_path_factory.mktemp("tflite") / "tiny.tflite")
