"""``edgeprune plan``: per-group ratios (and blocks to drop) meeting a MACs/params budget; with ``--max-drop``,
the smallest model whose briefly fine-tuned select metric stays within that many points. Writes OUT/plan.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.commands.sensitivity import add_scan_arguments, scan_settings

HELP = "plan per-group pruning ratios and blocks to drop that meet a budget (sensitivity-planned or uniform)"
FLAGS = ("model", "data", "task", "budget", "pruning", "ignore", "finetune", "out")


# which flag groups matter for which method (shown in --help)
GROUP_NOTES = {
    "pruning budget": "one budget; --method uniform (one ratio for every group) or sensitivity (default: per-group"
    " ratios and blocks from a sensitivity scan)",
    "fine-tuning": "only with --max-drop: the short fine-tune of each candidate budget (both methods)",
    "sensitivity scan": "only with --method sensitivity (ignored by uniform); the same scan as `edgeprune"
    " sensitivity`, cached",
    "what may be pruned and how it is chosen": "both methods",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scan_arguments(parser)
    parser.add_argument(
        "--target",
        default="tflite",
        help="with --latency-ms/--speedup: the target whose format, runtime, threads and board measure latency",
    )
    for group in parser._action_groups:  # argparse has no public accessor; the groups are this parser's copies
        if group.title in GROUP_NOTES:
            group.description = GROUP_NOTES[group.title]


def _flags(settings: dict[str, object]) -> list[str]:
    names = {"samples": "--samples", "ratios": "--ratios", "blocks": "--no-blocks", "measure": "--estimate-only"}
    return [names[k] for k in settings]


def run(args: argparse.Namespace) -> int:
    from edgeprune.atomic import write_json
    from edgeprune.commands.context import DEFAULT_DATA, baseline, baseline_record, inputs, say
    from edgeprune.config import FinetuneConfig, PruneConfig, with_changes
    from edgeprune.data.spec import data_record
    from edgeprune.errors import EdgepruneError
    from edgeprune.pipeline.overrides import budget_override
    from edgeprune.pipeline.strategies import Request, prune_to_budget
    from edgeprune.planning import rounding_notes

    budget_override({"macs": args.macs, "params": args.params, "latency_ms": args.latency_ms, "speedup": args.speedup})
    out = Path(args.out or "build/plan")
    if (out / "plan.json").exists() and not args.force:
        raise EdgepruneError(f"{out / 'plan.json'} already exists; pass --force to replace it")
    cfg = with_changes(
        PruneConfig(method="sensitivity"),
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
    settings = scan_settings(args)  # bad flags fail before any loading
    if settings and cfg.method != "sensitivity":
        raise EdgepruneError(
            f"{', '.join(_flags(settings))} only appl{'ies' if len(settings) == 1 else 'y'} to --method sensitivity"
            f" (the scan), not --method {cfg.method}"
        )
    measured_on = None
    if cfg.latency:
        import dataclasses

        from edgeprune.pipeline.targets import check_names, load_target

        measured_on = check_names(dataclasses.replace(load_target(args.target), prune=cfg), f"target '{args.target}'")
    ins = inputs(args)
    base = baseline(args, ins)
    request = Request(
        base.model, ins.data.example(), base.spec.to_dict(), cfg, ins.data, ins.task, ins.task_key, settings
    )
    if measured_on is not None:
        from edgeprune.pipeline.latency_budget import prune_to_latency

        planned = prune_to_latency(request, measured_on)
    else:
        planned = prune_to_budget(request, with_changes(FinetuneConfig(epochs=2), epochs=args.epochs, lr=args.lr))
    summary = planned.summary()
    planned.plan.data = data_record(args.data or DEFAULT_DATA, ins.data.preprocessing)
    planned.plan.baseline = baseline_record(args, base)
    write_json(out / "plan.json", {**planned.plan.to_dict(), "planning": summary})
    predicted = (
        ""
        if planned.predicted is None
        else f", predicted {ins.task.format(planned.predicted)} (select samples, never validation)"
    )
    say(f"plan ({planned.method}): {planned.macs:,} MACs ({summary['macs_fraction']:.3f}x), {planned.params:,} params"
        f" ({summary['params_fraction']:.3f}x){predicted}; {len(planned.plan.groups)} group(s),"
        f" blocks {list(planned.plan.blocks)}")  # fmt: skip
    for note in rounding_notes(planned, cfg.round_to):
        say(f"note: {note}")
    if planned.kind == "latency":
        lat = summary["latency"]
        say(f"latency on {args.target}: unpruned {lat['base_ms']:.3f} ms, predicted {lat['predicted_ms']:.3f} ms,"
            f" measured {lat['measured_ms']:.3f} ms ({lat['measured_speedup']:.2f}x)")  # fmt: skip
    say(f"wrote {out / 'plan.json'}")
    return 0
