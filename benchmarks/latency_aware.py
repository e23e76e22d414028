"""Latency-aware pruning vs MACs planning vs uniform pruning, at a measured speedup budget on the target runtime.

For each architecture (the trained default on mnist5k, torchvision mobilenet_v2, mobilenet_v3_small, resnet18,
efficientnet_b0 with seeded random weights on 1x3x224x224) and each runtime (LiteRT/XNNPACK, ONNX Runtime CPU,
1 thread, runner pinned to one core):

  latency-planned   edgeprune.latency.plan_to_latency at ``--speedup`` (tables, fit, plan, measure, refine)
  macs-planned      the sensitivity planner at MACs fraction 1/speedup (the same damage model as latency-planned)
  uniform-r16       one magnitude ratio for every group, round_to 16, bisected to MACs 1/speedup (what plain
                    torch-pruning users get with the best round_to; docs/latency.md)
  macs@measured     default model only: the MACs planner with its MACs budget corrected by measurement until the
                    measured speedup matches (equal measured latency, for the accuracy comparison)

Damage (what a cut costs in accuracy): the trained default uses its sensitivity scan (select split); the random-
weight torchvision models use the no-scan magnitude damage (a scan on random weights measures nothing), for both
planners alike, so their comparison isolates the cost kind. The JSON says which per model.

Each variant of one (model, runtime) is timed round-robin next to the unpruned model in its own runner processes
(``--repeats`` fresh processes per pair, as the planner measures; one process holding all of them lets the networks
evict each other's weights from the cache); speedup_p50 = median over processes of unpruned p50 / variant p50,
speedup_min = median over processes of unpruned min / variant min; the headline ``speedup`` is the one
``--statistic`` names (min on a shared machine, where a neighbour's memory traffic makes whole processes 1.5x
slower).
Model error per row = |latency-model predicted speedup / measured speedup - 1|; the model's own error is its p50
over ``--validate`` random plans it was not fitted on. The default model is fine-tuned identically for every
variant (``--epochs``, distillation from the unpruned model) and its validation accuracy reported.

    PYTHONPATH=src python benchmarks/latency_aware.py                    # everything (hours on 2 cores)
    PYTHONPATH=src python benchmarks/latency_aware.py --models default --runtimes onnxruntime --quick

Writes build/bench/latency_aware.json (also partial results as it goes) and build/bench/latency_aware.png.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.atomic import write_json, write_text, write_with
from edgeprune.bench.harness import measure_local
from edgeprune.errors import EdgepruneError, run_script
from edgeprune.latency.endtoend import export_for
from edgeprune.latency.model import LatencyModel
from edgeprune.latency.noscan import LABEL as NOSCAN
from edgeprune.latency.noscan import magnitude_sensitivity
from edgeprune.latency.planner import LatencyBudget, LatencyPlanResult, plan_to_latency, refine
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.validate import validate_model
from edgeprune.models import ModelSpec, build_model
from edgeprune.planning.budget import BudgetPlan, allocate_to_budget
from edgeprune.planning.options import PlanOptions
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting
from edgeprune.prune import Plan, count_macs_params
from edgeprune.sensitivity.result import Sensitivity

OUT = Path("build/bench")
SCHEMA = "edgeprune.bench.latency_aware/1"
SEED = 0
PACKAGES = ("torch", "torchvision", "torch-pruning", "litert-torch", "ai-edge-litert", "onnxruntime", "onnx")


@dataclass(frozen=True)
class Arch:
    name: str
    spec: ModelSpec
    input_shape: tuple[int, ...]
    trained: bool = False


def _tv(name: str) -> Arch:
    return Arch(name, ModelSpec(f"torchvision:{name}", num_classes=1000, in_channels=3), (1, 3, 224, 224))


ARCHS = {
    "default": Arch("default", ModelSpec("edgeprune:default"), (1, 1, 28, 28), trained=True),
    "mobilenet_v2": _tv("mobilenet_v2"),
    "mobilenet_v3_small": _tv("mobilenet_v3_small"),
    "resnet18": _tv("resnet18"),
    "efficientnet_b0": _tv("efficientnet_b0"),
}


@dataclass
class Variant:
    """One pruned model of the comparison and what is known about it before the final measurement."""

    name: str
    model: nn.Module
    plan: Plan | None
    macs: int
    details: dict[str, Any]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_arch(arch: Arch) -> tuple[nn.Module, torch.Tensor, Any]:
    """(unpruned model, example input, dataset or None)."""
    if arch.trained:
        from edgeprune.baseline import load_baseline
        from edgeprune.data import load_data

        data = load_data("mnist5k")
        model = load_baseline(arch.spec, data, train_epochs=12).model
        return model.eval(), data.example().clone(), data
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = build_model(arch.spec).eval()
    return model, torch.randn(*arch.input_shape, generator=torch.Generator().manual_seed(SEED)), None


def damage_model(arch: Arch, model: nn.Module, example: torch.Tensor, data: Any, round_to: int, samples: int):
    """(curves, objective, use_blocks, label): a sensitivity scan for trained weights, else no-scan magnitude."""
    if data is not None:
        from edgeprune.sensitivity import ScanOptions, sensitivity

        scan = ScanOptions(samples=samples, importance="l2", round_to=round_to)
        sens = sensitivity(model, data, scan, name=arch.name)
        label = f"sensitivity scan ({sens.samples} select/train samples of {data.name}, l2, round_to {round_to})"
        return sens, "metric", True, label
    return magnitude_sensitivity(model, example, "l2", round_to), "estimate", False, NOSCAN


def uniform_variant(model: nn.Module, example: torch.Tensor, spec: ModelSpec, budget: float, round_to: int) -> Variant:
    base, _ = count_macs_params(model, example)

    def prune_at(ratio: float) -> tuple[tuple[nn.Module, Plan], int]:
        pruned, plan, macs = prune_uniform(model, example, ratio, "magnitude", round_to, spec)
        return (pruned, plan), macs

    ratio, (pruned, plan), macs = smallest_ratio_meeting(prune_at, int(budget * base), tol=0.005)
    return Variant(f"uniform-r{round_to}", pruned, plan, macs, {"ratio": round(ratio, 4)})


def measure_together(target: LatencyTarget, paths: dict[str, Path], repeats: int) -> dict[str, dict[str, Any]]:
    """Each variant round-robin with the unpruned file in its own runner processes (``repeats`` fresh processes
    per pair), as the planner measures: one process holding every network lets them evict each other's weights
    from the cache, which slows small networks most (mobilenet_v3_small measured 1.99x in pairs, 1.80x among five).
    Speedups are per-process ratios to the unpruned run of the same process (median over processes)."""
    out: dict[str, dict[str, Any]] = {"unpruned": {"p50_runs": [], "min_runs": [], "speedups_p50": [1.0],
                                                   "speedups_min": [1.0]}}  # fmt: skip
    for name, path in paths.items():
        if name == "unpruned":
            continue
        runs = [measure_local([paths["unpruned"], path], target.protocol()) for _ in range(repeats)]
        base_p50 = [float(r["results"][0]["latency_ms"]["p50"]) for r in runs]
        base_min = [float(r["results"][0]["latency_ms"]["min"]) for r in runs]
        p50 = [float(r["results"][1]["latency_ms"]["p50"]) for r in runs]
        low = [float(r["results"][1]["latency_ms"]["min"]) for r in runs]
        out["unpruned"]["p50_runs"] += base_p50
        out["unpruned"]["min_runs"] += base_min
        out["unpruned"]["size_bytes"] = runs[0]["results"][0]["size_bytes"]
        out[name] = {
            "p50_runs": p50,
            "min_runs": low,
            "size_bytes": runs[0]["results"][1]["size_bytes"],
            "speedups_p50": [b / v for b, v in zip(base_p50, p50, strict=True)],
            "speedups_min": [b / v for b, v in zip(base_min, low, strict=True)],
        }
    for entry in out.values():
        entry["p50_ms"] = statistics.median(entry["p50_runs"])
        entry["min_ms"] = min(entry["min_runs"])
        entry["speedup_p50"] = statistics.median(entry["speedups_p50"])
        entry["speedup_min"] = statistics.median(entry["speedups_min"])
    return out


def finetune_accuracy(model: nn.Module, teacher: nn.Module, data: Any, epochs: int, seeds: int) -> dict[str, Any]:
    """Validation accuracy before, and after ``epochs`` of fine-tuning with distillation, once per fine-tune seed
    (``SEED`` .. ``SEED + seeds - 1``; the seed orders the batches and augmentations). ``model`` is copied."""
    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune import evaluate, fit

    before, _ = evaluate(copy.deepcopy(model), data.val)
    after = []
    for seed in range(SEED, SEED + seeds):
        tuned = copy.deepcopy(model)
        fit(tuned, data, FinetuneConfig(epochs=epochs, seed=seed), teacher=copy.deepcopy(teacher), description="ft")
        after.append(round(evaluate(tuned, data.val)[0], 2))
    return {"val_acc_before_ft": round(before, 2), "val_acc": round(statistics.mean(after), 3), "val_acc_seeds": after}


def run_one(args: argparse.Namespace, arch: Arch, runtime: str, shared: dict[str, Any]) -> dict[str, Any]:
    """Every variant of ``arch`` on ``runtime``, measured together; the record of this (model, runtime)."""
    record: dict[str, Any] = {"arch": arch.name, "runtime": runtime, "loadavg_start": os.getloadavg()[0]}
    start = time.perf_counter()
    model, example, data = shared["model"], shared["example"], shared["data"]
    target = LatencyTarget(
        runtime, 1, cores=tuple(args.cores), warmup=args.warmup, runs=args.runs, repeats=args.plan_repeats,
        statistic=args.statistic, across="min" if args.statistic == "min" else "median",
    )  # fmt: skip
    curves, objective, use_blocks, label = shared["damage"]
    budget = LatencyBudget(speedup=args.speedup, tolerance=args.tolerance, refine_steps=args.refine_steps)
    log(f"{arch.name} / {runtime}: latency planning to {budget.describe()} ({label})")
    lat: LatencyPlanResult = plan_to_latency(
        model, example, curves if objective == "metric" else None, budget, target,
        round_to=args.round_to, max_ratio=args.max_ratio, spec=arch.spec, cache_dir=args.cache_dir,
        time_budget_s=args.table_budget_s, levels=args.levels, fit_plans=args.fit_plans, seed=SEED,
    )  # fmt: skip
    lm: LatencyModel = lat.latency_model  # type: ignore[assignment]
    record["damage"] = label
    record["latency_plan"] = lat.summary()
    record["io_overhead"] = {"ms": lm.tables.io[0], "ms_per_element": lm.tables.io[1], "null_ms": lm.tables.null_ms}
    log(
        f"  tables {lat.tables.micro_models} micro-models ({lat.tables.measured} measured, {lat.tables.seconds} s); "
        f"fit scale {lm.scale:.3f} overhead {lm.overhead_ms:.4f} ms; attempts "
        + ", ".join(f"{1 / a.measured_fraction:.2f}x" for a in lat.attempts)
    )
    if args.validate:
        blocks = [b.path for b in curves.blocks] if use_blocks else []
        val = validate_model(
            lm, model, example, target, args.validate, seed=SEED + 1, round_to=args.round_to, blocks=blocks
        )
        record["model_validation"] = val.summary()
        log(f"  latency model on {args.validate} random plans: p50 error {val.p50:.3f} (max {val.worst:.3f})")
    variants = [Variant("latency-planned", lat.model, lat.plan, lat.macs, {"attempts": len(lat.attempts)})]
    variants += shared["macs_variants"]
    if data is not None:
        variants.append(macs_at_measured(args, model, example, curves, objective, use_blocks, arch, target, lat))
    rows = final_rows(args, target, model, example, variants, lm)
    if data is not None:
        for row, v in zip(rows[1:], variants, strict=True):
            cached = shared["accuracy"].get(v.name) if v.name in ("macs-planned", f"uniform-r{args.round_to}") else None
            row.update(cached or finetune_accuracy(v.model, model, data, args.epochs, args.seeds))
            kept = ("val_acc_before_ft", "val_acc", "val_acc_seeds")
            shared["accuracy"].setdefault(v.name, {k: row[k] for k in kept})
        rows[0]["val_acc"] = rows[0]["val_acc_before_ft"] = shared["base_acc"]
    record["rows"] = rows
    record["loadavg_end"] = os.getloadavg()[0]
    record["seconds"] = round(time.perf_counter() - start, 1)
    for r in rows:
        log(
            f"  {r['variant']:<16} speedup {r['speedup']:.2f}x"
            f" (p50 {r['speedup_p50']:.2f}x, min {r['speedup_min']:.2f}x)"
            f" MACs {r['macs_reduction']:.2f}x ratio {r['speedup_per_macs_reduction']:.2f}"
            f" model err {r['model_error']:.3f}" + (f" val {r['val_acc']:.2f}%" if "val_acc" in r else "")
        )
    return record


def macs_at_measured(
    args: argparse.Namespace,
    model: nn.Module,
    example: torch.Tensor,
    curves: Sensitivity,
    objective: str,
    use_blocks: bool,
    arch: Arch,
    target: LatencyTarget,
    lat: LatencyPlanResult,
) -> Variant:
    """The MACs planner with its MACs budget corrected by measurement to the latency plan's measured speedup."""
    goal = lat.measured_fraction
    budget = LatencyBudget(speedup=1.0 / goal, tolerance=args.tolerance, refine_steps=args.refine_steps)
    with tempfile.TemporaryDirectory(prefix="edgeprune-bench-") as tmp:
        base_path = export_for(target, model, example, Path(tmp) / f"unpruned.{target.fmt}")
        count = [0]

        def plan_at(fraction: float) -> BudgetPlan:
            opts = PlanOptions(fraction, "macs", args.round_to, args.max_ratio, use_blocks=use_blocks)
            return allocate_to_budget(model, example, curves, opts, objective, "l2", spec=arch.spec.to_dict())

        def measure(planned: BudgetPlan) -> tuple[float, float]:
            from edgeprune.latency.endtoend import time_files

            count[0] += 1
            path = export_for(target, planned.model, example, Path(tmp) / f"m{count[0]}.{target.fmt}")
            timed = time_files(target, {"unpruned": base_path, "m": path}, "unpruned")["m"]
            return timed.ms, timed.ratio

        def macs_fraction(planned: BudgetPlan) -> float:  # the MACs planner's own currency
            return planned.fraction

        attempts, made = refine(plan_at, measure, macs_fraction, budget, goal)
    best = min(range(len(attempts)), key=lambda i: abs(attempts[i].miss))
    chosen = made[best]
    return Variant(
        "macs@measured",
        chosen.model,
        chosen.plan,
        chosen.macs,
        {"macs_budget": round(attempts[best].search_fraction, 4), "attempts": len(attempts), "goal_fraction": goal},
    )


def final_rows(
    args: argparse.Namespace,
    target: LatencyTarget,
    model: nn.Module,
    example: torch.Tensor,
    variants: list[Variant],
    lm: LatencyModel,
) -> list[dict[str, Any]]:
    """Every variant timed next to the unpruned network (pairs, ``--repeats`` processes each): one row each."""
    base_macs, _ = count_macs_params(model, example)
    with tempfile.TemporaryDirectory(prefix="edgeprune-bench-") as tmp:
        paths = {"unpruned": export_for(target, model, example, Path(tmp) / f"unpruned.{target.fmt}")}
        for v in variants:
            paths[v.name] = export_for(target, v.model, example, Path(tmp) / f"{v.name}.{target.fmt}")
        measured = measure_together(replace(target, runs=args.final_runs), paths, args.repeats)
    rows = []
    for name in paths:
        v = next((v for v in variants if v.name == name), None)
        macs = v.macs if v else base_macs
        predicted_fraction = (lm.plan_ms(v.plan) / lm.full_ms) if v and v.plan is not None else 1.0
        m = measured[name]
        headline = m["speedup_min"] if args.statistic == "min" else m["speedup_p50"]
        row = {
            "variant": name,
            "macs": macs,
            "macs_reduction": round(base_macs / macs, 4),
            "size_bytes": m["size_bytes"],
            "p50_ms": round(m["p50_ms"], 4),
            "min_ms": round(m["min_ms"], 4),
            "p50_runs": [round(x, 4) for x in m["p50_runs"]],
            "speedup": round(headline, 4),
            "speedup_p50": round(m["speedup_p50"], 4),
            "speedup_min": round(m["speedup_min"], 4),
            "speedup_per_macs_reduction": round(headline / (base_macs / macs), 4),
            "predicted_speedup": round(1.0 / predicted_fraction, 4),
            "model_error": round(abs((1.0 / predicted_fraction) / headline - 1.0), 4),
            "within_7pct_of_budget": abs(headline / args.speedup - 1.0) <= 0.07,
            **({"details": v.details} if v else {}),
        }
        rows.append(row)
    return rows


def environment() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "versions": versions}


def plot(results: list[dict[str, Any]], path: Path, speedup: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runtimes = list(dict.fromkeys(r["runtime"] for r in results))
    fig, axes = plt.subplots(2, len(runtimes), figsize=(7 * len(runtimes), 8), squeeze=False)
    for col, runtime in enumerate(runtimes):
        recs = [r for r in results if r["runtime"] == runtime]
        variants = list(
            dict.fromkeys(row["variant"] for r in recs for row in r["rows"] if row["variant"] != "unpruned")
        )
        width = 0.8 / max(len(variants), 1)
        for k, name in enumerate(variants):
            xs, speed, ratio = [], [], []
            for i, r in enumerate(recs):
                row = next((row for row in r["rows"] if row["variant"] == name), None)
                if row:
                    xs.append(i + k * width)
                    speed.append(row["speedup"])
                    ratio.append(row["speedup_per_macs_reduction"])
            axes[0][col].bar(xs, speed, width, label=name)
            axes[1][col].bar(xs, ratio, width, label=name)
        ticks = [i + 0.4 - width / 2 for i in range(len(recs))]
        for row_ax, ylabel in ((axes[0][col], "measured speedup"), (axes[1][col], "speedup / MACs reduction")):
            row_ax.set_xticks(ticks, [r["arch"] for r in recs], rotation=20, fontsize=8)
            row_ax.set_ylabel(ylabel)
            row_ax.grid(axis="y", alpha=0.3)
        axes[0][col].axhspan(speedup * 0.93, speedup * 1.07, color="green", alpha=0.15, label=f"{speedup:g}x +-7%")
        axes[1][col].axhline(1.0, color="gray", ls=":")
        axes[0][col].set_title(f"{runtime}, 1 thread")
        axes[0][col].legend(fontsize=7)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


RUNTIME_LABEL = {"litert": "LiteRT", "onnxruntime": "ONNX Runtime"}


def markdown(doc: dict[str, Any]) -> str:
    """The comparison table (one row per model, runtime and variant) and the model-error table."""
    s = doc["settings"]
    head = "speedup (min-of-min)" if s["statistic"] == "min" else "speedup (p50)"
    lines = [
        f"Target: {s['speedup']:g}x measured speedup, round_to {s['round_to']}, 1 thread, runner pinned to cores "
        f"{s['cores']}; {s['repeats']} fresh processes per variant (paired with the unpruned); load average "
        f"{doc['loadavg_start'][0]:.1f} at the start, {doc.get('loadavg_end', [float('nan')])[0]:.1f} at the end.",
        "",
        f"| model | runtime | variant | {head} | p50 speedup | MACs reduction | speedup / MACs red. "
        "| predicted speedup | model error | val top-1 after FT |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rec in doc["results"]:
        for r in rec["rows"]:
            if r["variant"] == "unpruned":
                continue
            acc = f"{r['val_acc']:.2f}%" if "val_acc" in r else "-"
            lines.append(
                f"| {rec['arch']} | {RUNTIME_LABEL[rec['runtime']]} | {r['variant']} | {r['speedup']:.2f}x "
                f"| {r['speedup_p50']:.2f}x | {r['macs_reduction']:.2f}x | {r['speedup_per_macs_reduction']:.2f} "
                f"| {r['predicted_speedup']:.2f}x | {r['model_error']:.1%} | {acc} |"
            )
    lines += [
        "",
        "| model | runtime | damage | latency model p50 / max error (held-out random plans) | fit: scale, overhead,"
        " ms per M weights, net of micro-model overhead | tables: micro-models (measured now), s "
        "| planning attempts (measured) |",
        "|---|---|---|---|---|---|---|",
    ]
    for rec in doc["results"]:
        val, lp = rec.get("model_validation"), rec["latency_plan"]
        fit, tab = lp["fit"], lp["tables"]
        err = f"{val['p50_error']:.1%} / {val['max_error']:.1%} ({val['plans']} plans)" if val else "-"
        attempts = ", ".join(f"{1 / a['measured_fraction']:.2f}x" for a in lp["attempts"])
        damage = "scan" if rec["damage"].startswith("sensitivity") else "no-scan magnitude"
        lines.append(
            f"| {rec['arch']} | {RUNTIME_LABEL[rec['runtime']]} | {damage} | {err} | {fit['scale']:.2f}, "
            f"{fit['overhead_ms']:.3f} ms, {fit.get('ms_per_mparam', 0.0):.3f}, "
            f"{'yes' if fit['subtract_io'] else 'no'} | {tab['micro_models']} "
            f"({tab['measured']}), {tab['seconds']:.0f} | {attempts} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(ARCHS))
    p.add_argument("--runtimes", default="litert,onnxruntime")
    p.add_argument("--speedup", type=float, default=2.0)
    p.add_argument("--tolerance", type=float, default=0.05, help="planner's accepted miss (default 0.05)")
    p.add_argument("--refine-steps", type=int, default=3)
    p.add_argument("--round-to", type=int, default=16)
    p.add_argument("--max-ratio", type=float, default=0.9)
    p.add_argument("--levels", type=int, default=1, help="table refinement levels (default 1)")
    p.add_argument("--table-budget-s", type=float, default=1800.0, help="measuring-time budget per table build")
    p.add_argument("--fit-plans", type=int, default=4, help="random plans the overhead fit uses")
    p.add_argument("--validate", type=int, default=6, help="held-out random plans for the model error (0: skip)")
    p.add_argument(
        "--statistic",
        default="p50",
        choices=["p50", "min"],
        help="p50: median over processes of each process' p50 (quiet machine); min: minimum over processes of each"
        " process' minimum (robust on a shared machine). Used for planning and as the headline speedup.",
    )
    p.add_argument("--cores", default="1", help="cores the runner is pinned to (comma list; '' = none)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--runs", type=int, default=40, help="timed runs per process while planning")
    p.add_argument("--plan-repeats", type=int, default=3, help="fresh processes per planning measurement")
    p.add_argument("--final-runs", type=int, default=60, help="timed runs per process in the final measurement")
    p.add_argument("--repeats", type=int, default=5, help="fresh processes in the final measurement")
    p.add_argument("--epochs", type=int, default=3, help="fine-tune epochs (default model), same for every variant")
    p.add_argument("--seeds", type=int, default=5, help="fine-tune seeds per variant (default model); mean reported")
    p.add_argument("--samples", type=int, default=500, help="sensitivity scan samples (default model)")
    p.add_argument("--cache-dir", default="build/cache/latency")
    p.add_argument("--quick", action="store_true", help="levels 0, 2 fit plans, 3 checks, 3 repeats, 1 epoch, 2 seeds")
    p.add_argument("--out", default=str(OUT))
    p.add_argument(
        "--rescore", metavar="JSON",
        help="recompute the derived figures (model errors, verdicts, table, plot) of an earlier run's JSON in place",
    )  # fmt: skip
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.runtimes = [r for r in args.runtimes.split(",") if r]
    args.cores = [int(c) for c in args.cores.split(",") if c]
    if args.quick:
        args.levels, args.fit_plans, args.validate, args.repeats, args.epochs, args.seeds = 0, 2, 3, 3, 1, 2
    if args.seeds < 1:
        raise EdgepruneError(f"--seeds must be >= 1, got {args.seeds}")
    unknown = [m for m in args.models if m not in ARCHS]
    if unknown:
        raise EdgepruneError(f"--models: unknown {unknown}; known: {list(ARCHS)}")
    return args


def rescore(path: Path) -> None:
    """Recompute what a run's JSON derives from its measurements (after a change in how they are scored): the
    latency model's validation errors from the stored checks, the verdicts, the markdown table and the plot."""
    from edgeprune.atomic import read_json
    from edgeprune.latency.validate import PlanCheck, Validation

    doc = read_json(path, "latency_aware result")
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise EdgepruneError(f"--rescore {path}: field 'schema' is not {SCHEMA!r} (not a latency_aware.py result)")
    for rec in doc["results"]:
        val = rec.get("model_validation")
        if val:
            checks = [PlanCheck(**{k: v for k, v in c.items() if k != "error"}) for c in val["checks"]]
            rec["model_validation"] = Validation(val["base_ms"], checks).summary()
    doc["verdicts"] = verdicts(doc["results"], doc["settings"]["speedup"])
    doc["rescored"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_json(path, doc)
    plot(doc["results"], path.with_suffix(".png"), doc["settings"]["speedup"])
    write_text(path.with_suffix(".md"), markdown(doc))
    log(f"rescored {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rescore:
        rescore(Path(args.rescore))
        return 0
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    out = Path(args.out)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "env": environment(),
        "loadavg_start": list(os.getloadavg()),
        "results": [],
    }
    log(f"load average at start: {os.getloadavg()}")
    for name in args.models:
        arch = ARCHS[name]
        model, example, data = load_arch(arch)
        shared: dict[str, Any] = {"model": model, "example": example, "data": data, "accuracy": {}}
        shared["damage"] = damage_model(arch, model, example, data, args.round_to, args.samples)
        curves, objective, use_blocks, _ = shared["damage"]
        opts = PlanOptions(1.0 / args.speedup, "macs", args.round_to, args.max_ratio, use_blocks=use_blocks)
        macs_plan = allocate_to_budget(model, example, curves, opts, objective, "l2", spec=arch.spec.to_dict())
        shared["macs_variants"] = [
            Variant("macs-planned", macs_plan.model, macs_plan.plan, macs_plan.macs, {"macs_budget": 1 / args.speedup}),
            uniform_variant(model, example, arch.spec, 1.0 / args.speedup, args.round_to),
        ]
        if data is not None:
            from edgeprune.finetune import evaluate

            shared["base_acc"] = round(evaluate(model, data.val)[0], 2)
        for runtime in args.runtimes:
            doc["results"].append(run_one(args, arch, runtime, shared))
            write_json(out / "latency_aware.partial.json", doc)
    doc["loadavg_end"] = list(os.getloadavg())
    doc["verdicts"] = verdicts(doc["results"], args.speedup)
    write_json(out / "latency_aware.json", doc)
    plot(doc["results"], out / "latency_aware.png", args.speedup)
    write_text(out / "latency_aware.md", markdown(doc))
    log(f"wrote {out / 'latency_aware.json'} and {out / 'latency_aware.png'}; load at end {os.getloadavg()}")
    return 0


def verdicts(results: list[dict[str, Any]], speedup: float) -> dict[str, Any]:
    """The issue's done-when figures, computed from the rows."""

    def row(rec: dict[str, Any], name: str) -> dict[str, Any] | None:
        return next((r for r in rec["rows"] if r["variant"] == name), None)

    lat = {(r["arch"], r["runtime"]): row(r, "latency-planned") for r in results}
    out: dict[str, Any] = {
        "speedup_within_7pct": {f"{a}/{rt}": r["speedup"] for (a, rt), r in lat.items() if r},
        "all_within_7pct": all(abs(r["speedup"] / speedup - 1) <= 0.07 for r in lat.values() if r),
        "model_error_p50": {
            f"{r['arch']}/{r['runtime']}": r["model_validation"]["p50_error"]
            for r in results
            if "model_validation" in r
        },
        "speedup_per_macs_reduction_litert": {
            a: r["speedup_per_macs_reduction"] for (a, rt), r in lat.items() if r and rt == "litert"
        },
    }
    accs = {}
    for r in results:
        a, m = row(r, "latency-planned"), row(r, "macs@measured")
        if a and m and "val_acc" in a:
            accs[r["runtime"]] = {
                "latency-planned": a["val_acc"],
                "macs@measured": m["val_acc"],
                "speedups": [a["speedup"], m["speedup"]],
                **paired_difference(a["val_acc_seeds"], m["val_acc_seeds"]),
            }
    out["default_accuracy_at_equal_latency"] = accs
    return out


def paired_difference(first: list[float], second: list[float]) -> dict[str, Any]:
    """Per-seed accuracy difference ``first - second`` (same fine-tune seed): mean, its standard error, and
    whether ``first`` is at least as accurate on average."""
    diffs = [a - b for a, b in zip(first, second, strict=True)]
    mean = statistics.mean(diffs)
    stderr = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return {"seeds": len(diffs), "difference_pt": round(mean, 3), "difference_stderr_pt": round(stderr, 3),
            "at_least_as_accurate": mean >= 0.0}  # fmt: skip


if __name__ == "__main__":
    run_script(main)
