"""Fine-tune fixtures: single-threaded torch (fast on a shared 2-core box, and the same in subprocesses)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def subprocess_env() -> dict[str, str]:
    """Environment for child processes: same sources, tiny models importable, one thread, no bars."""
    src = str(TESTS.parent / "src")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, str(TESTS), env.get("PYTHONPATH", "")])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", EDGEPRUNE_NO_PROGRESS="1")
    return env
