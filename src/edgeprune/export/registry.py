"""Exporter registry keyed by format name, and the one entry point: export, verify, then publish."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.atomic import atomic_path
from edgeprune.errors import EdgepruneError, ParityError
from edgeprune.export.artifact import Artifact
from edgeprune.export.metadata import build_metadata, metadata_path, write_metadata
from edgeprune.export.verify import verify_artifact
from edgeprune.formats import format_named
from edgeprune.hashing import state_dict_hash
from edgeprune.progress import progress_bar


def _exporter(fmt: str) -> Any:
    """The exporter module the format table names for ``fmt``."""
    return importlib.import_module(format_named(fmt).exporter)


def _check_options(fmt: str, exporter: Any, options: dict[str, object]) -> None:
    accepted = set(inspect.signature(exporter.export).parameters) - {"model", "example", "path", "precision"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise EdgepruneError(f"export format '{fmt}' has no option(s) {unknown}; its options: {sorted(accepted)}")


def _check_model(model: nn.Module) -> None:
    bad_bn = [
        n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None
    ]
    if bad_bn:
        raise EdgepruneError(
            f"BatchNorm module(s) {bad_bn} have no running statistics (track_running_stats=False); converters need them"
        )


def _check_target(path: Path, force: bool) -> None:
    for existing in (path, metadata_path(path)):
        if existing.exists() and not force:
            raise EdgepruneError(f"{existing} already exists; pass --force (force=True) to overwrite it")


def export_model(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    fmt: str,
    precision: str = "fp32",
    *,
    force: bool = False,
    samples: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    model_hash: str | None = None,
    plan_hash: str | None = None,
    preprocessing: dict[str, Any] | None = None,
    task: Any = None,
    **options: object,
) -> Artifact:
    """Export ``model`` (put in eval mode) to ``path`` in format ``fmt``, verify it, and return the artifact.

    The file is verified before it is renamed into place: ``samples`` (default: ``example``) must match the
    torch model within the precision's bound; for int8 ``labels`` enable the accuracy check. A failed
    check raises :class:`edgeprune.errors.ParityError` and leaves no file behind. ``<path>.json`` records
    hashes (``model_hash`` defaults to the state-dict hash), input shape, ``preprocessing``, precision,
    quantization parameters, verification numbers and versions. A detector's int8 file is judged by its ``task``
    (mAP drop on ``labels``, box agreement with the torch model). Format options: onnx ``opset``,
    ``dynamic_batch``; tflite ``calibration`` (required for int8), ``io_dtype``, ``nhwc``.
    """
    exporter = _exporter(fmt)
    _check_options(fmt, exporter, options)
    path = Path(path)
    _check_target(path, force)
    model = model.eval()
    _check_model(model)
    checked = example if samples is None else samples
    with atomic_path(path) as tmp, progress_bar(f"export {path.name}", total=2) as bar:
        bar.status(f"converting ({fmt} {precision})")
        artifact = exporter.export(model, example, tmp, precision=precision, **options)
        bar.advance()
        bar.status(f"verifying against the torch model on {len(checked)} samples")
        try:
            verification = verify_artifact(artifact, model, checked, labels, task)
        except ParityError as exc:
            raise ParityError(f"{str(exc).replace(str(tmp), str(path))}; {path} was not written") from None
        bar.advance()
    artifact.path, artifact._session = path, None
    extra = artifact.metadata
    artifact.metadata = build_metadata(
        path,
        fmt=fmt,
        runtime=artifact.runtime,
        precision=artifact.precision,
        input_shape=list(example.shape),
        input_layout=artifact.input_layout,
        model_hash=model_hash or state_dict_hash(model),
        plan_hash=plan_hash,
        preprocessing=preprocessing,
        quantization=extra.get("quantization"),
        options=extra.get("options"),
        verification=verification,
        source={"model_class": f"{type(model).__module__}.{type(model).__qualname__}"},
    )
    write_metadata(path, artifact.metadata)
    return artifact
