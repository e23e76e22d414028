"""The one table of deployable formats: name <-> file suffix <-> runtime <-> exporter <-> runtime packages.

Every other module asks this table (``format_named``, ``format_of_path``, ``format_for_runtime``) instead of
keeping its own dict, so a format, its suffix and the runtime that runs it can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class Format:
    """One artifact format and everything tied to it."""

    name: str  # "tflite", "onnx": the value of ``export.format`` and ``--format``
    suffix: str  # file suffix of the artifact
    runtime: str  # the runtime that executes it: the value of ``bench.runtime``
    exporter: str  # module with ``export(model, example, path, precision, **options) -> Artifact``
    precisions: tuple[str, ...]  # precisions the exporter writes
    runtime_modules: tuple[str, ...]  # Python modules able to run it (first found wins; boards may lack some)


FORMATS: dict[str, Format] = {
    "tflite": Format(
        "tflite",
        ".tflite",
        "litert",
        "edgeprune.export.tflite",
        ("fp32", "fp16", "int8"),
        ("ai_edge_litert", "tflite_runtime"),
    ),
    "onnx": Format("onnx", ".onnx", "onnxruntime", "edgeprune.export.onnx", ("fp32",), ("onnxruntime",)),
}
PRECISIONS = ("fp32", "fp16", "int8")


def known_formats() -> list[str]:
    return sorted(FORMATS)


def known_runtimes() -> list[str]:
    return sorted({f.runtime for f in FORMATS.values()})


def format_named(name: str) -> Format:
    """The format called ``name``; an unknown name lists the known ones."""
    fmt = FORMATS.get(name)
    if fmt is None:
        raise EdgepruneError(f"unknown export format '{name}'; known: {known_formats()}")
    return fmt


def format_for_runtime(runtime: str) -> Format:
    """The format a runtime executes."""
    for fmt in FORMATS.values():
        if fmt.runtime == runtime:
            return fmt
    raise EdgepruneError(f"unknown runtime '{runtime}'; known: {known_runtimes()}")


def format_of_path(path: str | Path) -> Format:
    """The format of an artifact file, from its suffix."""
    suffix = Path(path).suffix
    for fmt in FORMATS.values():
        if fmt.suffix == suffix:
            return fmt
    raise EdgepruneError(
        f"artifact {path}: unknown file type '{suffix}' (expected {sorted(f.suffix for f in FORMATS.values())})"
    )


def artifact_name(stem: str, precision: str, fmt: str) -> str:
    """``pruned`` + ``fp32`` + ``tflite`` -> ``pruned_fp32.tflite``."""
    return f"{stem}_{precision}{format_named(fmt).suffix}"
