"""``edgeprune sensitivity`` end to end on a checkpoint (no training)."""

from __future__ import annotations

import json

import pytest

from edgeprune.commands.main import main


def test_cli_writes_json_and_png(tmp_path, default_checkpoint, capsys) -> None:
    ckpt = default_checkpoint
    out = tmp_path / "out"
    argv = ["sensitivity", "--data", "digits", "--checkpoint", str(ckpt), "--samples", "64", "--ratios", "0.5"]
    argv.append("--allow-chance-baseline")  # seeded untrained weights score chance on digits
    assert main([*argv, "--out", str(out), "--no-cache"]) == 0
    data = json.loads((out / "sensitivity.json").read_text())
    assert data["samples"] == 64 and data["ratios"] == [0.5] and len(data["groups"]) == 7
    assert (out / "sensitivity.png").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out


def test_cli_rejects_bad_ratio(tmp_path, default_checkpoint, capsys) -> None:
    ckpt = default_checkpoint
    assert main(["sensitivity", "--data", "digits", "--checkpoint", str(ckpt), "--ratios", "0.5,1.5"]) == 2
    assert "ratio grid" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["x,y"])
def test_cli_names_bad_flag(bad: str, tmp_path, capsys) -> None:
    assert main(["sensitivity", "--data", "digits", "--checkpoint", str(tmp_path / "none"), "--ratios", bad]) == 2
    assert "--ratios 'x,y'" in capsys.readouterr().err


def test_cli_does_not_overwrite_without_force(tmp_path, default_checkpoint, capsys) -> None:
    from edgeprune.manifest import Manifest, entry_of, write_manifest

    out = tmp_path / "out"
    out.mkdir()
    (out / "sensitivity.json").write_text("{}")
    argv = ["sensitivity", "--data", "digits", "--checkpoint", str(default_checkpoint), "--out", str(out)]
    assert main([*argv, "--force"]) == 2  # a sensitivity.json edgeprune did not write: never replaced
    assert "did not write" in capsys.readouterr().err and (out / "sensitivity.json").read_text() == "{}"
    write_manifest(out, Manifest("sensitivity", (entry_of(out, "sensitivity.json"),)))  # as if edgeprune wrote it
    assert main(argv) == 2
    assert "sensitivity.json already exists; pass --force" in capsys.readouterr().err
    assert (out / "sensitivity.json").read_text() == "{}"
