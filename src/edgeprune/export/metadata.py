"""The metadata JSON written next to every artifact (``<artifact>.json``): provenance, inputs, precision."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from edgeprune.atomic import read_json, write_json
from edgeprune.errors import EdgepruneError
from edgeprune.hashing import sha256_file

METADATA_VERSION = 1
RUNTIME_PACKAGES = ("torch", "litert-torch", "ai-edge-litert", "ai-edge-quantizer", "onnx", "onnxruntime", "numpy")


def metadata_path(artifact_path: str | Path) -> Path:
    """``model.tflite`` -> ``model.tflite.json``."""
    path = Path(artifact_path)
    return path.with_name(path.name + ".json")


def gzip_size(path: str | Path) -> int:
    """Bytes of the file gzip-compressed at level 9: what an app download or OTA update carries."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0))


def package_versions() -> dict[str, str]:
    """Versions of the converters and runtimes an artifact depends on."""
    from edgeprune.versions import versions

    found = versions()
    return {name: found.get(name, "missing") for name in RUNTIME_PACKAGES}


def build_metadata(
    artifact_path: Path,
    *,
    fmt: str,
    runtime: str,
    precision: str,
    input_shape: list[int],
    input_layout: str,
    model_hash: str,
    plan_hash: str | None = None,
    preprocessing: dict[str, Any] | None = None,
    quantization: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    verification: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Plain-data record of how an artifact was produced and checked; an integer input also records how raw
    samples become it (``quantization.raw_to_input``, :mod:`edgeprune.export.inputq`)."""
    if quantization and quantization.get("io", {}).get("input"):
        from edgeprune.export.inputq import fold_preprocessing

        folded = fold_preprocessing(preprocessing, quantization["io"]["input"], input_layout)
        if folded is not None:
            quantization = {**quantization, "raw_to_input": folded.to_dict()}
    return {
        "metadata_version": METADATA_VERSION,
        "artifact": artifact_path.name,
        "sha256": sha256_file(artifact_path),
        "size_bytes": artifact_path.stat().st_size,
        "gzip_size_bytes": gzip_size(artifact_path),
        "format": fmt,
        "runtime": runtime,
        "precision": precision,
        "input_shape": list(input_shape),
        "input_layout": input_layout,
        "preprocessing": preprocessing,
        "source": {"model_hash": model_hash, "plan_hash": plan_hash, **(source or {})},
        "quantization": quantization,
        "options": options or {},
        "verification": verification,
        "versions": package_versions(),
    }


def write_metadata(artifact_path: str | Path, metadata: dict[str, Any]) -> Path:
    """Atomically write ``<artifact>.json``; returns its path."""
    path = metadata_path(artifact_path)
    write_json(path, metadata)
    return path


def read_metadata(artifact_path: str | Path) -> dict[str, Any]:
    """The metadata next to an artifact, or ``{}`` when there is none."""
    path = metadata_path(artifact_path)
    if not path.is_file():
        return {}
    data = read_json(path, "artifact metadata")
    if not isinstance(data, dict):
        raise EdgepruneError(f"artifact metadata {path}: expected a JSON object")
    return data
