"""Detection on the digits canvas: a YOLO trained by Ultralytics, pruned to 0.5x MACs by edgeprune and by plain
torch-pruning (uniform, equal MACs), both fine-tuned with the same epochs, given back to Ultralytics, exported
and timed.

Steps (each result is kept in ``--out``, so a rerun continues where it stopped):

1. ``detect-digits:SIZE`` written in Ultralytics' layout (train / select as its ``val`` / validation as ``test``).
2. Ultralytics trains ``ARCH`` from its yaml (``YOLO(ARCH.yaml).train``: its own recipe and augmentation,
   ``fliplr=0`` because mirrored digits are other digits), choosing ``best.pt`` on the select split.
3. The user's round trip: ``best.pt`` read through ``read_ultralytics_checkpoint(..., allow_pickle=True)`` (our
   own file, Ultralytics' restricted loader) into safetensors, loaded by edgeprune as ``ultralytics:ARCH.yaml``.
4. edgeprune prunes to 0.5x MACs (``prune.method``, ``round_to`` 8, BatchNorm re-estimated on train samples)
   and fine-tunes ``--finetune-epochs`` epochs (Ultralytics' loss through the task, distillation from the
   unpruned model, best epoch on select).
5. torch-pruning 1.6.1 as users run it today: ``MagnitudePruner`` (L2, uniform ratio, its default ``round_to`` None: at
   ``round_to`` 8 one ratio step jumped from above edgeprune's 0.497x MACs to 0.388x; the
   head's output convs and DFL ignored) on the model with Ultralytics' ``C2f``/``C3k2`` rewritten to two convs
   (torch-pruning maps indices wrongly through their ``chunk`` + ``cat``: IndexError on yolov8n here) and the
   attention block (``C2PSA``) left alone; the ratio bisected to edgeprune's MACs; the same fine-tuning.
6. Both pruned models written as Ultralytics checkpoints and scored by ``YOLO(path).val(split="test")``.
7. ONNX and TFLite fp32 and int8 of the unpruned and edgeprune-pruned models (parity on the raw head outputs,
   int8 judged by its mAP and box agreement), timed interleaved in one runner process on ONNX Runtime and LiteRT.
8. Vela's estimate of both int8 files on an Ethos-U55-128 and an Ethos-U65-256 (its default system configurations).

Writes ``OUT/results.json``; ``--report`` prints the table from it.
Usage: PYTHONPATH=src python benchmarks/detection.py [--arch yolov8n] [--size 96] [--epochs 30]
       [--finetune-epochs 10] [--out build/detection]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
BUDGET = 0.5
ROUND_TO = 8


def _log(text: str) -> None:
    print(f"[detection] {text}", flush=True)


class Results:
    """``results.json``: one entry per finished step (a rerun skips those)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def done(self, key: str) -> bool:
        return key in self.data

    def put(self, key: str, value: Any) -> None:
        from edgeprune.atomic import write_json

        self.data[key] = value
        write_json(self.path, self.data)


# -- torch-pruning as users run it ----------------------------------------------------------------------------
def _conv_rows(conv: nn.Module, lo: int, hi: int) -> nn.Module:
    """An Ultralytics ``Conv`` (conv + bn + act) keeping output channels ``lo:hi``."""
    part = copy.deepcopy(conv)
    c, bn = part.conv, part.bn
    c.weight = nn.Parameter(c.weight.data[lo:hi].clone())
    c.out_channels = hi - lo
    bn.weight, bn.bias = nn.Parameter(bn.weight.data[lo:hi].clone()), nn.Parameter(bn.bias.data[lo:hi].clone())
    bn.running_mean, bn.running_var = bn.running_mean[lo:hi].clone(), bn.running_var[lo:hi].clone()
    bn.num_features = hi - lo
    return part


class TwoConvC2f(nn.Module):
    """Ultralytics' ``C2f`` (and ``C3k2``) with its ``cv1`` + ``chunk(2)`` written as two convs: the rewrite
    torch-pruning users apply before pruning a YOLO (the same outputs, no chunk for torch-pruning to map)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        c = block.c
        self.cv0, self.cv1 = _conv_rows(block.cv1, 0, c), _conv_rows(block.cv1, c, 2 * c)
        self.cv2, self.m = block.cv2, block.m
        for key in ("f", "i", "type", "np"):
            setattr(self, key, getattr(block, key))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv0(x), self.cv1(x)]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


def rewrite_for_torch_pruning(model: nn.Module) -> None:
    """Swap every ``C2f``/``C3k2`` layer of the export form's layer list for :class:`TwoConvC2f` (in place)."""
    for index, layer in enumerate(model.model):
        if type(layer).__name__ in ("C2f", "C3k2"):
            model.model[index] = TwoConvC2f(layer)


def torch_pruning_uniform(model: nn.Module, example: torch.Tensor, macs_target: float) -> tuple[nn.Module, float]:
    """torch-pruning's uniform L2 cut whose MACs (edgeprune's counter) land at or under ``macs_target``
    (a fraction of the unpruned model's), as close to it as the ratios 0.10, 0.11, ... reach; each try on a fresh
    copy."""
    import torch_pruning as tp

    from edgeprune.prune import count_macs_params

    base = count_macs_params(model, example)[0]

    def cut(ratio: float) -> tuple[nn.Module, float]:
        work = copy.deepcopy(model).eval()
        rewrite_for_torch_pruning(work)
        head = work.head
        ignored = [head.cv2[i][2] for i in range(head.nl)] + [head.cv3[i][2] for i in range(head.nl)] + [head.dfl]
        ignored += [m for m in work.model if type(m).__name__ == "C2PSA"]
        pruner = tp.pruner.MagnitudePruner(
            work, example, importance=tp.importance.MagnitudeImportance(p=2), pruning_ratio=ratio,
            ignored_layers=ignored, round_to=None,  # torch-pruning's default: MACs move smoothly with the ratio
        )  # fmt: skip
        pruner.step()
        return work, count_macs_params(work, example)[0] / base

    best: tuple[nn.Module, float] | None = None
    for step in range(10, 80):  # ratios 0.10 .. 0.79: MACs move in round_to steps, not smoothly
        work, fraction = cut(step / 100)
        if fraction <= macs_target and (best is None or fraction > best[1]):
            best = (work, fraction)
        if fraction < macs_target - 0.1:
            break
    if best is None:
        raise RuntimeError(f"torch-pruning could not reach {macs_target:.3f}x MACs")
    return best


# -- steps ----------------------------------------------------------------------------------------------------
def ultralytics_train(yaml: Path, arch: str, size: int, epochs: int, out: Path) -> Path:
    """Ultralytics trains ``arch`` on the digits; returns ``best.pt`` (chosen on the select split)."""
    from ultralytics import YOLO

    run = out.resolve() / "ultralytics"  # absolute: Ultralytics puts a relative project under runs/detect/
    best = run / "train" / "weights" / "best.pt"
    if best.exists():
        return best
    YOLO(f"{arch}.yaml").train(
        data=str(yaml), imgsz=size, epochs=epochs, batch=32, workers=0, device="cpu", seed=SEED, deterministic=True,
        plots=False, fliplr=0.0, project=str(run), name="train", exist_ok=True, amp=False, verbose=False,
    )  # fmt: skip
    return best


def ultralytics_val(weights: Path, yaml: Path, size: int) -> dict[str, float]:
    """Ultralytics' own ``val`` on the validation split (its ``test``): mAP50-95 and mAP50 in points, on the
    images as they are (``rect=False``) and with its default rectangular batches, which pad every SIZE-pixel
    canvas by half a stride (96 -> 128 with gray borders: another input than the model is deployed with)."""
    from ultralytics import YOLO

    found = {}
    for rect in (False, True):
        metrics = YOLO(str(weights)).val(
            data=str(yaml), split="test", imgsz=size, batch=32, device="cpu", plots=False, verbose=False, workers=0,
            rect=rect,
        )  # fmt: skip
        suffix = "_rect" if rect else ""
        found[f"map50_95{suffix}"] = float(metrics.box.map) * 100
        found[f"map50{suffix}"] = float(metrics.box.map50) * 100
    return found


def edgeprune_scores(model: nn.Module, data: Any, task: Any) -> dict[str, float]:
    from edgeprune.data import batches
    from edgeprune.task import score_batches

    return {"map50_95": score_batches(model, batches(data.val, 64), task).metric}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="yolov8n")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=30, help="Ultralytics training epochs of the unpruned model")
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--method", default="uniform", help="edgeprune prune.method")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "build" / "detection"))
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = Results(out / "results.json")
    if args.report:
        print(json.dumps(results.data, indent=1))
        return 0
    run(args, out, results)
    return 0


def run(args: argparse.Namespace, out: Path, results: Results) -> None:
    from edgeprune.baseline import load_baseline
    from edgeprune.config import FinetuneConfig, PruneConfig
    from edgeprune.data import calibration_samples, load_data
    from edgeprune.data.detection import write_ultralytics
    from edgeprune.finetune import fit
    from edgeprune.models import ModelSpec, build_model, save_weights
    from edgeprune.models.detectors import read_ultralytics_checkpoint, save_for_ultralytics
    from edgeprune.pipeline.strategies import Request, prune_to_budget
    from edgeprune.prune import count_macs_params, save_pruned
    from edgeprune.prune.recalibrate import recalibrate_bn
    from edgeprune.task import TaskSpec, resolve_task

    start = time.perf_counter()
    spec = f"ultralytics:{args.arch}.yaml"
    data = load_data(f"detect-digits:{args.size}")
    task = resolve_task(TaskSpec(kind="detection"))
    yaml = out / "dataset" / "data.yaml"
    if not yaml.exists():
        write_ultralytics(data, out / "dataset")
    results.put("setup", {"arch": args.arch, "data": data.describe(), "seed": SEED, "budget": BUDGET,
                          "round_to": ROUND_TO, "epochs": args.epochs, "finetune_epochs": args.finetune_epochs,
                          "method": args.method})  # fmt: skip

    best = ultralytics_train(yaml, args.arch, args.size, args.epochs, out)
    if "epochs" not in results.data.get("train", {}):
        rows = (best.parents[1] / "results.csv").read_text().strip().splitlines()
        header, last = rows[0].split(","), rows[-1].split(",")
        results.put("train", {"seconds": float(last[header.index("time")]), "epochs": int(float(last[0])),
                              "best_pt": str(best)})  # fmt: skip
    weights = out / "baseline.safetensors"
    if not weights.exists():
        model = build_model(ModelSpec(spec, num_classes=10, in_channels=3))
        model.load_state_dict(read_ultralytics_checkpoint(best, allow_pickle=True))
        save_weights(model, weights)
    baseline = load_baseline(spec, data, task, str(weights), log=False)
    example = data.example()
    base_macs, base_params = count_macs_params(baseline.model, example)
    if not results.done("baseline"):
        results.put("baseline", {"macs": base_macs, "params": base_params,
                                 "edgeprune": edgeprune_scores(baseline.model, data, task),
                                 "ultralytics": ultralytics_val(best, yaml, args.size)})  # fmt: skip
    _log(f"baseline {results.data['baseline']}")

    recipe = FinetuneConfig(epochs=args.finetune_epochs, lr=1e-3, batch_size=32, distill=True, alpha=0.5,
                            temperature=1.0, seed=SEED)  # fmt: skip
    prune_cfg = PruneConfig(macs=BUDGET, method=args.method, round_to=ROUND_TO, recalibrate=256)
    pruned_path = out / "edgeprune_pruned"
    if not results.done("edgeprune"):
        t = time.perf_counter()
        request = Request(baseline.model, example, baseline.spec.to_dict(), prune_cfg, data, task, "detection")
        planned = prune_to_budget(request, recipe)
        macs = count_macs_params(planned.model, example)[0]
        before = edgeprune_scores(planned.model, data, task)
        plan_s = time.perf_counter() - t
        fitted = fit(planned.model, data, recipe, teacher=copy.deepcopy(baseline.model), task=task)
        save_pruned(pruned_path, planned.model, planned.plan)
        pt = save_for_ultralytics(planned.model, out / "edgeprune_pruned.pt", names={i: str(i) for i in range(10)},
                                  imgsz=args.size)  # fmt: skip
        after = edgeprune_scores(planned.model, data, task)
        results.put("edgeprune", {
            "macs": macs, "macs_fraction": macs / base_macs, "plan_s": round(plan_s, 1), "before_finetune": before,
            "edgeprune": after, "ultralytics": ultralytics_val(pt, yaml, args.size),
            "best_epoch": fitted.best_epoch, "history": fitted.history, "seconds": round(time.perf_counter() - t, 1),
        })  # fmt: skip
    _log(f"edgeprune {results.data['edgeprune']['edgeprune']} ultralytics {results.data['edgeprune']['ultralytics']}")

    if not results.done("torch_pruning"):
        t = time.perf_counter()
        tp_model, fraction = torch_pruning_uniform(baseline.model, example, results.data["edgeprune"]["macs_fraction"])
        recalibrate_bn(tp_model, calibration_samples(data, 256))
        before = edgeprune_scores(tp_model, data, task)
        fitted = fit(tp_model, data, recipe, teacher=copy.deepcopy(baseline.model), task=task)
        results.put("torch_pruning", {
            "macs_fraction": fraction, "before_finetune": before, "edgeprune": edgeprune_scores(tp_model, data, task),
            "best_epoch": fitted.best_epoch, "history": fitted.history, "seconds": round(time.perf_counter() - t, 1),
        })  # fmt: skip
    _log(f"torch-pruning {results.data['torch_pruning']['edgeprune']}")
    if not results.done("export"):
        from edgeprune.prune import load_pruned

        pruned, _ = load_pruned(pruned_path)
        results.put("export", export_and_time(baseline.model, pruned, data, task, out / "artifacts"))
    for row in results.data["export"]["artifacts"]:
        _log(f"{row['name']}: {row['size_kb']:.0f} KB, rel. err {row['rel_err']:.1e}, val mAP50-95"
             f" {row['map50_95']:.2f}, p50 {row['p50_ms']:.2f} ms, {row['speedup']:.2f}x")  # fmt: skip
    if not results.done("npu"):
        results.put("npu", npu_estimates(out / "artifacts"))
    for row in results.data["npu"]:
        _log(f"{row['accelerator']} {row['role']}: {row['ms']:.3f} ms (Vela), SRAM {row['sram_kib']:.1f} KiB,"
             f" {row['cpu_ops']} operator(s) left on the CPU, {row['speedup']:.2f}x")  # fmt: skip
    results.put("wall_s", round(time.perf_counter() - start, 1))


NPUS = ("ethos-u55-128", "ethos-u65-256")  # Vela's default system configuration for each (targets/ethos-u*.toml)


def npu_estimates(folder: Path) -> list[dict[str, Any]]:
    """Vela's estimate of the unpruned and pruned int8 files on each of ``NPUS``: time, SRAM, storage, and the
    operators Vela leaves on the CPU (with its reasons)."""
    from edgeprune.config import NpuConfig
    from edgeprune.embedded.vela import compile_for_npu

    rows = []
    for accelerator in NPUS:
        found = {}
        for role in ("baseline", "pruned"):
            found[role] = compile_for_npu(folder / f"{role}_int8.tflite", NpuConfig(accelerator=accelerator))
        for role, est in found.items():
            rows.append({
                "accelerator": accelerator, "role": role, "ms": est.inference_ms, "cycles": est.cycles,
                "sram_kib": est.sram_kib, "storage_kib": est.storage_bytes / 1024, "cpu_ops": len(est.cpu_ops),
                "cpu_reasons": sorted({f"{op.operator}: {op.reason}" for op in est.cpu_ops})[:5],
                "speedup": found["baseline"].inference_ms / est.inference_ms,
            })  # fmt: skip
    return rows


def export_and_time(unpruned: nn.Module, pruned: nn.Module, data: Any, task: Any, folder: Path) -> dict[str, Any]:
    """ONNX fp32 and TFLite fp32 + int8 of both models, each verified (parity on every raw head output; int8 by
    box agreement) and scored on validation; then every file of a runtime timed interleaved in one runner
    process (1 thread, 10 warm-up, 100 runs); speedups against the unpruned file of the same format and precision."""
    from edgeprune.bench.harness import Protocol
    from edgeprune.bench.measurement import time_together
    from edgeprune.config import ExportConfig
    from edgeprune.errors import ParityError
    from edgeprune.export import export_verified

    folder.mkdir(parents=True, exist_ok=True)
    records, refused = {}, []
    for role, model in (("baseline", unpruned), ("pruned", pruned)):
        for fmt, precision in (("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "int8")):
            cfg = ExportConfig(format=fmt, precision=precision, calibration_samples=200)
            try:
                _, record = export_verified(role, model, folder, cfg, precision, data, task, force=True)
            except ParityError as exc:  # the check refused the file: recorded, the rest goes on
                refused.append(str(exc))
                continue
            records[(role, fmt, precision)] = record
    rows = []
    for runtime, fmt in (("onnxruntime", "onnx"), ("litert", "tflite")):
        chosen = [r for k, r in records.items() if k[1] == fmt]
        measured = time_together([r.path for r in chosen], Protocol(runtime, 1, 10, 100))
        for (role, f, precision), r in records.items():
            twin = records.get(("baseline", f, precision))
            if f != fmt or twin is None:
                continue
            p50 = measured.latency[r.path].p50
            rows.append({
                "name": Path(r.path).name, "role": role, "format": f, "precision": precision, "runtime": runtime,
                "size_kb": r.size_bytes / 1024, "rel_err": r.parity.rel_err, "int8": r.int8, "map50_95": r.metric,
                "p50_ms": p50, "speedup": measured.latency[twin.path].p50 / p50,
            })  # fmt: skip
    return {"artifacts": rows, "refused": refused}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
