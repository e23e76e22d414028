"""Plan making, applying and the save/load round trip on EdgeNet and tiny models."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.trace import TraceError
from edgeprune.models import ModelSpec, build_model
from edgeprune.prune import (
    GroupKeep,
    Plan,
    apply_plan,
    count_macs_params,
    keep_count,
    load_pruned,
    make_plan,
    save_pruned,
)

SPEC = ModelSpec("edgeprune:default")


@pytest.fixture()
def edgenet() -> nn.Module:
    torch.manual_seed(0)
    return build_model(SPEC)


@pytest.fixture()
def x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 1, 28, 28)


def test_round_trip_is_exact(edgenet: nn.Module, x: torch.Tensor, tmp_path) -> None:
    plan = make_plan(edgenet, x, 0.3, blocks=["block2"], spec=SPEC)
    macs_before, params_before = count_macs_params(edgenet, x)
    pruned = apply_plan(edgenet, plan, x)
    macs_after, params_after = count_macs_params(pruned, x)
    assert macs_after < 0.7 * macs_before and params_after < params_before
    assert isinstance(pruned.block2, nn.Identity)
    save_pruned(tmp_path / "m", pruned, plan)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["plan.json", "weights.safetensors"]
    loaded, loaded_plan = load_pruned(tmp_path / "m")
    assert loaded_plan.to_dict() == plan.to_dict()
    with torch.no_grad():
        assert torch.equal(pruned.eval()(x), loaded(x))
    assert loaded(x).shape == (2, 10)


def test_plan_is_plain_json(edgenet: nn.Module, x: torch.Tensor, tmp_path) -> None:
    plan = make_plan(edgenet, x, {"stem.0": 0.5, "block2.body.1": 0.25}, spec=SPEC)
    plan.save(tmp_path / "plan.json")
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["version"] == 1 and data["input_shape"] == [2, 1, 28, 28]
    assert data["model"] == {"spec": "edgeprune:default", "num_classes": 10, "in_channels": 1}
    by_root = {g["root"]: g for g in data["groups"]}
    assert set(by_root) == {"stem.0", "down2.0"}  # block2.body.1 belongs to the residual group rooted at down2.0
    assert len(by_root["stem.0"]["keep"]) == 8 and by_root["stem.0"]["width"] == 16
    assert len(by_root["down2.0"]["keep"]) == 48
    assert Plan.load(tmp_path / "plan.json").to_dict() == data


def test_classifier_head_never_pruned(edgenet: nn.Module, x: torch.Tensor) -> None:
    plan = make_plan(edgenet, x, 0.5)
    assert "classifier" not in {g.root for g in plan.groups}
    apply_plan(edgenet, plan, x)
    assert edgenet.classifier.out_features == 10
    assert edgenet.hidden.out_features == 64


def test_keeps_highest_magnitude_channels(edgenet: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        edgenet.stem[0].weight.mul_(0.01)
        edgenet.stem[0].weight[[3, 7]] *= 1000.0
    plan = make_plan(edgenet, x, {"stem.0": 0.85})
    assert plan.group("stem.0").keep == [3, 7]


def test_round_to_and_keep_count() -> None:
    assert keep_count(16, 1, 0.3, 1) == 11  # 11.2 -> 11
    assert keep_count(16, 1, 0.3, 8) == 8  # 11.2 is nearer 8 than 16
    assert keep_count(16, 1, 0.2, 8) == 16  # 12.8 is nearer 16: rounds up, not down
    assert keep_count(32, 1, 0.0035, 16) == 32  # issue 12: a 0.35% cut must not halve a layer
    assert keep_count(32, 1, 0.95, 16) == 16  # never below one step
    assert keep_count(4, 1, 0.9, 8) == 4  # narrower than one step: keep all
    assert keep_count(768, 12, 0.3, 1) == 45  # per head slice of 64: 44.8 -> 45
    assert keep_count(96, 2, 0.5, 8) == 24  # two slices of 48, step 4 each: 24 per slice


def test_errors_name_the_culprit(edgenet: nn.Module, x: torch.Tensor) -> None:
    with pytest.raises(EdgepruneError, match="'nope' is not a layer"):
        make_plan(edgenet, x, {"nope": 0.3})
    with pytest.raises(EdgepruneError, match=r"'stem\.0' is 1\.5"):
        make_plan(edgenet, x, {"stem.0": 1.5})
    with pytest.raises(EdgepruneError, match="block 'block9'"):
        make_plan(edgenet, x, 0.1, blocks=["block9"])
    with pytest.raises(EdgepruneError, match="version"):
        Plan.from_dict({"version": 7, "input_shape": [1]})
    with pytest.raises(EdgepruneError, match=r"'stem\.0': keep indices"):
        Plan.from_dict({"input_shape": [1], "groups": [{"root": "stem.0", "width": 4, "keep": [0, 9]}]})


def test_replay_on_wrong_width_is_refused(edgenet: nn.Module, x: torch.Tensor) -> None:
    plan = make_plan(edgenet, x, 0.3)
    apply_plan(edgenet, plan, x)
    with pytest.raises(EdgepruneError, match=r"plan group 'stem\.0': the model has width 11"):
        apply_plan(edgenet, plan, x)


class HardCodedView(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).view(-1, 32))


def test_hard_coded_view_names_module_and_op() -> None:
    model, x = HardCodedView(), torch.randn(1, 3, 8, 8)
    plan = make_plan(model, x, 0.5)  # the group fails verification: left alone, with the op in the reason
    assert plan.groups == []
    (left,) = [g for g in plan.left_alone if g.root == "features.0"]
    assert "view(-1, 32)" in left.reason and "hard-coded shape" in left.reason
    forced = Plan(list(x.shape), [GroupKeep("features.0", "channel", 8, [0, 1, 2, 3])])
    with pytest.raises(TraceError, match=r"view\(-1, 32\).*ignored_layers") as info:
        apply_plan(model, forced, x)
    assert "hard-coded shape" in str(info.value)


def test_grouped_conv_prunes_same_slots_per_group() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.ReLU(), nn.Conv2d(8, 4, 1)
    ).eval()
    x = torch.randn(1, 3, 6, 6)
    plan = make_plan(model, x, 0.5)
    keep = plan.group("0").keep
    assert len(keep) == 4 and [k % 4 for k in keep[:2]] == [k % 4 for k in keep[2:]]
    apply_plan(model, plan, x)
    assert model[1].weight.shape == (4, 2, 3, 3) and model(x).shape == (1, 4, 6, 6)
