"""One MAC/parameter counter: analyze (per layer) and count_macs_params (totals) agree, and count what they say."""

from __future__ import annotations

import torch
import torchvision
from tests.models_patterns import patterns as P
from torch import nn

from edgeprune.graph import analyze
from edgeprune.graph.cost import count_cost
from edgeprune.prune import count_macs_params


def test_mobilenet_v2_counts_agree_with_torchvision_table() -> None:
    model = torchvision.models.mobilenet_v2().eval()
    x = torch.randn(1, 3, 224, 224)
    cost = count_cost(model, x)
    a = analyze(model, x, verify_groups=False, verify_blocks=False)
    assert (a.macs, a.params) == count_macs_params(model, x) == (cost.macs, cost.params)
    assert sum(cost.layers.values()) == cost.macs
    assert round(cost.macs / 1e9, 2) == 0.30  # torchvision's table: 0.30 GFLOPS (multiply-adds), conv + linear
    assert cost.params == sum(p.numel() for p in model.parameters()) == 3_504_872
    first = model.features[0][0]  # 3x3 stride-2 conv, 3 -> 32 channels, 112x112 output
    assert cost.layers["features.0.0"] == 112 * 112 * 32 * 3 * 9 and first.kernel_size == (3, 3)


def test_vit_counts_attention_matmuls_once_split_or_not() -> None:
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10
    ).eval()
    x = torch.randn(1, 3, 32, 32)
    macs, params = count_macs_params(model, x)
    a = analyze(model, x, verify_groups=False, verify_blocks=False)  # analysis splits the attention of a copy
    assert (a.macs, a.params) == (macs, params)
    tokens, e = 17, 32  # 16 patches + class token
    attention = tokens * 4 * e * e + 2 * tokens * tokens * e  # four projections + scores and weighted sum
    mlp = 2 * tokens * e * 64
    patch = 16 * e * 3 * 8 * 8
    assert macs == patch + 2 * (attention + mlp) + e * 10


def test_qkv_attention_matmuls_count_but_norms_and_activations_do_not() -> None:
    model = P.QkvTransformer().eval()
    x = torch.randn(1, 8, 6)
    cost = count_cost(model, x)
    n, d, heads, hd = 8, 32, 4, 8
    assert cost.layers["attn"] == 2 * heads * n * n * hd  # q @ k^T and attn @ v, under the attention module
    assert cost.layers["attn.qkv"] == n * d * 3 * d and cost.layers["mlp.0"] == n * d * 64
    assert not any(k.startswith(("norm", "mlp.1")) for k in cost.layers)  # LayerNorm, GELU: not counted


def test_grouped_and_transposed_convs() -> None:
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.ConvTranspose2d(16, 4, 2, stride=2)).eval()
    cost = count_cost(model, torch.randn(1, 8, 5, 5))
    assert cost.layers["0"] == 25 * 16 * 2 * 9  # each output reads in/groups inputs
    assert cost.layers["1"] == 25 * 16 * 4 * 4  # each input meets out/groups x kernel weights
