"""The cross-format table's record and rendering (built here), and the ``--formats`` grammar."""

from __future__ import annotations

import dataclasses

import pytest
from sample_report import artifact, make_report

from edgeprune.errors import EdgepruneError
from edgeprune.pipeline.compare import Variant, parse_variants
from edgeprune.report.comparison import FormatComparison, FormatRow, comparison_table, render_comparison_markdown


def _onnx(t):
    a = t.artifact
    return dataclasses.replace(t, artifact=dataclasses.replace(a, path=a.path.replace(".tflite", ".onnx"),
                                                               format="onnx", runtime="onnxruntime"))  # fmt: skip


def _comparison() -> FormatComparison:
    r = make_report()
    base_fp32, pruned_fp32 = r.baseline_artifact, artifact("pruned", "fp32", 0.086, 1.65, 316_000, 98.2)
    rows = [
        FormatRow(base_fp32, 1.0),
        FormatRow(pruned_fp32, 1.65),
        FormatRow(r.unpruned_artifacts[0], 1.58),
        FormatRow(r.artifacts[0], 2.22),
        FormatRow(dataclasses.replace(_onnx(base_fp32), speedup=1.0), 0.71),
        FormatRow(dataclasses.replace(_onnx(pruned_fp32), speedup=1.8), 1.28),
    ]
    return FormatComparison(
        model=r.model, pruned_dir="/out/pruned_model", data=r.data, task=r.task, baseline=r.baseline,
        pruned=r.pruned, reference="baseline_fp32.tflite", rows=rows, bench=r.bench, versions=r.versions, wall_s=80.0,
    )  # fmt: skip


def test_table_has_every_format_with_bounds_and_two_speedups() -> None:
    c = _comparison()
    table = comparison_table(c)
    assert table.headers[-2:] == ["speedup vs unpruned fp32 (same format)", "speedup vs baseline_fp32.tflite"]
    assert [(row[0], row[1], row[2]) for row in table.rows] == [
        ("unpruned", "tflite", "fp32"), ("pruned", "tflite", "fp32"), ("unpruned", "tflite", "int8"),
        ("pruned", "tflite", "int8"), ("unpruned", "onnx", "fp32"), ("pruned", "onnx", "fp32"),
    ]  # fmt: skip
    onnx_pruned = table.rows[-1]
    assert onnx_pruned[-2:] == ["1.80x", "1.28x"] and onnx_pruned[6] == "rel. err <= 1e-04"
    assert table.rows[3][6] == "int8: drop <= 1 pt, agreement >= 97%" and table.rows[3][7] == "97.80%"
    md = render_comparison_markdown(c)
    assert md.count("\n| ") == 7 and "interleaved in one runner process" in md and "VmHWM" in md


def test_record_round_trips_and_rejects_other_versions() -> None:
    c = _comparison()
    assert FormatComparison.from_dict(c.to_dict()) == c
    with pytest.raises(EdgepruneError, match="comparison: field 'version' is 7"):
        FormatComparison.from_dict({**c.to_dict(), "version": 7})
    with pytest.raises(EdgepruneError, match="comparison: malformed record"):
        FormatComparison.from_dict({k: v for k, v in c.to_dict().items() if k != "rows"})


def test_formats_grammar() -> None:
    assert parse_variants("tflite:fp32, tflite:int8,onnx") == [
        Variant("tflite", "fp32"), Variant("tflite", "int8"), Variant("onnx", "fp32"),
    ]  # fmt: skip
    with pytest.raises(EdgepruneError, match=r"format 'onnx' writes \['fp32'\], not 'int8'"):
        parse_variants("tflite:fp32,onnx:int8")
    with pytest.raises(EdgepruneError, match="the first entry must be fp32"):
        parse_variants("tflite:int8,tflite:fp32")
    with pytest.raises(EdgepruneError, match="'tflite:fp32' is listed twice"):
        parse_variants("tflite:fp32,tflite:fp32")
    with pytest.raises(EdgepruneError, match="unknown export format 'coreml'"):
        parse_variants("coreml:fp32")
    with pytest.raises(EdgepruneError, match="empty format name"):
        parse_variants("tflite,")


def test_cli_refuses_bad_formats_before_loading(capsys) -> None:
    from edgeprune.commands.main import main

    assert main(["compare", "--pruned", "nowhere", "--formats", "onnx:fp16"]) == 2
    assert "format 'onnx' writes ['fp32'], not 'fp16'" in capsys.readouterr().err
    assert main(["compare", "--data", "digits"]) == 2
    assert "give --pruned DIR" in capsys.readouterr().err
