"""The analyzer on EdgeNet and tiny models: groups, coupling, blocks, heads, CLI, errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from edgeprune.commands.main import main
from edgeprune.graph import TraceError, analyze, build_graph, find_blocks
from edgeprune.models import ModelSpec, build_model


@pytest.fixture(scope="module")
def edgenet_analysis():
    torch.manual_seed(0)
    return analyze(build_model(ModelSpec("edgeprune:default")), torch.randn(1, 1, 28, 28))


def test_edgenet_groups(edgenet_analysis) -> None:
    a = edgenet_analysis
    roots = [g["root"] for g in a.groups]
    assert roots == [
        "stem.0",
        "down1.0",
        "block1.body.0.0",
        "down2.0",
        "block2.body.0.0",
        "block3.body.0",
        "hidden",
        "classifier",
    ]
    down2 = a.group("down2.0")
    assert down2["kind"] == "channel" and down2["width"] == 64
    assert "residual add" in down2["coupling"]
    assert {"block2.body.1", "block3.body.4"} <= set(down2["members"])
    assert "hidden" in down2["consumers"]
    assert "depthwise conv" in a.group("block3.body.0")["coupling"]
    assert a.group("hidden")["kind"] == "neuron"
    head = a.group("classifier")
    assert head["prunable"] is False and a.ignored == ["classifier"]
    assert 0.5 < down2["macs_share"] < 0.6 and 0 < a.group("hidden")["macs_share"] < 0.01


def test_edgenet_blocks(edgenet_analysis) -> None:
    blocks = {b["path"]: b for b in edgenet_analysis.blocks}
    assert list(blocks) == ["block1", "block2", "block3"]
    assert all(b["kind"] == "residual" and b["verified"] for b in blocks.values())
    assert blocks["block2"]["params_share"] > blocks["block1"]["params_share"]


def test_shape_preserving_layer_in_sequence() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 4, 1)).eval()
    found = find_blocks(model, torch.randn(1, 3, 8, 8))
    assert [(b.path, b.kind) for b in found] == [("1", "sequence")]


class TinyViTBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 16)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        h = h + self.attn(h, h, h, need_weights=False)[0]
        return self.head(h.mean(1))


def test_attention_groups_and_heads() -> None:
    model = TinyViTBlock().eval()
    a = analyze(model, torch.randn(1, 5, 6))
    assert isinstance(model.attn, nn.MultiheadAttention)  # analysis splits a copy
    emb = a.group("proj")
    assert emb["kind"] == "embedding" and emb["channel_groups"] == 1 and "attention" in emb["coupling"]
    assert "attn.out_proj" in emb["members"] and "attn.q_proj" in emb["consumers"]
    heads = a.group("attn")
    assert heads["kind"] == "head" and heads["width"] == 4 and heads["prunable"] is True
    assert heads["members"] == ["attn.q_proj", "attn.k_proj", "attn.v_proj"] and heads["consumers"] == ["attn.out_proj"]
    assert 0.5 < heads["macs_share"] < 1.0
    assert [g["root"] for g in a.groups] == ["proj", "attn", "head"]


def test_unsplit_attention_is_listed_not_prunable() -> None:
    a = analyze(TinyViTBlock().eval(), torch.randn(1, 5, 6), split_heads=False)
    emb = a.group("proj")
    assert emb["channel_groups"] == 4 and "attention" in emb["coupling"]
    heads = a.group("attn")
    assert heads["kind"] == "head" and heads["prunable"] is False and "group 'proj'" in heads["note"]


class CrossAttention(TinyViTBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        return self.head(self.attn(h, h.flip(1), h, need_weights=False)[0].mean(1))


def test_cross_attention_is_not_split() -> None:
    heads = analyze(CrossAttention().eval(), torch.randn(1, 5, 6)).group("attn")
    assert heads["prunable"] is False and "cross-attention" in heads["note"]


class DataDependentShape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).view(-1, 999)


def test_trace_failure_names_module_and_op() -> None:
    with pytest.raises(TraceError, match=r"forward of DataDependentShape itself at op .*view\(-1, 999\)"):
        build_graph(DataDependentShape(), torch.randn(1, 3, 8, 8))


class FailsInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(10, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_trace_failure_names_innermost_module() -> None:
    with pytest.raises(TraceError, match=r"module 'inner\.2' \(Linear\).*ignored_layers"):
        build_graph(FailsInside(), torch.randn(1, 3, 8, 8))


def test_cli_writes_json(tmp_path, capsys) -> None:
    assert main(["analyze", "--model", "edgeprune:default", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "analysis.json").read_text())
    assert data["input_shape"] == [1, 1, 28, 28] and len(data["groups"]) == 8 and len(data["blocks"]) == 3
    assert "Coupled groups" in capsys.readouterr().out


def test_cli_bad_shape_is_a_user_error(capsys) -> None:
    assert main(["analyze", "--input-shape", "1,a,3"]) == 2
    assert "--input-shape '1,a,3'" in capsys.readouterr().err


def test_verification_runs_at_half_size_only_where_the_outputs_agree() -> None:
    import torch
    from torch import nn

    from edgeprune.graph.verify import verification_input

    pooled = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    fixed = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 64 * 64, 4)).eval()
    dense = nn.Conv2d(3, 2, 1).eval()  # a dense output at the input size
    x = torch.randn(1, 3, 64, 64)
    assert verification_input(pooled, x, [(1, 4)]).shape == (1, 3, 32, 32)
    assert verification_input(fixed, x, [(1, 4)]) is x  # the half-size input fails in the Linear
    assert verification_input(dense, x, [(1, 2, 64, 64)]) is x  # the output would shrink
    assert verification_input(pooled, torch.randn(1, 3, 40, 40), [(1, 4)]).shape[-1] == 40  # too small to halve
