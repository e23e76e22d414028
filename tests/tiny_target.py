"""The small deploy target the end-to-end tests share: the default model on the 8x8 digits, 0.5x MACs, short
fine-tune and benchmark. Each test states only what it varies."""

from __future__ import annotations


def tiny_target(
    name: str = "tiny",
    prune: str = 'method = "uniform"',
    export: str = 'format = "tflite"',
    epochs: int = 3,
    warmup: int = 5,
    runs: int = 30,
) -> str:
    """A target TOML: ``prune`` and ``export`` are extra lines of those sections (``macs = 0.5`` is set)."""
    return f"""
name = "{name}"
[model]
spec = "edgeprune:default"
train_epochs = 8
[data]
spec = "digits"
[prune]
macs = 0.5
{prune}
[finetune]
epochs = {epochs}
[export]
{export}
[bench]
warmup = {warmup}
runs = {runs}
"""
