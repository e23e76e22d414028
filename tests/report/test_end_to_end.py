"""Slow: a real tiny deploy (digits, sensitivity strategy) writes report.html, which real headless Chromium renders
with its plots; then ``edgeprune compare`` puts the same pruned model in every format into one table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from test_html import _images

from edgeprune.report import DeployReport
from edgeprune.report.comparison import FormatComparison
from tiny_target import tiny_target

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> tuple[Path, DeployReport]:
    from edgeprune.pipeline import DeployRequest, deploy
    from edgeprune.pipeline.targets import load_target

    root = tmp_path_factory.mktemp("deploy")
    (root / "t.toml").write_text(tiny_target("tiny-report", prune='method = "sensitivity"'))
    report = deploy(DeployRequest(load_target(str(root / "t.toml")), root / "out"))
    return root / "out", report


def _screenshot(page: Path, shot: Path) -> Image.Image:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is absent: apt-get install -y chromium (CI's .ci/run installs it)")
    with tempfile.TemporaryDirectory(prefix="edgeprune-chromium-") as profile:
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,2000",
        ]  # fmt: skip
        proc = subprocess.run([CHROMIUM, *flags, page.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    assert shot.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    image = Image.open(shot)
    image.load()
    return image.convert("RGB")


def _coloured_pixels(image: Image.Image) -> int:
    """Pixels with clearly saturated colour: only plots have them (the page's text and tables are grey)."""
    hsv = image.convert("HSV")
    return sum(1 for _, s, v in hsv.getdata() if s > 100 and v > 60)


def test_report_html_renders_in_headless_chromium(deployed, tmp_path) -> None:
    out, report = deployed
    page = out / "report.html"
    assert DeployReport.from_dict(json.loads((out / "report.json").read_text())) == report
    images = _images(page.read_text())
    assert [alt for alt, *_ in images][-1] == "Sensitivity against MACs saved"  # the strategy's scan is plotted
    assert len(images) == 5 and all(img.size == (w, h) for _, w, h, img in images)
    shot = _screenshot(page, tmp_path / "report.png")
    assert shot.size == (1280, 2000)
    gray = shot.convert("L").histogram()
    assert 1.0 - sum(gray[250:]) / (1280 * 2000) > 0.05, "the page looks blank"
    with_plots = _coloured_pixels(shot)
    stripped = tmp_path / "no-plots.html"
    stripped.write_text(re.sub(r"<img [^>]*>", "", page.read_text()))
    without = _coloured_pixels(_screenshot(stripped, tmp_path / "no-plots.png"))
    assert with_plots > 20_000 and without < 500, (with_plots, without)  # the plots, decoded and drawn, are there


def test_compare_puts_every_format_in_one_table(deployed, tmp_path) -> None:
    from edgeprune.commands.main import main

    out, report = deployed
    args = ["compare", "--pruned", str(out / "pruned_model"), "--data", "digits", "--train-epochs", "8"]
    assert main([*args, "--runs", "30", "--warmup", "5", "--out", str(tmp_path / "cmp")]) == 0
    c = FormatComparison.from_dict(json.loads((tmp_path / "cmp" / "compare.json").read_text()))
    kinds = [(r.model, r.artifact.format, r.artifact.precision) for r in c.rows]
    assert kinds == [
        (m, f, p) for f, p in [("tflite", "fp32"), ("tflite", "fp16"), ("tflite", "int8"), ("onnx", "fp32")]
        for m in ("unpruned", "pruned")
    ]  # fmt: skip
    assert c.reference == "baseline_fp32.tflite" and c.rows[0].vs_reference == pytest.approx(1.0)
    for row in c.rows:
        a = row.artifact
        assert Path(a.path).is_file() and Path(a.path).parent == tmp_path / "cmp"
        assert row.timed.latency.count == 30 and row.timed.latency.p50 > 0
        if a.precision != "int8":
            assert a.parity.rel_err <= a.parity.bound
        if row.model == "unpruned" and a.precision == "fp32":
            assert row.timed.speedup == pytest.approx(1.0)
    by = {(r.model, r.artifact.format, r.artifact.precision): r for r in c.rows}
    assert by["pruned", "tflite", "int8"].artifact.int8["passed"]
    assert by["pruned", "tflite", "int8"].artifact.size_bytes < 0.5 * by["pruned", "tflite", "fp32"].artifact.size_bytes
    # the same pruned weights as the deploy: same validation metric on the same runtime
    assert by["pruned", "tflite", "fp32"].artifact.metric == pytest.approx(report.artifacts[0].artifact.metric)
    assert c.pruned.macs == report.pruned.macs and c.baseline.macs == report.baseline.macs
    assert 0 < c.bench.peak_rss_bytes < 200 * 2**20 and c.bench.runtime == "litert,onnxruntime"
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert len([ln for ln in md.splitlines() if ln.startswith("| pruned")]) == 4
