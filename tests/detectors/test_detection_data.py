"""The digits detection set: seeded canvases with tight boxes, splits from disjoint digit pools, Ultralytics'
layout written from the very tensors edgeprune feeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgeprune.data import load_data
from edgeprune.data.detection import MAX_BOXES, boxes_of, compose, write_ultralytics
from edgeprune.errors import SpecError


def test_compose_is_seeded_and_boxes_hold_the_ink() -> None:
    rng = np.random.default_rng(0)
    digits = rng.uniform(0, 255, size=(20, 28, 28)).astype(np.float32) * (rng.uniform(size=(20, 28, 28)) > 0.7)
    labels = rng.integers(0, 10, size=20)
    a_img, a_tgt = compose(digits, labels, 12, 64, seed=5)
    b_img, b_tgt = compose(digits, labels, 12, 64, seed=5)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_tgt, b_tgt)
    assert a_img.shape == (12, 1, 64, 64) and a_tgt.shape == (12, MAX_BOXES, 5)
    for image, rows in zip(a_img, torch.from_numpy(a_tgt), strict=True):
        classes, boxes = boxes_of(rows)
        assert 1 <= len(classes) <= 4 and bool(((boxes > 0) & (boxes <= 1)).all())
        outside = image[0].copy()
        for cx, cy, w, h in (boxes * 64).tolist():
            outside[round(cy - h / 2) : round(cy + h / 2), round(cx - w / 2) : round(cx + w / 2)] = 0
        assert outside.max() <= 0.25 * image.max() + 1  # ink beyond a box is only faint anti-aliasing


def test_detect_digits_splits_and_layout(tmp_path) -> None:
    data = load_data("detect-digits:64")
    assert data.task == "detection" and data.input_shape == (3, 64, 64) and data.num_classes == 10
    assert (len(data.train), len(data.select), len(data.val)) == (2000, 250, 500)
    x, y = data.val[3]
    assert x.shape == (3, 64, 64) and torch.equal(x[0], x[2]) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.equal(load_data("detect-digits:64").val[3][1], y)  # seeded
    small = dataclasses.replace(
        data, train=data.train.subset(torch.arange(3)), select=data.select.subset(torch.arange(2)),
        val=data.val.subset(torch.arange(4)),
    )  # fmt: skip
    yaml = write_ultralytics(small, tmp_path / "ds")
    assert "test: images/val" in yaml.read_text() and "val: images/select" in yaml.read_text()
    assert len(list((tmp_path / "ds" / "images" / "val").glob("*.png"))) == 4
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "ds" / "images" / "val" / "00003.png"), dtype=np.float32) / 255
    assert np.abs(png - x[0].numpy()).max() < 1e-6  # lossless: Ultralytics reads what edgeprune scores
    lines = (tmp_path / "ds" / "labels" / "val" / "00003.txt").read_text().split("\n")
    assert len([ln for ln in lines if ln]) == len(boxes_of(y)[0])


@pytest.mark.parametrize("arg", ["100", "abc", "32"])
def test_bad_canvas_size_names_the_spec(arg: str) -> None:
    with pytest.raises(SpecError, match=f"detect-digits:{arg}"):
        load_data(f"detect-digits:{arg}")
