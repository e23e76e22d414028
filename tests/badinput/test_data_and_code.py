"""Data files and user code: malformed data is one line naming the file (and the sample), errors inside the user's
own factories name their file:line, and a loss that stops being finite stops training at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from hardening_support import error_line, run_main


@pytest.fixture(scope="module")
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target


def _write(kind: str, path: Path, x: np.ndarray, y: np.ndarray) -> tuple[Path, str]:
    """A bad data file of ``kind`` and what the error must name besides the file."""
    if kind == "nan_pixel":
        x = x.copy()
        x[5, 3, 3] = np.nan
        np.savez(path, x=x, y=y)
        return path, "sample 5"
    if kind == "object_arrays":
        np.savez(path, x=np.array([x[0], "a"], dtype=object), y=y[:2])
        return path, "'x'"
    if kind == "garbage_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
        return path, "not a zip of .npy arrays"
    if kind == "single_npy":
        path = path.with_suffix(".npy")
        np.save(path, x)
        return path, ".npy"
    if kind == "empty_file":
        path.write_bytes(b"")
        return path, "the file is empty"
    if kind == "no_samples":
        np.savez(path, x=x[:0], y=y[:0])
        return path, "no samples"
    if kind == "negative_label":
        np.savez(path, x=x, y=y - 1)
        return path, "negative label"
    if kind == "truncated_zip":
        np.savez(path, x=x, y=y)
        path.write_bytes(path.read_bytes()[:2000])
        return path, "not a readable .npz"
    if kind == "labels_mismatch":
        np.savez(path, x=x, y=y[:10])
        return path, "'y' has 10 entries"
    if kind == "missing_y":
        np.savez(path, x=x)
        return path, "missing array(s) ['y']"
    raise AssertionError(kind)


KINDS = [
    "nan_pixel", "object_arrays", "garbage_bytes", "single_npy", "empty_file", "no_samples", "negative_label",
    "truncated_zip", "labels_mismatch", "missing_y",
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_bad_npz_is_one_line_naming_the_file(model_files, digits_arrays, tmp_path: Path, capsys, kind: str) -> None:
    weights, plan, _ = model_files
    data, detail = _write(kind, tmp_path / "data.npz", *digits_arrays)
    out = tmp_path / "out"
    args = ["prune", "--plan", plan, "--checkpoint", weights, "--data", f"npz:{data}", "--out", out]
    line = error_line(run_main(capsys, *args), 2, str(data), detail)
    assert "allow_pickle" not in line and "unsafely" not in line
    assert not out.exists() or not any(out.iterdir())


def test_nan_pixel_never_becomes_a_cached_baseline(digits_arrays, tmp_path: Path, capsys) -> None:
    """One NaN pixel used to make the whole normalized set NaN and a 7.8% baseline was 'trained and cached'."""
    x, y = digits_arrays
    x = x.copy()
    x[17, 0, 0] = np.nan
    data = tmp_path / "nan.npz"
    np.savez(data, x=x, y=y)
    target = tmp_path / "t.toml"
    target.write_text(f'name = "nan"\n[data]\nspec = "npz:{data}"\n[model]\ntrain_epochs = 1\n')
    result = run_main(capsys, "deploy", "--target", target, "--out", tmp_path / "out")
    error_line(result, 2, str(data), "sample 17", "NaN")
    assert "baseline" not in result.out


def test_non_finite_loss_stops_at_once_naming_step_and_lr(model_files, tmp_path: Path, capsys) -> None:
    """A diverging run (SGD at the largest lr allowed) stops at the first non-finite loss, naming step and lr,
    instead of training on and failing later with a misleading parity error."""
    import re

    _, _, pruned = model_files
    run = tmp_path / "run"
    args = ["finetune", "--pruned", pruned, "--teacher", "none", "--data", "digits", "--epochs", "2", "--lr", "10"]
    result = run_main(capsys, *args, "--optimizer", "sgd", "--scheduler", "constant", "--out", run)
    line = error_line(result, 2, "training loss became", "finetune.lr")
    assert re.search(r"at step \d+ \(epoch 1, lr 10\)", line), line
    assert "epoch 1/2" not in result.err  # stopped inside the first epoch
    assert not (run / "model").exists()


FACTORIES = {
    "raises": ("def make(num_classes=10, in_channels=1):\n    x = 1\n    raise ValueError(x)\n", ":3", "ValueError"),
    "syntax": ("def make(:\n    pass\n", ":1", "SyntaxError"),
    "import_fails": ("import nonexistent_package_xyz\n\ndef make():\n    pass\n", ":1", "ModuleNotFoundError"),
    "returns_none": ("def make(num_classes=10):\n    return None\n", "", "not a torch.nn.Module"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FACTORIES))
def test_model_factory_errors_name_the_users_file_and_line(tmp_path: Path, capsys, case: str) -> None:
    source, line_no, kind = FACTORIES[case]
    factory = tmp_path / f"user_{case}.py"
    factory.write_text(source)
    args = ["analyze", "--model", f"{factory}:make", "--input-shape", "1,1,8,8"]
    error_line(run_main(capsys, *args), 2, f"{factory}{line_no}", kind)


@pytest.mark.parametrize("case", ["raises", "syntax"])
def test_data_factory_errors_name_the_users_file_and_line(model_files, tmp_path: Path, capsys, case: str) -> None:
    weights, plan, _ = model_files
    source, line_no, kind = FACTORIES[case]
    factory = tmp_path / f"data_{case}.py"
    factory.write_text(source.replace("make(num_classes=10, in_channels=1)", "make()"))
    args = ["prune", "--plan", plan, "--checkpoint", weights, "--data", f"{factory}:make", "--out", tmp_path / "o"]
    line_no = ":3" if case == "raises" else line_no
    error_line(run_main(capsys, *args), 2, f"{factory}{line_no}", kind)
