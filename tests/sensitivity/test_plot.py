"""sensitivity.png: curves against the fraction of the model's MACs removed; blocks as drops with their MACs share."""

from __future__ import annotations

import pytest

from edgeprune.sensitivity import BlockPoint, GroupCurve, Point, Sensitivity
from edgeprune.sensitivity.plot import draw_blocks, draw_groups, macs_saved, plot_sensitivity

BASE_MACS = 1_000_000


def _scan() -> Sensitivity:
    base = Point(0.0, 0, 96.0, 0.1, BASE_MACS, 1000)
    curve = GroupCurve(
        "conv1", "conv", 16, 1, ["conv1"], [], [],
        [Point(0.5, 8, 95.0, 0.2, 800_000, 900), Point(0.9, 2, 60.0, 1.5, 640_000, 800)],
    )  # fmt: skip
    blocks = [
        BlockPoint("layer1", "residual", Point(1.0, 0, 95.7, 0.12, 700_000, 700)),
        BlockPoint("layer2", "residual", Point(1.0, 0, 96.2, 0.09, 900_000, 950)),
    ]
    return Sensitivity("m", "digits", 500, [0.5, 0.9], "magnitude", 1, "top1", base, [curve], blocks, [1, 1, 8, 8])


@pytest.fixture()
def axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2)
    yield ax, bx
    plt.close(fig)


def test_groups_are_plotted_against_macs_saved(axes) -> None:
    scan = _scan()
    ax, _ = axes
    draw_groups(scan, ax)
    group_line = next(line for line in ax.get_lines() if line.get_label().startswith("conv1"))
    assert list(group_line.get_xdata()) == pytest.approx([0.0, 0.2, 0.36])  # not the ratios 0.5 / 0.9
    assert list(group_line.get_ydata()) == pytest.approx([96.0, 95.0, 60.0])
    crosses = [line for line in ax.get_lines() if line.get_marker() == "X" and len(line.get_xdata())]
    assert sorted(float(c.get_xdata()[0]) for c in crosses) == pytest.approx([0.1, 0.3])
    assert "MACs removed" in ax.get_xlabel() and "select samples (never validation)" in ax.get_ylabel()
    assert "choosing" not in ax.get_ylabel()
    assert macs_saved(scan, scan.blocks[0].point) == pytest.approx(0.3)


def test_blocks_are_drops_with_their_macs_share(axes) -> None:
    _, bx = axes
    draw_blocks(_scan(), bx)
    widths = [patch.get_width() for patch in bx.patches]
    assert widths == pytest.approx([0.3, -0.2])  # 96.0 - 95.7 and 96.0 - 96.2: the drop, not the metric
    labels = [t.get_text() for t in bx.get_yticklabels()]
    assert labels == ["layer1\n30.0% of MACs", "layer2\n10.0% of MACs"]
    assert "drop" in bx.get_xlabel()


def test_lower_is_better_drops_point_the_right_way(axes) -> None:
    import dataclasses

    scan = dataclasses.replace(_scan(), higher_is_better=False)
    _, bx = axes
    draw_blocks(scan, bx)
    assert [p.get_width() for p in bx.patches] == pytest.approx([-0.3, 0.2])


def test_png_is_written(tmp_path) -> None:
    from PIL import Image

    path = plot_sensitivity(_scan(), tmp_path / "s.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1430, 550)
