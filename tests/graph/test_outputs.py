"""Models with several outputs (detectors): verification compares every output tensor, output layers are found
through reshapes and concatenations, and a refusal says what to do."""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgeprune.graph import analyze
from edgeprune.prune import apply_plan, make_plan


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class TwoLevelDetector(nn.Module):
    """Backbone with two levels; per level a box and a class conv, flattened and concatenated over levels."""

    def __init__(self, raw_dict: bool = False) -> None:
        super().__init__()
        self.raw_dict = raw_dict
        self.stem, self.down = _cbr(3, 16), _cbr(16, 32, 2)
        self.box = nn.ModuleList([nn.Conv2d(16, 4, 1), nn.Conv2d(32, 4, 1)])
        self.cls = nn.ModuleList([nn.Conv2d(16, 3, 1), nn.Conv2d(32, 3, 1)])

    def forward(self, x: torch.Tensor):
        feats = [self.stem(x)]
        feats.append(self.down(feats[0]))
        n = x.shape[0]
        boxes = torch.cat([b(f).view(n, 4, -1) for b, f in zip(self.box, feats, strict=True)], -1)
        scores = torch.cat([c(f).view(n, 3, -1) for c, f in zip(self.cls, feats, strict=True)], -1)
        if self.raw_dict:  # like Ultralytics' Detect in eval mode: (decoded, raw dict with the features)
            return torch.cat([boxes, scores.sigmoid()], 1), {"boxes": boxes, "scores": scores, "feats": feats}
        return boxes, scores


def test_head_convs_behind_view_and_cat_are_output_layers_and_the_rest_prunes() -> None:
    torch.manual_seed(0)
    model, x = TwoLevelDetector().eval(), torch.randn(1, 3, 32, 32)
    a = analyze(model, x)
    heads = {"box.0", "box.1", "cls.0", "cls.1"}
    assert heads <= set(a.ignored)
    assert {g["root"] for g in a.groups if g["prunable"]} == {"stem.0", "down.0"}
    assert a.prunable_macs_share == 1.0
    pruned = apply_plan(copy.deepcopy(model), make_plan(model, x, 0.5), x)
    assert [tuple(o.shape) for o in pruned(x)] == [(1, 4, 1280), (1, 3, 1280)]
    assert pruned.stem[0].out_channels == 8


def test_nested_outputs_are_compared_tensor_by_tensor() -> None:
    """(tensor, dict of tensors and a list): every tensor counts; before, the dict was dropped on the pruned copy
    and every group of a YOLO was refused."""
    torch.manual_seed(0)
    a = analyze(TwoLevelDetector(raw_dict=True).eval(), torch.randn(1, 3, 32, 32))
    assert all(g["prunable"] for g in a.groups if g["root"] in ("stem.0", "down.0"))


class ChangesItsOutputs(nn.Module):
    """Returns two tensors the first time it runs and one after (a head that switches form with its state)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.out = _cbr(3, 16), nn.Conv2d(16, 2, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor):
        self.calls += 1
        y = self.out(self.conv(x))
        return (y, y.mean((2, 3))) if self.calls == 1 else y


def test_a_model_that_changes_its_output_structure_is_told_why() -> None:
    a = analyze(ChangesItsOutputs().eval(), torch.randn(1, 3, 16, 16), verify_blocks=False)
    note = a.group("conv.0")["note"]
    assert not a.group("conv.0")["prunable"]
    assert "returned 2 tensors when traced and 1 on a later call" in note and "form the model is exported in" in note


class SplitBySize(nn.Module):
    """Ultralytics' C2PSA pattern: ``split((self.c, self.c))`` reads one int for both pieces."""

    def __init__(self) -> None:
        super().__init__()
        self.c = 8
        self.cv1 = _cbr(3, 2 * self.c)
        self.m = _cbr(self.c, self.c)
        self.cv2 = nn.Conv2d(2 * self.c, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


def test_split_sizes_held_by_one_attribute_shrink_together() -> None:
    torch.manual_seed(0)
    model, x = SplitBySize().eval(), torch.randn(1, 3, 16, 16)
    a = analyze(model, x)
    assert a.group("cv1.0")["prunable"], a.group("cv1.0")["note"]
    pruned = apply_plan(copy.deepcopy(model), make_plan(model, x, 0.5), x)
    assert pruned.cv1[0].out_channels == 2 * pruned.c == 8
    assert pruned(x).shape == (1, 4, 16, 16)
