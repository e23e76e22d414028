from pathlib import Path

import pytest

from edgeprune.config import TARGETS_DIR, known_targets, load_target
from edgeprune.errors import ConfigError


def test_shipped_targets_load():
    names = known_targets()
    assert {"tflite", "tflite-int8", "onnx"} <= set(names)
    for name in names:
        target = load_target(name)
        assert target.name == name
        assert 0 < target.prune.macs <= 1


def test_tflite_target_values():
    target = load_target("tflite")
    assert target.export.format == "tflite" and target.export.precision == "fp32"
    assert target.bench.runtime == "litert" and target.prune.macs == 0.5


def test_unknown_target_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown target 'nope'; known targets: .*tflite"):
        load_target("nope")


def test_unknown_field_names_file_section_and_field(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[prune]\nmacs = 0.5\nratioo = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml:prune: unknown field\(s\) \['ratioo'\]"):
        load_target(str(bad))


def test_bad_value_names_field(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[prune]\nmacs = 1.5\n")
    with pytest.raises(ConfigError, match=r"bad.toml: prune.macs: must be in \(0, 1\], got 1.5"):
        load_target(str(bad))


def test_wrong_type_names_field(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[bench]\nthreads = "two"\n')
    with pytest.raises(ConfigError, match=r"bench.threads: must be int"):
        load_target(str(bad))


def test_onnx_cannot_be_int8(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[export]\nformat = "onnx"\nprecision = "int8"\n')
    with pytest.raises(ConfigError, match=r"export.precision"):
        load_target(str(bad))


def test_targets_dir_is_in_repo():
    assert (TARGETS_DIR / "tflite.toml").is_file()


def test_unknown_prune_method(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[prune]\nmethod = "lottery"\n')
    with pytest.raises(ConfigError, match=r"prune\.method: must be one of"):
        load_target(str(bad))
