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


def test_read_json_names_the_file(tmp_path: Path):
    from edgeprune.atomic import read_json
    from edgeprune.errors import EdgepruneError

    good = tmp_path / "p.json"
    write_json(good, {"k": [1, 2]})
    assert read_json(good, "plan file") == {"k": [1, 2]}
    with pytest.raises(EdgepruneError, match=r"plan file .*missing.json does not exist"):
        read_json(tmp_path / "missing.json", "plan file")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(EdgepruneError, match=r"baseline .*bad.json is not valid JSON"):
        read_json(bad, "baseline")
