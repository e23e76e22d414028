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


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread (measured here under load: a 2-epoch fine-tune
    of the pruned default model on digits took 1.7-1.9 s with 1 thread, 20-41 s with 2)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
