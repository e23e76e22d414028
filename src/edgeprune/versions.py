"""Versions of the packages a result depends on, for reports and artifact metadata."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = (
    "edgeprune",
    "torch",
    "torchvision",
    "torch-pruning",
    "onnx",
    "onnxruntime",
    "litert-torch",
    "ai-edge-litert",
    "ai-edge-quantizer",
    "ethos-u-vela",
    "tflite-micro",
    "numpy",
)


def versions() -> dict[str, str]:
    """Installed version of each relevant package (``missing`` when absent) plus Python and the CPU."""
    out: dict[str, str] = {"python": platform.python_version(), "machine": platform.machine()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out
