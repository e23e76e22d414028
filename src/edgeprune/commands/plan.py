"""``edgeprune plan``: per-group ratios (and blocks to drop) meeting a MACs/params budget; with ``--max-drop``,
the smallest model whose briefly fine-tuned select metric stays within that many points. Writes OUT/plan.json."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from edgeprune.commands.sensitivity import add_scan_arguments, scan_settings

if TYPE_CHECKING:
    from edgeprune.commands.context import Inputs
    from edgeprune.config import PruneConfig

HELP = "plan per-group pruning ratios and blocks to drop that meet a budget (sensitivity-planned or uniform)"
SCANNING_METHODS = ("auto", "sensitivity")  # the methods that run the sensitivity scan
FLAGS = ("model", "data", "task", "budget", "pruning", "ignore", "finetune", "out")


# which flag groups matter for which method (shown in --help)
GROUP_NOTES = {
    "pruning budget": "one budget; --method auto (default: the uniform and the sensitivity plan, the better scored"
    " on select kept), uniform (one ratio for every group) or sensitivity (per-group ratios and blocks from a"
    " sensitivity scan)",
    "fine-tuning": "only with --max-drop: the short fine-tune of each candidate budget (every method)",
    "sensitivity scan": "only with --method auto or sensitivity (refused with uniform); the same scan as"
    " `edgeprune sensitivity`, cached",
    "what may be pruned and how it is chosen": "every method",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scan_arguments(parser)
    parser.add_argument(
        "--target",
        default="tflite",
        help="with --latency-ms/--speedup: the target whose format, runtime, threads and board (or NPU) measure"
        " latency; with --sram-kib/--flash-kib/--arena-kib: the embedded target whose tools measure memory",
    )
    for group in parser._action_groups:  # argparse has no public accessor; the groups are this parser's copies
        if group.title in GROUP_NOTES:
            group.description = GROUP_NOTES[group.title]


def _flags(settings: dict[str, object]) -> list[str]:
    names = {"samples": "--samples", "ratios": "--ratios", "blocks": "--no-blocks", "measure": "--estimate-only"}
    return [names[k] for k in settings]


def _check_structure(args: argparse.Namespace, ins: Inputs, cfg: PruneConfig) -> None:
    """Can the model's structure reach a MACs or params budget at all? (Latency budgets are measured.)"""
    from edgeprune.commands.context import DEFAULT_MODEL
    from edgeprune.pipeline.preflight import check_before_training

    if not cfg.latency:
        spec = args.model or DEFAULT_MODEL
        check_before_training(spec, ins.data, ins.task, args.checkpoint, bool(args.estimate_bn_stats), cfg)


def run(args: argparse.Namespace) -> int:
    from edgeprune.atomic import write_json
    from edgeprune.commands.context import DEFAULT_DATA, baseline, baseline_record, inputs, out_folder, say
    from edgeprune.config import FinetuneConfig, PruneConfig, with_changes
    from edgeprune.data.spec import data_record
    from edgeprune.errors import EdgepruneError
    from edgeprune.pipeline.outputs import writing
    from edgeprune.pipeline.overrides import budget_override
    from edgeprune.pipeline.strategies import Request, prune_to_budget
    from edgeprune.planning import rounding_notes

    memory = {"sram_kib": args.sram_kib, "flash_kib": args.flash_kib, "arena_kib": args.arena_kib}
    budget_override(
        {"macs": args.macs, "params": args.params, "latency_ms": args.latency_ms, "speedup": args.speedup, **memory}
    )
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
        **memory,
    )
    settings = scan_settings(args)  # bad flags fail before any loading
    if settings and cfg.method not in SCANNING_METHODS:
        raise EdgepruneError(
            f"{', '.join(_flags(settings))} only appl{'ies' if len(settings) == 1 else 'y'} to --method auto or"
            f" sensitivity (the scan), not --method {cfg.method}"
        )
    out = out_folder(args, "build/plan", "plan", replace=False, writes=("plan.json",))
    measured_on = None
    if cfg.latency or cfg.memory is not None:
        import dataclasses

        from edgeprune.pipeline.targets import check_names, load_target

        measured_on = check_names(dataclasses.replace(load_target(args.target), prune=cfg), f"target '{args.target}'")
    with writing(out) as staging:
        ins = inputs(args)
        if not args.checkpoint:  # the structure is checked before a baseline is trained
            _check_structure(args, ins, cfg)
        base = baseline(args, ins, choosing=True)
        if args.checkpoint:  # loading is cheap: a chance-level checkpoint stops first
            _check_structure(args, ins, cfg)
        request = Request(
            base.model, ins.data.example(), base.spec.to_dict(), cfg, ins.data, ins.task, ins.task_key, settings
        )
        if measured_on is not None:
            from edgeprune.pipeline.device_budget import on_device, prune_on_device
            from edgeprune.pipeline.latency_budget import prune_to_latency

            on_npu = on_device(measured_on)
            planned = prune_on_device(request, measured_on) if on_npu else prune_to_latency(request, measured_on)
        else:
            planned = prune_to_budget(request, with_changes(FinetuneConfig(epochs=2), epochs=args.epochs, lr=args.lr))
        summary = planned.summary()
        planned.plan.data = data_record(args.data or DEFAULT_DATA, ins.data.preprocessing)
        planned.plan.baseline = baseline_record(args, base)
        write_json(staging / "plan.json", {**planned.plan.to_dict(), "planning": summary})
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
    if planned.kind == "memory":
        mem = summary["memory"]
        say(f"{mem['tool']} on {args.target}: unpruned {mem['base_kib']:.1f} KiB, planned {mem['measured_kib']:.1f} KiB"
            f" (budget {mem['budget']['kib']:g} KiB{'' if mem['met'] else ', MISSED'})")  # fmt: skip
    if planned.kind == "latency":
        lat = summary["latency"]
        say(f"latency on {args.target}: unpruned {lat['base_ms']:.3f} ms, predicted {lat['predicted_ms']:.3f} ms,"
            f" measured {lat['measured_ms']:.3f} ms ({lat['measured_speedup']:.2f}x)")  # fmt: skip
    say(f"wrote {out.given / 'plan.json'}")
    return 0
