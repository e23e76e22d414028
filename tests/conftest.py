"""Shared fixtures: tiny models and data so the default suite stays fast on 2 cores."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # so specs like "tinymodels:edgenet4" resolve in-process too
# tests run in temporary working directories (below): a relative PYTHONPATH (``PYTHONPATH=src``) must keep
# pointing at this checkout for the CLI subprocesses they start
os.environ["PYTHONPATH"] = os.pathsep.join(
    str(Path(entry).resolve()) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry
)

os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")
# one cache for the whole test session, never the user's ~/.cache/edgeprune
os.environ.setdefault("EDGEPRUNE_CACHE", tempfile.mkdtemp(prefix="edgeprune-test-cache-"))
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session", autouse=True)
def session_working_directory(tmp_path_factory: pytest.TempPathFactory):
    """Session- and module-scoped fixtures run in a temporary working directory too, never in the checkout."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("session-cwd"))
        yield


@pytest.fixture(autouse=True)
def own_working_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test, and every CLI it starts, runs in a fresh empty working directory: default outputs
    (``--out build/...``) never read or write the checkout's ``build/`` (the README's ``make deploy`` followed by
    ``make test`` must pass on one clone)."""
    folder = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(scope="session")
def digits():
    from edgeprune.data import load_data

    return load_data("digits")


@pytest.fixture()
def edgenet():
    from edgeprune.models.edgenet import EdgeNet

    torch.manual_seed(0)
    return EdgeNet(num_classes=10, in_channels=1, width=8).eval()


@pytest.fixture(scope="module")
def tiny(digits):
    """A narrow EdgeNet (width 4) trained for 2 epochs on digits: real but cheap scores and curves."""
    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune import fit
    from edgeprune.models.edgenet import EdgeNet

    torch.manual_seed(0)
    model = EdgeNet(num_classes=10, in_channels=1, width=4)
    fit(model, digits, FinetuneConfig(epochs=2, lr=1e-2, distill=False))
    return model.eval()


@pytest.fixture()
def default_checkpoint(tmp_path):
    """Seeded, untrained weights of the default model saved as ``m.safetensors`` (for CLI tests)."""
    from edgeprune.models import ModelSpec, build_model, save_weights

    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_weights(build_model(ModelSpec("edgeprune:default")), path)
    return path


@pytest.fixture(scope="session")
def digits_png_folder(tmp_path_factory):
    """The 8x8 digits as 16x16 gray PNGs in ``train/<class>/`` and ``val/<class>/`` folders (real images)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("digits_png", TESTS.parent / "examples" / "digits_png.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write(tmp_path_factory.mktemp("digits_png"))
