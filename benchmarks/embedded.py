"""Embedded targets: pruning planned on Vela's cycles and TFLM's arena against MACs planning and uniform pruning.

For each model (the trained default on mnist5k; edgeprune:resnet8 3x32x32, edgeprune:dscnn 1x49x10,
edgeprune:mobilenet_v1_025 3x96x96 and torchvision mobilenet_v2 width 0.35 at 3x96x96 through
examples/embedded/mobilenet_v2_035.py, with seeded random weights made
non-degenerate by edgeprune.models.init.make_non_degenerate, on synthetic data) and each Ethos-U
configuration (ethos-u55-128 and ethos-u65-256 with Vela's defaults for them, as targets/ethos-u55.toml and
ethos-u65.toml state):

  latency-planned   pipeline.device_budget.prune_on_npu at a 2x speedup on Vela's estimate, round_to 8, no scan
                    (damage: the capacity a cut removes, edgeprune.embedded.damage)
  latency-planned-scan  the trained default only, on the U55: the same with its sensitivity scan as damage (what
                    targets/ethos-u55.toml does: accuracy first, MACs be what they may)
  macs-planned      the allocator with the MACs cost at 0.5x MACs, round_to 8 (no-scan magnitude damage, as the
                    latency planner's on the CPU)
  uniform-r8/r16    one magnitude ratio for every group, bisected to 0.5x MACs
  compute-keeping   (Vela estimate only, not exported) how many MACs a 2x plan must remove at least, read from the
                    same probe tables: from the unpruned widths, one round_to-8 step at a time, the step that saves
                    the most predicted cycles per MAC removed (accuracy ignored) until the tables predict 2x; that
                    plan compiled by Vela. A greedy search, not a proof; the latency planner is judged against it.

and, on the default model and mobilenet_v2-0.35, an arena budget of 0.5x the unpruned TFLM arena
(pipeline.device_budget.prune_to_memory, round_to 4), on the default model fine-tuned next to a MACs-planned model
of equal MACs (same recipe: --epochs of distillation from the unpruned model, seed 0; validation top-1).

Every variant is exported as the embedded targets ship it (full-integer int8 with int8 I/O, calibrated on 200 select
samples, verified against the torch model on validation), run on TFLM against LiteRT on --tflm-samples validation
samples (top-1 agreement, largest int8 difference, TFLM's arena) and compiled by Vela for each configuration
(estimated ms, SRAM, flash). Vela's estimate is deterministic: one compile per file, no timing noise.

    PYTHONPATH=src python benchmarks/embedded.py                       # all five models (about 30 min on 2 cores)
    PYTHONPATH=src python benchmarks/embedded.py --models default,dscnn --epochs 1

Writes build/bench/embedded.json (partial results as it goes) and build/bench/embedded.md (the README tables).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.atomic import read_json, write_json, write_text
from edgeprune.config import FinetuneConfig, NpuConfig, PruneConfig, Target
from edgeprune.data import Data, load_data, take
from edgeprune.embedded.compile import PlanCompiler
from edgeprune.embedded.planner import probe_tables
from edgeprune.embedded.vela import compile_for_npu
from edgeprune.embedded.verify import check_on_tflm
from edgeprune.errors import EdgepruneError, run_script
from edgeprune.export import export_model
from edgeprune.export.quantize import quantize_tflite
from edgeprune.export.tflite import convert_float
from edgeprune.latency.noscan import magnitude_sensitivity
from edgeprune.latency.units import find_units, prunable_groups
from edgeprune.models import ModelSpec, build_model
from edgeprune.pipeline.device_budget import prune_on_npu, prune_to_memory
from edgeprune.pipeline.strategies import Request
from edgeprune.pipeline.targets import load_target
from edgeprune.planning.budget import allocate_to_budget, plan_to_budget
from edgeprune.planning.costmodel import CostModel
from edgeprune.planning.options import PlanOptions
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting
from edgeprune.prune import Plan, apply_plan, count_macs_params, make_plan
from edgeprune.task import CLASSIFICATION
from edgeprune.versions import versions

OUT = Path("build/bench")
SCHEMA = "edgeprune.bench.embedded/1"
SEED = 0
SPEEDUP = 2.0
MACS = 0.5
ARENA = 0.5
ROOT = Path(__file__).resolve().parents[1]
NPU_TARGETS = ("ethos-u55", "ethos-u65")


@dataclass(frozen=True)
class Arch:
    name: str
    spec: str
    data: str
    in_channels: int
    trained: bool = False
    arena: bool = False


ARCHS = {
    a.name: a
    for a in (
        Arch("default", "edgeprune:default", "mnist5k", 1, trained=True, arena=True),
        Arch("resnet8", "edgeprune:resnet8", "synthetic:3x32x32", 3),
        Arch("dscnn", "edgeprune:dscnn", "synthetic:1x49x10", 1),
        Arch("mobilenet_v1_025", "edgeprune:mobilenet_v1_025", "synthetic:3x96x96", 3),
        Arch(
            "mobilenet_v2_035",
            str(ROOT / "examples/embedded/mobilenet_v2_035.py") + ":make",
            "synthetic:3x96x96",
            3,
            arena=True,
        ),
    )
}


@dataclass
class Variant:
    name: str
    model: nn.Module
    plan: Plan | None
    macs: int
    details: dict[str, Any]


def _log(msg: str) -> None:
    print(f"[embedded] {msg}", flush=True)


def baseline(arch: Arch, data: Data) -> nn.Module:
    if arch.trained:
        from edgeprune.baseline import load_baseline

        return load_baseline(arch.spec, data, CLASSIFICATION).model.eval()
    from edgeprune.models.init import make_non_degenerate

    torch.manual_seed(SEED)
    model = build_model(ModelSpec(arch.spec, num_classes=data.num_classes, in_channels=arch.in_channels))
    # seeded random weights with every norm and constant random (statistics measured on the data's inputs): with
    # the default init, mobilenet_v1_025's logits hardly depended on the input and every int8 file failed its
    # agreement check (0% top-1 agreement with fp32); cycles and memory do not depend on the values
    make_non_degenerate(model, SEED, data.example())
    return model.eval()


def compute_keeping(model: nn.Module, data: Data, npu: NpuConfig, round_to: int = 8, max_ratio: float = 0.9) -> dict:
    """The greedy cycles-per-MAC plan at the speedup budget on the probe tables, and Vela's estimate of it."""
    example = data.example()
    calibration, _ = take(data.select, 32)
    groups = prunable_groups(model, example, [])
    units = find_units(model, example, groups)
    compiler = PlanCompiler(model, example, calibration, units, False)
    try:
        cm, base, _ = probe_tables(model, example, compiler, npu, units, groups, round_to, max_ratio)
        macs = CostModel(model, example, [(g.root, g.members, g.consumers) for g in groups])
        widths = dict(cm.widths)
        counts = dict(widths)
        floors = {r: max(1, round(w * (1.0 - max_ratio))) for r, w in widths.items()}

        def cycles(c: dict[str, int]) -> float:
            return cm.predict(c) / cm.full_cycles

        def kept(c: dict[str, int]) -> float:
            return macs.fraction({r: c[r] / widths[r] for r in c}, ())

        while cycles(counts) > 1.0 / SPEEDUP:
            steps = []
            for root, count in counts.items():
                if count - round_to >= floors[root]:
                    step = {**counts, root: count - round_to}
                    saved = cycles(counts) - cycles(step)
                    steps.append((saved / max(kept(counts) - kept(step), 1e-9), root, step))
            if not steps:
                break
            counts = max(steps, key=lambda s: (s[0], s[1]))[2]
        ratios = {r: 1.0 - c / widths[r] for r, c in counts.items() if c < widths[r]}
        plan = make_plan(model, example, ratios, importance="l2", round_to=round_to, max_ratio=max_ratio)
        estimate = compiler.estimate(plan, npu)
    finally:
        compiler.close()
    pruned_macs = count_macs_params(apply_plan(copy.deepcopy(model), plan, example), example)[0]
    speedup = base.inference_ms / estimate.inference_ms
    reduction = count_macs_params(model, example)[0] / pruned_macs
    return {"predicted_speedup": round(1.0 / cycles(counts), 4), "speedup": round(speedup, 4),
            "macs_reduction": round(reduction, 4), "speedup_per_macs": round(speedup / reduction, 4)}  # fmt: skip


def request(model: nn.Module, data: Data, arch: Arch, cfg: PruneConfig) -> Request:
    spec = {"spec": arch.spec, "num_classes": data.num_classes, "in_channels": arch.in_channels}
    return Request(model, data.example(), spec, cfg, data, CLASSIFICATION, "classification")


def uniform_variant(model: nn.Module, example: torch.Tensor, round_to: int) -> Variant | str:
    """One magnitude ratio for every group bisected to ``MACS``; a message when ``round_to`` cannot get there (a
    16-wide group at round_to 16 cannot shrink)."""
    base, _ = count_macs_params(model, example)

    def prune_at(ratio: float) -> tuple[tuple[nn.Module, Plan], int]:
        pruned, plan, macs = prune_uniform(model, example, ratio, "magnitude", round_to)
        return (pruned, plan), macs

    try:
        ratio, (pruned, plan), macs = smallest_ratio_meeting(prune_at, int(MACS * base), tol=0.005)
    except EdgepruneError as exc:
        return f"unreachable: {str(exc).split(';')[0]}"
    return Variant(f"uniform-r{round_to}", pruned, plan, macs, {"ratio": round(ratio, 4)})


def macs_variant(model: nn.Module, req: Request, sens: Any, objective: str, budget: float = MACS) -> Variant:
    """The allocator on the MACs cost (no fill), with the given damage curves."""
    opts = PlanOptions(budget=budget, kind="macs", round_to=8, use_blocks=False)
    planned = allocate_to_budget(model, req.example, sens, opts, objective, "magnitude")
    return Variant("macs-planned", planned.model, planned.plan, planned.macs, {"budget": budget})


def npu_target(name: str, cfg: PruneConfig) -> Target:
    return dataclasses.replace(load_target(name), prune=cfg)


def exported(model: nn.Module, data: Data, folder: Path, name: str, trained: bool) -> Path:
    """The variant as the embedded targets ship it: int8 in and out. A trained model goes through export_model
    (verified against the torch model: int8 accuracy and top-1 agreement with fp32). On random weights no decision
    means anything (that gate refused 30% top-1 flips of mobilenet_v2-0.35), so the same converter and quantizer
    write the file unverified and only the device check (TFLM against LiteRT, in ``measure``) judges it."""
    calibration, _ = take(data.select, 200)
    path = folder / f"{name}.tflite"
    if not trained:
        raw, _ = quantize_tflite(convert_float(model.eval(), data.example()), "int8", calibration.numpy(), "int8")
        path.write_bytes(raw)
        return path
    samples, labels = take(data.val, 500)
    artifact = export_model(
        model.eval(), data.example(), path, "tflite", "int8", samples=samples, labels=labels,
        calibration=calibration, io_dtype="int8", preprocessing=data.preprocessing.to_dict(), force=True,
    )  # fmt: skip
    return artifact.path


def measure(path: Path, data: Data, npus: dict[str, NpuConfig], samples: int) -> dict[str, Any]:
    """TFLM against LiteRT (agreement, arena) and Vela on every NPU configuration."""
    x, y = take(data.val, samples)
    tflm = check_on_tflm(path, x, y, load_target("tflm").tflm)
    out: dict[str, Any] = {
        "tflm": {
            "top1_agreement": tflm.top1_agreement,
            "identical": tflm.identical,
            "max_abs_diff": tflm.max_abs_diff,
            "arena_bytes": tflm.arena_bytes,
            "metric": tflm.metric,
            "samples": tflm.samples,
        },
        "model_bytes": tflm.model_bytes,
    }
    for target, npu in npus.items():
        est = compile_for_npu(path, npu)
        out[target] = {"ms": est.inference_ms, "cycles": est.cycles, "sram_bytes": est.sram_bytes,
                       "flash_bytes": est.storage_bytes, "cpu_ops": len(est.cpu_ops)}  # fmt: skip
    return out


def fine_tuned(model: nn.Module, teacher: nn.Module, data: Data, epochs: int) -> tuple[nn.Module, float]:
    """A copy fine-tuned with distillation from ``teacher`` (seed 0) and its validation top-1."""
    from edgeprune.finetune import fit
    from edgeprune.task import evaluate

    tuned = copy.deepcopy(model)
    fit(tuned, data, FinetuneConfig(epochs=epochs, seed=SEED, distill=True), teacher=copy.deepcopy(teacher))
    return tuned.eval(), float(evaluate(tuned, data.val)[0])


def run_arch(arch: Arch, args: argparse.Namespace, results: dict[str, Any], path: Path) -> None:
    data = load_data(arch.data)
    model = baseline(arch, data)
    example = data.example()
    base_macs, _ = count_macs_params(model, example)
    npus = {t: load_target(t).npu for t in NPU_TARGETS}
    scan = None
    if arch.trained:  # the arena comparison plans on the scan at round_to 4
        scan = request(model, data, arch, PruneConfig(method="sensitivity", round_to=4)).scan()
    entry: dict[str, Any] = {"spec": arch.spec, "data": arch.data, "macs": base_macs, "trained": arch.trained,
                             "variants": {}}  # fmt: skip
    results["models"][arch.name] = entry
    variants: list[Variant] = [Variant("unpruned", model, None, base_macs, {})]
    start = time.perf_counter()
    runs = [(t, "uniform", "latency-planned") for t in NPU_TARGETS]
    if arch.trained:
        runs.append((NPU_TARGETS[0], "sensitivity", "latency-planned-scan"))
    for target, method, label in runs:
        cfg = PruneConfig(speedup=SPEEDUP, round_to=8, method=method)
        planned = prune_on_npu(request(model, data, arch, cfg), npu_target(target, cfg))
        lat = planned.details["latency"]
        kept = {k: lat[k] for k in ("probes", "converted", "table_error", "attempts", "damage")}
        variants.append(Variant(f"{label}@{target}", planned.model, planned.plan, planned.macs, kept))
        _log(f"{arch.name} {label} on {target}: {lat['measured_speedup']:.3f}x on Vela,"
             f" {base_macs / planned.macs:.2f}x fewer MACs, {len(lat['attempts'])} attempt(s)")  # fmt: skip
    entry["planning_s"] = round(time.perf_counter() - start, 1)
    entry["compute_keeping"] = {t: compute_keeping(model, data, npus[t]) for t in NPU_TARGETS}
    req = request(model, data, arch, PruneConfig(macs=MACS, round_to=8))
    variants.append(macs_variant(model, req, magnitude_sensitivity(model, example, "l2", 8), "estimate"))
    for round_to in (8, 16):
        uniform = uniform_variant(model, example, round_to)
        if isinstance(uniform, str):
            entry["variants"][f"uniform-r{round_to}"] = {"error": uniform}
            _log(f"{arch.name} uniform-r{round_to}: {uniform}")
        else:
            variants.append(uniform)
    if arch.arena:
        sens = scan or magnitude_sensitivity(model, example, "l2", 4)
        variants += arena_variants(arch, model, data, sens, "metric" if scan is not None else "estimate", args, entry)
    with tempfile.TemporaryDirectory(prefix="edgeprune-embedded-bench-") as tmp:
        for v in variants:
            try:
                file = exported(v.model, data, Path(tmp), v.name.replace("@", "_"), arch.trained)
            except EdgepruneError as exc:  # recorded: an artifact that fails its int8 check is not measured
                entry["variants"][v.name] = {"macs": v.macs, "error": str(exc)}
                _log(f"{arch.name} {v.name}: not shipped: {exc}")
                continue
            figures = measure(file, data, npus, args.tflm_samples)
            entry["variants"][v.name] = {"macs": v.macs, "macs_reduction": round(base_macs / v.macs, 4),
                                         **v.details, **figures}  # fmt: skip
            write_json(path, results)
            _log(f"{arch.name} {v.name}: {v.macs:,} MACs; TFLM agreement {figures['tflm']['top1_agreement']:.1f}%,"
                 f" arena {figures['tflm']['arena_bytes']:,} B; " + ", ".join(
                     f"{t} {figures[t]['ms']:.4f} ms" for t in NPU_TARGETS))  # fmt: skip
    derive(entry)
    entry["done"] = True
    write_json(path, results)


def arena_variants(
    arch: Arch, model: nn.Module, data: Data, sens: Any, objective: str, args: argparse.Namespace,
    entry: dict[str, Any],
) -> list[Variant]:  # fmt: skip
    """The arena budget (0.5x of the unpruned arena, TFLM-measured) and, on the trained default, a MACs-planned model
    of equal MACs; both fine-tuned alike when the model is trained."""
    target = load_target("tflm")
    method = "sensitivity" if arch.trained else "uniform"
    probe = request(model, data, arch, PruneConfig(arena_kib=1.0, round_to=4, method=method))
    from edgeprune.embedded.compile import PlanCompiler
    from edgeprune.embedded.tflm import run_tflm

    compiler = PlanCompiler(model, data.example(), take(data.select, 32)[0])
    base_arena = run_tflm(compiler.converted(None), _zeros(data)).arena_bytes
    compiler.close()
    cfg = PruneConfig(arena_kib=ARENA * base_arena / 1024, round_to=4, method=method)
    planned = prune_to_memory(dataclasses.replace(probe, cfg=cfg), dataclasses.replace(target, prune=cfg))
    mem = planned.details["memory"]
    out = [Variant("arena-planned", planned.model, planned.plan, planned.macs,
                   {"arena_budget_bytes": round(ARENA * base_arena), "planned_arena_kib": mem["measured_kib"],
                    "attempts": len(mem["attempts"])})]  # fmt: skip
    _log(f"{arch.name} arena-planned: {mem['measured_kib']:.1f} KiB of {base_arena / 1024:.1f} KiB,"
         f" {planned.macs / entry['macs']:.3f}x MACs")  # fmt: skip
    if arch.trained:  # the sensitivity MACs planner (with its fill toward the budget) at the arena plan's MACs
        fraction = planned.macs / entry["macs"]
        opts = PlanOptions(budget=fraction, kind="macs", round_to=4, use_blocks=False)
        req = dataclasses.replace(probe, cfg=PruneConfig(macs=fraction, round_to=4, method="sensitivity"))
        mp = plan_to_budget(model, data.example(), sens, opts, req.criterion(), req.holdout(), CLASSIFICATION,
                            None, req.calibration())  # fmt: skip
        from edgeprune.task import evaluate

        arena_model, arena_top1 = fine_tuned(planned.model, model, data, args.epochs)
        macs_model, macs_top1 = fine_tuned(mp.model, model, data, args.epochs)
        entry["accuracy"] = {
            "epochs": args.epochs,
            "seed": SEED,
            "split": data.describe()["split"],
            "unpruned_top1": float(evaluate(model, data.val)[0]),
            "arena-planned": arena_top1,
            "macs-planned@arena-macs": macs_top1,
            "macs": {"arena-planned": planned.macs, "macs-planned@arena-macs": mp.macs},
        }
        # the fine-tuned models are what would ship: those are exported and measured
        out = [dataclasses.replace(out[0], model=arena_model)]
        out.append(Variant("macs-planned@arena-macs", macs_model, mp.plan, mp.macs, {"budget": round(fraction, 4)}))
    return out


def _zeros(data: Data) -> Any:
    import numpy as np

    return np.zeros(tuple(data.example().shape), np.int8)


def derive(entry: dict[str, Any]) -> None:
    """Speedup on each NPU (unpruned ms / variant ms), MACs reduction, and their ratio."""
    base = entry["variants"]["unpruned"]
    for v in entry["variants"].values():
        if "error" in v or "error" in base:
            continue
        for target in NPU_TARGETS:
            speedup = base[target]["ms"] / v[target]["ms"]
            v[target]["speedup"] = round(speedup, 4)
            v[target]["speedup_per_macs"] = round(speedup / v["macs_reduction"], 4)


def markdown(results: dict[str, Any]) -> str:
    """The README tables: per model and NPU, each variant's speedup, MACs reduction and ratio; TFLM columns."""
    lines = [
        "| model | NPU | latency-planned | macs-planned 0.5x | uniform r8 | uniform r16 | compute-keeping (bound) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in results["models"].items():
        if "variants" not in entry or "unpruned" not in entry["variants"]:
            continue
        for target in NPU_TARGETS:
            cells = []
            for v in (f"latency-planned@{target}", "macs-planned", "uniform-r8", "uniform-r16"):
                row = entry["variants"].get(v)
                if row is not None and str(row.get("error", "")).startswith("unreachable"):
                    cells.append("unreachable")
                    continue
                if row is None or "speedup" not in row.get(target, {}):
                    cells.append("-")
                    continue
                bold = "**" if v.startswith("latency") else ""
                cells.append(f"{bold}{row[target]['speedup']:.2f}x ({row['macs_reduction']:.2f}x,"
                             f" {row[target]['speedup_per_macs']:.2f}){bold}")  # fmt: skip
            bound = entry.get("compute_keeping", {}).get(target)
            cells.append("-" if bound is None else f"{bound['speedup']:.2f}x ({bound['macs_reduction']:.2f}x,"
                         f" {bound['speedup_per_macs']:.2f})")  # fmt: skip
            base_ms = entry["variants"]["unpruned"][target]["ms"]
            lines.append(f"| {name} | {target} ({base_ms:.3f} ms) | " + " | ".join(cells) + " |")
    lines += ["", "| model | variant | TFLM top-1 = LiteRT | max int8 diff | TFLM arena | SRAM U55 | flash U55 |",
              "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, entry in results["models"].items():
        for v, row in entry.get("variants", {}).items():
            if "error" in row:
                lines.append(f"| {name} | {v} | not shipped: {row['error'][:80]} | | | | |")
                continue
            t = row["tflm"]
            lines.append(f"| {name} | {v} | {t['top1_agreement']:.1f}% ({t['samples']}) | {t['max_abs_diff']} |"
                         f" {t['arena_bytes'] / 1024:.1f} KiB | {row['ethos-u55']['sram_bytes'] / 1024:.1f} KiB |"
                         f" {row['ethos-u55']['flash_bytes'] / 1024:.1f} KiB |")  # fmt: skip
    lines += ["", "| model | arena budget (0.5x) | arena-planned: TFLM arena, MACs | val top-1 after fine-tune |",
              "|---|---:|---|---|"]  # fmt: skip
    for name, entry in results["models"].items():
        row = entry.get("variants", {}).get("arena-planned")
        if row is None or "error" in row:
            continue
        base = entry["variants"]["unpruned"]
        acc = entry.get("accuracy")
        tuned = "-"
        if acc:
            tuned = (f"arena-planned {acc['arena-planned']:.2f}% vs MACs-planned at equal MACs"
                     f" {acc['macs-planned@arena-macs']:.2f}% (unpruned {acc['unpruned_top1']:.2f}%, {acc['epochs']}"
                     " epochs)")  # fmt: skip
        arena, share = row["tflm"]["arena_bytes"], row["tflm"]["arena_bytes"] / base["tflm"]["arena_bytes"]
        lines.append(f"| {name} | {row['arena_budget_bytes'] / 1024:.1f} KiB | {arena / 1024:.1f} KiB"
                     f" ({share:.3f}x), {1 / row['macs_reduction']:.3f}x MACs | {tuned} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(ARCHS), help=f"comma-separated subset of {list(ARCHS)}")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tune epochs of the arena accuracy comparison")
    parser.add_argument("--tflm-samples", type=int, default=200, help="validation samples run on TFLM and LiteRT")
    parser.add_argument("--out", default=str(OUT / "embedded.json"))
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(ARCHS))
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {list(ARCHS)}")
    torch.set_num_threads(1)
    path = Path(args.out)
    results: dict[str, Any] = {"schema": SCHEMA, "seed": SEED, "speedup_budget": SPEEDUP, "macs_budget": MACS,
                               "arena_budget": ARENA, "versions": versions(), "models": {}}  # fmt: skip
    start = time.perf_counter()
    if path.exists():  # a rerun keeps the models an earlier run finished
        earlier = read_json(path, "earlier results")
        if earlier.get("schema") == SCHEMA and earlier.get("versions") == results["versions"]:
            results["models"] = {k: v for k, v in earlier.get("models", {}).items() if v.get("done")}
    for name in names:
        if name in results["models"]:
            _log(f"{name}: kept from the earlier run in {path}")
            continue
        run_arch(ARCHS[name], args, results, path)
    results["wall_s"] = round(time.perf_counter() - start, 1)
    write_json(path, results)
    write_text(path.with_suffix(".md"), markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    run_script(main)
