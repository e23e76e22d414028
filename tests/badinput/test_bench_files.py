"""Artifacts given to ``bench`` that a runtime cannot run: one line naming the file, never the runner's traceback
(a corrupt .tflite used to print 15 lines of it without saying which file was bad)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardening_support import error_line, run_cli, run_main, tiny_tflite


@pytest.fixture(scope="module")
def good_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_tflite(tmp_path_factory.mktemp("bench_files") / "good.tflite")


def _bench(*artifacts: Path, reference: Path, out: Path) -> list[str]:
    args = ["bench", "--target", "tflite", "--reference", reference, "--runs", "3", "--warmup", "0"]
    for artifact in artifacts:
        args += ["--artifact", artifact]
    return [*args, "--repeats", "1", "--out", out]


def test_corrupt_tflite_is_one_line_naming_the_file(good_tflite: Path, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.tflite"
    bad.write_bytes(bytes(range(256)) * 12)
    result = run_cli(*_bench(bad, reference=good_tflite, out=tmp_path / "b"))
    error_line(result, 2, str(bad), "not a TFLite model")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_damaged_tflite_among_good_ones_is_named(good_tflite: Path, tmp_path: Path, capsys, damage: str) -> None:
    """A file with a valid header whose body is cut: the runtime refuses it; the message names that file, not the
    list of everything measured together."""
    data = good_tflite.read_bytes()
    bad = tmp_path / f"{damage}.tflite"
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    other = tmp_path / "other.tflite"
    other.write_bytes(data)
    result = run_main(capsys, *_bench(other, bad, reference=good_tflite, out=tmp_path / "b"))
    line = error_line(result, 2, f"artifact {bad}")
    assert str(other) not in line
    if damage == "truncated":
        assert "litert runtime cannot run it" in line and "Flatbuffer" in line


def test_reference_that_is_not_an_artifact(good_tflite: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "ref.tflite"
    bad.write_text("not a model\n")
    error_line(run_main(capsys, *_bench(good_tflite, reference=bad, out=tmp_path / "b")), 2, str(bad))
