"""Minimal models, one per pattern that upstream torch-pruning gets wrong or that edgeprune must prune (issue 17).

Each takes ``(1, 3, 16, 16)`` images (or ``(1, 6, 8)`` tokens for the attention ones) and returns 10 logits.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn(cin: int, cout: int, groups: int = 1, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Head(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))


class NestedConcat(nn.Module):
    """The stem feeds several concatenations and a concatenation of concatenations; a grouped conv reads the
    last one (upstream crash: "INDICES element is out of DATA bounds")."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 8)
        self.a = conv_bn(8, 8)
        self.b = conv_bn(16, 8)
        self.side = conv_bn(16, 8)
        self.grouped = conv_bn(24, 16, groups=4)
        self.mix = nn.Conv2d(24, 16, 1)
        self.head = Head(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        c1 = torch.cat([s, self.a(s)], 1)
        c2 = torch.cat([c1, self.b(c1)], 1)  # concat of a concat
        c3 = torch.cat([s, self.side(c1)], 1)  # the stem in a second concat
        return self.head(self.grouped(c2) + self.mix(torch.cat([c3, s], 1)))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class ShuffleV1(nn.Module):
    """Grouped conv -> channel shuffle -> grouped conv (ShuffleNet v1): the shuffle is a permutation."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 16)
        self.g1 = conv_bn(16, 16, groups=2)
        self.g2 = conv_bn(16, 16, groups=2)
        self.head = Head(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.g2(channel_shuffle(self.g1(self.stem(x)), 2)))


class ShuffleV2(nn.Module):
    """Two torchvision ShuffleNetV2 units (chunk, concat, channel shuffle) between a stem and a 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.shufflenetv2 import InvertedResidual

        self.stem = conv_bn(3, 16)
        self.down = InvertedResidual(16, 32, 2)
        self.unit = InvertedResidual(32, 32, 1)
        self.last = nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.head = Head(64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.last(self.unit(self.down(self.stem(x)))))


class SplitBranches(nn.Module):
    """Unequal split with the sizes kept as a module attribute, and a slice whose end is an attribute: both
    must follow the cut."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 24)
        self.split_sizes = [8, 16]
        self.small = conv_bn(8, 8)
        self.large = conv_bn(16, 16)
        self.expand = conv_bn(24, 32)
        self.out_chs = 20
        self.head = Head(20)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(self.stem(x), self.split_sizes, dim=1)
        y = self.expand(torch.cat([self.small(a), self.large(b)], 1))
        return self.head(y[:, : self.out_chs])


class SplitPaths(nn.Module):
    """Equal input split sized from a total kept as an attribute (timm's SelectiveKernel with split_input)."""

    def __init__(self, in_channels: int, out_channels: int, num_paths: int = 2) -> None:
        super().__init__()
        self.in_channels, self.num_paths = in_channels, num_paths
        self.paths = nn.ModuleList(conv_bn(in_channels // num_paths, out_channels) for _ in range(num_paths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.in_channels // self.num_paths, 1)
        return sum(path(part) for path, part in zip(self.paths, parts, strict=True))


class EqualSplitByTotal(nn.Module):
    """A stem feeding :class:`SplitPaths`: the total must follow the cut, and both halves lose the same count."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 32)
        self.sk = SplitPaths(32, 24)
        self.head = Head(24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.sk(self.stem(x)))


class GroupedChain(nn.Module):
    """A 1x1 conv feeding a grouped conv (4 groups) feeding another (2 groups): groups shrink together."""

    def __init__(self) -> None:
        super().__init__()
        self.pw = conv_bn(3, 32)
        self.g4 = conv_bn(32, 32, groups=4)
        self.g2 = conv_bn(32, 16, groups=2)
        self.head = Head(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.g2(self.g4(self.pw(x))))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // 4, 1)
        self.fc2 = nn.Conv2d(channels // 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class SEGate(nn.Module):
    """Conv -> squeeze-excitation gate (the gate's output channels are the gated tensor's) -> conv."""

    def __init__(self) -> None:
        super().__init__()
        self.body = conv_bn(3, 16)
        self.se = SqueezeExcite(16)
        self.out = conv_bn(16, 16)
        self.head = Head(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.out(self.se(self.body(x))))


class LayerNormHead(nn.Module):
    """Conv features -> pool -> LayerNorm -> Linear -> GELU -> Linear: the LayerNorm shrinks with the conv."""

    def __init__(self) -> None:
        super().__init__()
        self.body = conv_bn(3, 32)
        self.norm = nn.LayerNorm(32)
        self.hidden = nn.Linear(32, 64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.gelu(self.hidden(self.norm(self.body(x).mean((2, 3))))))


class SliceResidual(nn.Module):
    """A branch adds into the first ``self.part`` channels only (``x[:, :p] + f(x[:, :p])``, the rest passes):
    the first part is tied to the branch, and ``self.part`` must follow the cut."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 16)
        self.part = 8
        self.branch = conv_bn(8, 8)
        self.out = conv_bn(16, 16)
        self.head = Head(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        p = self.part
        x = torch.cat([x[:, :p] + self.branch(x[:, :p]), x[:, p:]], 1)
        return self.head(self.out(x))


class InplaceSliceResidual(SliceResidual):
    """The same add written in place (``x[:, :p] += f(x[:, :p])``): its channel mapping is not followed, so the
    groups through it are left alone with that reason."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).clone()
        x[:, : self.part] += self.branch(x[:, : self.part])
        return self.head(self.out(x))


class QkvAttention(nn.Module):
    """timm-style attention: one qkv Linear reshaped into heads, ``self.num_heads`` read in forward."""

    def __init__(self, dim: int = 32, num_heads: int = 4) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_dim = num_heads * self.head_dim
        self.qkv = nn.Linear(dim, 3 * self.attn_dim)
        self.proj = nn.Linear(self.attn_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.softmax(q @ k.transpose(-2, -1) * self.head_dim**-0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, self.attn_dim))


class QkvTransformer(nn.Module):
    """Token embedding -> pre-norm block (qkv attention + MLP) -> LayerNorm -> mean -> classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(6, 32)
        self.norm1 = nn.LayerNorm(32)
        self.attn = QkvAttention(32, 4)
        self.norm2 = nn.LayerNorm(32)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))
        self.norm = nn.LayerNorm(32)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return self.fc(self.norm(x).mean(1))


class WidthDerivedAttention(QkvAttention):
    """CaiT/ConViT-style attention: the head dim is derived from the input width (``C // self.num_heads``), so
    neither the width nor the heads can shrink alone, only one head per head dim of width."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.softmax(q @ k.transpose(-2, -1) * (c // self.num_heads) ** -0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class WidthDerivedTransformer(QkvTransformer):
    def __init__(self) -> None:
        super().__init__()
        self.attn = WidthDerivedAttention(32, 4)


class ChunkedWidthDerived(nn.Module):
    """EdgeNeXt's split-transpose block in small: the width is chunked in two halves (a depthwise conv on the
    first) and then read by attention whose head dim is derived from it: heads, width and halves shrink together."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 32)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.norm = nn.LayerNorm(32)
        self.attn = WidthDerivedAttention(32, 4)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.stem(x).chunk(2, dim=1)
        y = torch.cat([self.dw(a), b], 1)
        n, c, h, w = y.shape
        t = y.permute(0, 2, 3, 1).reshape(n, h * w, c)
        t = t + self.attn(self.norm(t))
        return self.fc(t.mean(1))
