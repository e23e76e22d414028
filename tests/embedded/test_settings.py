"""Embedded target settings: shipped targets load, [npu]/[tflm] and memory budgets are validated naming the field,
and the dataset's preprocessing folds into the int8 input's quantization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprune.errors import ConfigError
from edgeprune.export.inputq import fold_preprocessing
from edgeprune.pipeline.targets import load_target


@pytest.mark.parametrize(
    ("name", "accelerator", "system_config", "memory_mode"),
    [
        ("ethos-u55", "ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram"),
        ("ethos-u65", "ethos-u65-256", "Ethos_U65_Client_Server", "Dedicated_Sram_384KB"),
        ("ethos-u85", "ethos-u85-256", "Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB"),
        ("tflm", "", "", ""),
    ],
)
def test_embedded_targets_load(name: str, accelerator: str, system_config: str, memory_mode: str) -> None:
    target = load_target(name)
    npu = target.npu
    assert (npu.accelerator, npu.system_config, npu.memory_mode) == (accelerator, system_config, memory_mode)
    assert target.export.precision == "int8" and target.export.io_dtype == "int8" and target.tflm.verify
    assert target.embedded


def _target(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.toml"
    path.write_text('[export]\nformat = "tflite"\nprecision = "int8"\n' + text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[npu]\naccelerator = "ethos-u99"\n', r"npu.accelerator: must be one of \["),
        ('[npu]\naccelerator = "ethos-u55-128"\nsystem_config = "Board"\n', r"npu.system_config 'Board' is not in"),
        ('[npu]\naccelerator = "ethos-u55-128"\noptimise = "Speed"\n', r"npu.optimise: must be one of"),
        ("[tflm]\nverify = true\nsamples = 0\n", r"tflm.samples: must be in 1..100000, got 0"),
        ("[prune]\nsram_kib = 64.0\n", r"prune.sram_kib: needs an \[npu\] section \(Vela measures SRAM\)"),
        ('[npu]\naccelerator = "ethos-u55-128"\n[prune]\narena_kib = 20\n', r"prune.arena_kib: needs \[tflm\] verify"),
        ("[prune]\nflash_kib = 64.0\n", r"prune.flash_kib: needs an \[npu\] section or \[tflm\] verify = true"),
        ("[tflm]\nverify = true\n[prune]\narena_kib = -1\n", r"prune.arena_kib: must be > 0 KiB, got -1.0"),
        ("[tflm]\nverify = true\n[prune]\narena_kib = 20\nmacs = 0.5\n", r"prune.macs = 0.5 and prune.arena_kib"),
    ],
)
def test_bad_embedded_settings_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_target(_target(tmp_path, text))


def test_npu_needs_int8_tflite(tmp_path: Path) -> None:
    path = tmp_path / "fp32.toml"
    path.write_text('[npu]\naccelerator = "ethos-u55-128"\n')
    with pytest.raises(ConfigError, match=r"npu.accelerator: needs export.format 'tflite' and export.precision 'int8'"):
        load_target(str(path))


def test_budget_flag_replaces_a_memory_budget() -> None:
    from edgeprune.pipeline.overrides import apply_overrides

    target = apply_overrides(load_target("tflm"), arena_kib=16.0)
    assert target.prune.memory == ("arena_kib", 16.0) and target.prune.macs is None
    with pytest.raises(ConfigError, match=r"--macs 0.5 and --arena-kib 16.0 are 2 budgets; give one"):
        apply_overrides(load_target("tflm"), arena_kib=16.0, macs=0.5)


def test_preprocessing_folds_into_the_input_quantization() -> None:
    """raw -> (raw * scale - mean) / std -> round(x / s) + z equals round(raw * multiplier + offset) but at ties."""
    pre = {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    folded = fold_preprocessing(pre, {"dtype": "int8", "scale": 0.0187, "zero_point": -14}, "NCHW")
    raw = np.random.default_rng(0).integers(0, 256, size=(4, 3, 5, 5)).astype(np.float64)
    mean, std = np.array(pre["mean"]).reshape(1, 3, 1, 1), np.array(pre["std"]).reshape(1, 3, 1, 1)
    two_steps = np.clip(np.round(((raw / 255 - mean) / std) / 0.0187) - 14, -128, 127)
    assert np.abs(folded.apply(raw).astype(int) - two_steps).max() <= 1
    assert np.mean(folded.apply(raw) == two_steps) > 0.99
    assert fold_preprocessing(pre, {"dtype": "float32", "scale": 0.0, "zero_point": 0}, "NCHW") is None
