"""A small text classifier on ``nn.TransformerEncoder``: token embedding + learned positions -> pre-norm encoder
layers -> LayerNorm -> mean over tokens -> Linear. Token ids come in as a float tensor (cast inside), so the
exported ONNX/TFLite files take one float input like every other edgeprune artifact."""

from __future__ import annotations

import torch
from torch import nn


class TextClassifier(nn.Module):
    def __init__(
        self,
        vocab: int = 500,
        dim: int = 64,
        heads: int = 4,
        layers: int = 3,
        mlp: int = 128,
        num_classes: int = 4,
        max_len: int = 32,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, mlp, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens.long()) + self.pos[:, : tokens.shape[1]]
        return self.head(self.norm(self.encoder(x)).mean(1))


def make(num_classes: int = 4, in_channels: int = 1) -> nn.Module:
    """Factory for ``--model tests.models_patterns.text_transformer:make`` (``in_channels`` is unused)."""
    del in_channels
    return TextClassifier(num_classes=num_classes)


def tokens(batch: int = 1, length: int = 32, vocab: int = 500, seed: int = 0) -> torch.Tensor:
    """Random token ids as floats, shape (batch, length)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=generator).float()
