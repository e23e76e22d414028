"""``edgeprune plan``: per-group ratios (and blocks to drop) meeting a MACs/params budget; with ``--max-drop``,
the smallest model whose briefly fine-tuned select metric stays within that many points. Writes OUT/plan.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.commands.sensitivity import add_scan_arguments

HELP = "plan per-group pruning ratios and blocks to drop that meet a budget (sensitivity-planned or uniform)"
FLAGS = ("model", "data", "task", "budget", "pruning", "ignore", "finetune", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scan_arguments(parser)
    parser.add_argument(
        "--target",
        default="tflite",
        help="with --latency-ms/--speedup: the target whose format, runtime, threads and board measure latency",
    )


def run(args: argparse.Namespace) -> int:
    from edgeprune.atomic import write_json
    from edgeprune.commands.context import baseline, inputs, say
    from edgeprune.config import FinetuneConfig, PruneConfig, with_changes
    from edgeprune.errors import EdgepruneError
    from edgeprune.pipeline.overrides import budget_override
    from edgeprune.pipeline.strategies import Request, prune_to_budget

    budget_override({"macs": args.macs, "params": args.params, "latency_ms": args.latency_ms, "speedup": args.speedup})
    out = Path(args.out or "build/plan")
    if (out / "plan.json").exists() and not args.force:
        raise EdgepruneError(f"{out / 'plan.json'} already exists; pass --force to replace it")
    cfg = with_changes(
        PruneConfig(),
        macs=args.macs,
        params=args.params,
        max_drop=args.max_drop,
        method=args.method,
        importance=args.importance,
        round_to=args.round_to,
        max_ratio=args.max_ratio,
        ignored_layers=tuple(args.ignore) if args.ignore else None,
        latency_ms=args.latency_ms,
        speedup=args.speedup,
    )
    measured_on = None
    if cfg.latency:
        import dataclasses

        from edgeprune.pipeline.targets import check_names, load_target

        measured_on = check_names(dataclasses.replace(load_target(args.target), prune=cfg), f"target '{args.target}'")
    ins = inputs(args)
    base = baseline(args, ins)
    request = Request(base.model, ins.data.example(), base.spec.to_dict(), cfg, ins.data, ins.task, ins.task_key)
    if measured_on is not None:
        from edgeprune.pipeline.latency_budget import prune_to_latency

        planned = prune_to_latency(request, measured_on)
    else:
        planned = prune_to_budget(request, with_changes(FinetuneConfig(epochs=2), epochs=args.epochs, lr=args.lr))
    summary = planned.summary()
    write_json(out / "plan.json", {**planned.plan.to_dict(), "planning": summary})
    predicted = (
        ""
        if planned.predicted is None
        else f", predicted {ins.task.format(planned.predicted)} (select samples, never validation)"
    )
    say(f"plan ({planned.method}): {planned.macs:,} MACs ({summary['macs_fraction']:.3f}x), {planned.params:,} params"
        f" ({summary['params_fraction']:.3f}x){predicted}; {len(planned.plan.groups)} group(s),"
        f" blocks {list(planned.plan.blocks)}")  # fmt: skip
    if planned.kind == "latency":
        lat = summary["latency"]
        say(f"latency on {args.target}: unpruned {lat['base_ms']:.3f} ms, predicted {lat['predicted_ms']:.3f} ms,"
            f" measured {lat['measured_ms']:.3f} ms ({lat['measured_speedup']:.2f}x)")  # fmt: skip
    say(f"wrote {out / 'plan.json'}")
    return 0
