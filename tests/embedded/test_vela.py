"""Vela compiles an int8 file for an Ethos-U: the summary and per-operator figures read back consistently, the
operators left on the CPU come with Vela's reason, and bad NPU settings are refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprune.config import NpuConfig
from edgeprune.embedded.records import NpuEstimate
from edgeprune.embedded.vela import check_npu_config, compile_for_npu
from edgeprune.errors import ConfigError, EdgepruneError

U55 = NpuConfig("ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram")


def test_int8_io_runs_entirely_on_the_npu(int8_file: Path, tmp_path: Path) -> None:
    est = compile_for_npu(int8_file, U55, tmp_path)
    assert est.accelerator == "Ethos_U55_128" and est.system_config == "Ethos_U55_High_End_Embedded"
    assert est.memory_mode == "Shared_Sram" and est.clock_hz == 500e6
    assert est.cycles == sum(op.cycles for op in est.ops) > 0  # the per-operator table adds up to the network
    assert est.inference_ms == pytest.approx(est.cycles / est.clock_hz * 1e3, rel=1e-3)
    assert est.cpu_ops == [] and {op.target for op in est.ops} == {"NPU"}
    assert est.sram_bytes > 0 and est.flash_bytes > 0 and est.storage == "flash"
    conv = [op for op in est.ops if op.original == "Conv2D" and op.op == "Conv2D"]
    assert conv and all(0.0 < op.utilization <= 100.0 and op.macs > 0 for op in conv)
    assert any(op.original == "Add" and op.macs == 0 and op.cycles > 0 for op in est.ops)  # cycles without MACs
    assert Path(est.compiled) == tmp_path / "small_int8_int8_vela.tflite" and Path(est.compiled).stat().st_size > 0
    assert NpuEstimate.from_dict(est.to_dict()) == est


def test_float_io_leaves_quantize_and_dequantize_on_the_cpu(float_io_file: Path) -> None:
    est = compile_for_npu(float_io_file, U55)
    ops = sorted((c.operator, c.reason.split(" (")[0]) for c in est.cpu_ops)
    assert ops == [
        ("DEQUANTIZE", "Unsupported opType"),
        ("QUANTIZE", "Operation has tensor with unsupported DataType Float32"),
    ]
    assert est.compiled == ""  # no output folder: nothing kept


def test_same_file_is_faster_on_a_u65(int8_file: Path) -> None:
    u55 = compile_for_npu(int8_file, U55)
    u65 = compile_for_npu(int8_file, NpuConfig("ethos-u65-256"))  # Vela's U65 defaults: 1 GHz, DRAM
    assert u65.accelerator == "Ethos_U65_256" and u65.storage == "DRAM" and u65.dram_bytes > 0
    assert u65.inference_ms < u55.inference_ms


def test_bad_npu_settings_are_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"npu.accelerator: must be one of \[.*'ethos-u55-128'.*\], got 'u55'"):
        NpuConfig("u55")
    with pytest.raises(ConfigError, match=r"npu.system_config 'Nope' is not in vela.ini \(known: \['Ethos_U55_Deep"):
        check_npu_config(NpuConfig("ethos-u55-128", "Nope"))
    with pytest.raises(ConfigError, match=r"npu.memory_mode 'Fast' is not in vela.ini \(known: .*'Shared_Sram'"):
        check_npu_config(NpuConfig("ethos-u55-128", memory_mode="Fast"))
    with pytest.raises(ConfigError, match=r"npu.config_file .*missing.ini does not exist"):
        check_npu_config(NpuConfig("ethos-u55-128", "X", config_file=str(tmp_path / "missing.ini")))


def test_a_file_vela_cannot_read_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(EdgepruneError, match=r"^Vela could not compile bad.tflite: ") as info:
        compile_for_npu(bad, U55)
    assert "\n" not in str(info.value)
