from pathlib import Path

import pytest

from edgeprune.atomic import write_json, write_with


def test_atomic_write_leaves_no_temp(tmp_path: Path):
    target = tmp_path / "sub" / "r.json"
    write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_failed_write_keeps_original(tmp_path: Path):
    target = tmp_path / "keep.bin"
    target.write_bytes(b"original")

    def boom(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_with(target, boom)
    assert target.read_bytes() == b"original"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]
