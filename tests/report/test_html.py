"""report.html and report.md rendered from a record built here: plots embedded and sized, tables complete, text
escaped, nothing fetched; the record reads version-2 reports and names a version it cannot read."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image
from sample_report import make_report

from edgeprune.errors import EdgepruneError
from edgeprune.report import DeployReport, render_html, render_markdown
from edgeprune.report.plots import report_figures

IMG = re.compile(r'<img alt="([^"]*)" width="(\d+)" height="(\d+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def _images(page: str) -> list[tuple[str, int, int, Image.Image]]:
    found = []
    for alt, width, height, data in IMG.findall(page):
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        image.load()
        found.append((alt, int(width), int(height), image))
    return found


def _non_white_fraction(image: Image.Image) -> float:
    gray = image.convert("L")
    hist = gray.histogram()
    return 1.0 - sum(hist[250:]) / (gray.width * gray.height)


def test_html_embeds_every_plot_as_a_png_of_its_stated_size(report) -> None:
    page = render_html(report)
    images = _images(page)
    assert [alt for alt, *_ in images] == [
        "Widths per group before and after pruning",
        "top1 against MACs",
        "Latency against MACs, every artifact and the unpruned model",
        "Fine-tune curve",
        "Sensitivity against MACs saved",
    ]
    for alt, width, height, image in images:
        assert image.format == "PNG" and image.size == (width, height), alt
        assert width == 900 and 250 <= height <= 600, alt
        assert _non_white_fraction(image) > 0.03, f"{alt} is blank"
    assert page.count("<img ") == len(images) == 5


def test_html_is_self_contained(report) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert not re.search(r'src="(?!data:image/png;base64,)', page)  # only embedded images


def test_html_tables_carry_the_record(report) -> None:
    page = render_html(report)
    for t in report.all_artifacts:
        assert f'<td class="l">{t.artifact.name}</td>' in page
    # widths before/after per group, blocks dropped
    assert '<td class="l">head.fc1</td><td class="r">128</td><td class="r">64</td><td class="r">50%</td>' in page
    assert '<td class="l">block block2</td>' in page
    # the bound per precision, the preprocessing, the versions, the runner memory
    assert "rel. err &lt;= 1e-04" in page and "int8: drop &lt;= 1 pt, agreement &gt;= 97%" in page
    assert "(x - [0.1307]) / [0.3081]" in page and '<td class="l">torch</td><td class="l">2.14.1</td>' in page
    assert "61.0 MiB (21.0 MiB over the runner with its runtimes imported)" in page


def test_html_escapes_text_from_the_record() -> None:
    page = render_html(make_report(notes=("<script>alert(1)</script> & more",)))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def test_without_a_scan_there_is_no_sensitivity_plot() -> None:
    r = make_report(sensitivity=False, int8=False)
    names = [f.name for f in report_figures(r)]
    assert names == ["widths", "accuracy", "latency", "finetune"]
    assert len(_images(render_html(r))) == 4
    assert "Sensitivity scan" not in render_markdown(r)


def test_widths_figure_grows_with_the_number_of_groups(report) -> None:
    import dataclasses

    many = dataclasses.replace(report.prune, widths={f"g{i}": [64, 32] for i in range(40)})
    figure = report_figures(dataclasses.replace(report, prune=many))[0]
    assert figure.name == "widths" and figure.height_px > 1000
    assert Image.open(io.BytesIO(figure.png)).size == (figure.width_px, figure.height_px)


def test_markdown_has_widths_unpruned_int8_and_bounds(report) -> None:
    md = render_markdown(report)
    rows = [line for line in md.splitlines() if line.startswith("| ") and ".tflite" in line]
    assert [r.split(" | ")[0] for r in rows] == [
        "| baseline_fp32.tflite",
        "| baseline_int8.tflite",
        "| pruned_int8.tflite",
        "| pruned_fp32.tflite",
    ]
    int8_row = rows[1].split(" | ")
    assert int8_row[1:4] == ["unpruned", "litert", "int8"] and int8_row[7] == "int8: drop <= 1 pt, agreement >= 97%"
    assert rows[0].split(" | ")[7] == "rel. err <= 1e-04" and rows[0].endswith("| 1.00x |")
    assert "| stem.0 | 32 | 16 | 50% |" in md and "| block block2 | - | dropped | 0% |" in md
    assert "select samples, never validation" in md and "choosing samples" not in md
    assert "Runner peak memory (its own VmHWM" in md


def test_report_round_trips_and_reads_version_2(report) -> None:
    data = report.to_dict()
    assert data["version"] == 4
    again = DeployReport.from_dict(data)
    assert again == report and again.sensitivity.groups[0].points[2].macs == report.sensitivity.groups[0].points[2].macs
    old = {k: v for k, v in data.items() if k not in ("unpruned_artifacts", "sensitivity", "embedded")}
    v2 = DeployReport.from_dict({**old, "version": 2})
    assert v2.version == 4 and v2.unpruned_artifacts == [] and v2.sensitivity is None and v2.embedded is None
    assert len(_images(render_html(v2))) == 4  # an old report still renders
    unreadable = r"report: field 'version' is 1; this edgeprune reads versions \[2, 3, 4\]"
    with pytest.raises(EdgepruneError, match=unreadable):
        DeployReport.from_dict({**data, "version": 1})
    with pytest.raises(EdgepruneError, match="report: malformed record"):
        DeployReport.from_dict({k: v for k, v in data.items() if k != "prune"})


def test_typed_views_of_the_record(report) -> None:
    first = report.prune.group_widths[0]
    assert (first.root, first.before, first.after, first.kept) == ("stem.0", 32, 16, 0.5)
    curve = report.finetune.curve
    assert [e.epoch for e in curve] == [1, 2, 3, 4, 5] and curve[1].train_loss == pytest.approx(0.5)
    int8 = report.artifacts[0]
    assert int8.artifact.precision == "int8" and int8.int8_accuracy_drop == pytest.approx(0.4)
    assert (
        report.macs_of(int8) == report.pruned.macs and report.macs_of(report.baseline_artifact) == report.baseline.macs
    )
    assert report.bench.models_rss_bytes == 21 * 2**20
