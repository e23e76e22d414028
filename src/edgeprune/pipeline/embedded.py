"""Deploy's embedded step: every int8 artifact run on TFLM against LiteRT, then compiled by Vela for the NPU.

An artifact TFLM refuses stops the deploy with one line naming the operator and TFLM's reason (the staging folder
is discarded, so it is never shipped); the ``*_vela.tflite`` of each int8 artifact is written beside it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edgeprune.config import Target
from edgeprune.data import Data, take
from edgeprune.embedded.records import EmbeddedArtifact, EmbeddedFigures
from edgeprune.embedded.vela import check_npu_config, compile_for_npu
from edgeprune.embedded.verify import check_on_tflm
from edgeprune.errors import ConfigError
from edgeprune.export import VerifiedArtifact
from edgeprune.export.metadata import read_metadata
from edgeprune.task import Task


def check_embedded(target: Target) -> None:
    """Refuse what Vela's configuration file does not define, and what a memory budget cannot be combined with,
    before any work starts."""
    check_npu_config(target.npu)
    memory = target.prune.memory
    if memory is not None and target.prune.max_drop is not None:
        raise ConfigError(f"prune.{memory[0]} and prune.max_drop are two budgets; keep one")
    if memory is not None and target.prune.when == "before":
        raise ConfigError(f"prune.when 'before' budgets MACs only; prune.{memory[0]} prunes after training")


def budget_notes(target: Target, figures: EmbeddedFigures) -> list[str]:
    """A note when the shipped pruned artifact is over the memory budget its plan met (re-exported after
    fine-tuning, its quantization is calibrated anew)."""
    memory = target.prune.memory
    pruned = figures.of("pruned")
    if memory is None or pruned is None:
        return []
    field, kib = memory
    values = {
        "arena_kib": pruned.tflm.arena_kib if pruned.tflm else None,
        "sram_kib": pruned.npu.sram_kib if pruned.npu else None,
        "flash_kib": pruned.npu.flash_kib if pruned.npu else (pruned.tflm.model_bytes / 1024 if pruned.tflm else None),
    }
    shipped = values.get(field)
    if shipped is None or shipped <= kib:
        return []
    return [f"the shipped {pruned.name} measures {shipped:.1f} KiB against prune.{field} = {kib:g} KiB"]


def _log(msg: str) -> None:
    print(f"[edgeprune] {msg}", flush=True)


def embedded_artifact(
    record: VerifiedArtifact, macs: int, target: Target, data: Data, task: Task, out_dir: Path, final: Path
) -> EmbeddedArtifact:
    """TFLM's check (when ``tflm.verify``) and Vela's compilation (when ``npu.accelerator``) of one int8 file;
    the compiled file is written to ``out_dir`` and recorded under ``final`` (where the deploy publishes it)."""
    path = Path(record.path)
    layout = str(read_metadata(path).get("input_layout", "NCHW"))
    tflm = None
    if target.tflm.verify:
        x, y = take(data.val, target.tflm.samples)
        tflm = check_on_tflm(path, x, y if task.classification else None, target.tflm, task, layout)
        _log(f"{path.name} on TFLM: top-1 agreement with LiteRT {tflm.top1_agreement:.1f}% over {tflm.samples}"
             f" samples (largest int8 difference {tflm.max_abs_diff}), arena {tflm.arena_bytes:,} bytes")  # fmt: skip
    npu = None
    if target.npu.enabled:
        npu = compile_for_npu(path, target.npu, out_dir)
        npu = dataclasses.replace(npu, compiled=str(final / Path(npu.compiled).name))
        _log(f"{path.name} on {npu.accelerator} (Vela): {npu.inference_ms:.3f} ms, SRAM {npu.sram_kib:.1f} KiB,"
             f" {npu.storage} {npu.flash_kib:.1f} KiB, {len(npu.cpu_ops)} operator(s) on the CPU")  # fmt: skip
    return EmbeddedArtifact(path.name, record.role, macs, tflm, npu)


def embedded_figures(
    records: list[tuple[VerifiedArtifact, int]], target: Target, data: Data, task: Task, out_dir: Path, final: Path
) -> EmbeddedFigures:
    """Every int8 record (with its model's MACs) through TFLM and Vela; the compiled files land in ``out_dir``."""
    artifacts = [
        embedded_artifact(r, macs, target, data, task, out_dir, final) for r, macs in records if r.precision == "int8"
    ]
    folded = None
    if records:
        quantization = read_metadata(records[0][0].path).get("quantization") or {}
        folded = quantization.get("raw_to_input")
    npu = next((a.npu for a in artifacts if a.npu is not None), None)
    return EmbeddedFigures(
        accelerator=npu.accelerator if npu else "",
        system_config=npu.system_config if npu else "",
        memory_mode=npu.memory_mode if npu else "",
        artifacts=artifacts,
        input=folded,
    )
