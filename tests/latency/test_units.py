"""Latency units: which layers are measured together, which groups set their widths, the micro-models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeprune.latency.micro import build_micro, export_ready, null_micro, signature
from edgeprune.latency.units import find_units, prunable_groups


@pytest.fixture()
def units(edgenet):
    x = torch.randn(1, 1, 28, 28)
    return {u.name: u for u in find_units(edgenet, x, prunable_groups(edgenet, x))}


def test_layers_absorb_the_norm_and_activation_they_feed(units) -> None:
    stem = units["stem.0"]
    assert stem.modules == ("stem.0", "stem.1", "stem.2")
    assert stem.in_axis is None and stem.out_axis is not None and stem.out_axis.root == "stem.0"
    assert stem.out_shape == (1, 8, 28, 28) and stem.macs == 8 * 28 * 28 * 9
    # the block's last conv feeds the residual add: its BN joins, the ReLU after the add stands alone
    assert units["block1.body.1"].modules == ("block1.body.1", "block1.body.2")
    act = units["block1.act"]
    assert act.tied and act.out_axis is not None and act.out_axis.root == "down1.0"
    assert not any("relu" in n for n in units)  # every ReLU belongs to a unit or is one


def test_axes_follow_the_coupled_groups(units) -> None:
    down2 = units["down2.0"]
    assert (down2.in_axis.root, down2.out_axis.root) == ("down1.0", "down2.0")
    dw = units["block3.body.3.0"]  # depthwise: in and out are the expanded group
    assert dw.tied and dw.out_axis.root == "block3.body.0" and dw.axes == (None, dw.out_axis)
    head = units["classifier"]
    assert head.out_axis is None and head.in_axis.root == "hidden"  # classifier outputs never shrink
    hidden = units["hidden"]  # Linear after flatten(C x 1 x 1): one input per kept channel
    assert hidden.in_axis.root == "down2.0" and hidden.in_axis.scale == 1
    assert hidden.channels(16, 32) == (16, 32) and hidden.channels(None, None) == (32, 64)
    assert dw.channels(None, 32) == (32, 32)


def test_flatten_of_a_feature_map_scales_the_linear_axis() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)).eval()
    x = torch.randn(1, 3, 6, 6)
    units = {u.name: u for u in find_units(net, x, prunable_groups(net, x))}
    lin = units["3"]
    assert lin.in_axis is not None and lin.in_axis.root == "0" and lin.in_axis.scale == 16
    assert lin.channels(4, None) == (64, 10)


@pytest.mark.parametrize(("kin", "kout"), [(None, None), (16, 32), (8, 16)])
def test_micro_model_has_the_asked_widths(edgenet, units, kin, kout) -> None:
    unit = units["down2.0"]
    micro, example = build_micro(edgenet, unit, kin, kout)
    cin, cout = unit.channels(kin, kout)
    assert example.shape == (1, cin, 14, 14)
    assert micro(example).shape == (1, cout, 7, 7)
    assert [type(m) for m in micro] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]


def test_depthwise_micro_model_stays_depthwise(edgenet, units) -> None:
    micro, example = build_micro(edgenet, units["block3.body.3.0"], None, 48)
    conv = micro[0]
    assert conv.groups == conv.in_channels == conv.out_channels == 48 and example.shape[1] == 48


def test_signature_names_what_decides_latency(edgenet, units) -> None:
    a = signature(*build_micro(edgenet, units["block2.body.0.0"], 32, 32), "tflite", "fp32")
    b = signature(*build_micro(edgenet, units["block2.body.0.0"], 32, 32), "tflite", "fp32")
    c = signature(*build_micro(edgenet, units["block2.body.0.0"], 32, 48), "tflite", "fp32")
    d = signature(*build_micro(edgenet, units["block2.body.0.0"], 32, 32), "onnx", "fp32")
    e = signature(*build_micro(edgenet, units["block2.body.1"], 32, 32), "tflite", "fp32")  # no ReLU after it
    assert a == b and len({a, c, d, e}) == 4


def test_shared_shapes_share_a_signature() -> None:
    net = nn.Sequential(*[nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()) for _ in range(3)]).eval()
    x = torch.randn(1, 16, 8, 8)
    units = find_units(net, x, prunable_groups(net, x))
    sigs = {signature(*build_micro(net, u, None, None), "onnx", "fp32") for u in units}
    assert len(units) == 3 and len(sigs) == 1


def test_tflite_micro_models_take_and_give_channels_last(edgenet, units) -> None:
    micro, example = build_micro(edgenet, units["down1.0"], None, None)
    wrapped, options = export_ready(micro, example, "tflite")
    assert options == {"nhwc": True} and wrapped(example).shape == (1, 14, 14, 16)
    same, none = export_ready(micro, example, "onnx")
    assert same is micro and none == {}
    relu, x = null_micro()
    assert relu(x).shape == x.shape
