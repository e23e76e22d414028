"""``edgeprune sensitivity``: scan every group and block; write sensitivity.json and sensitivity.png."""

from __future__ import annotations

import argparse

SAMPLES = 1000
HELP = "measure how the metric drops when each group is pruned alone (ratio grid) and each block is dropped"
FLAGS = ("model", "data", "task", "pruning", "ignore", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scan_arguments(parser)


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sensitivity scan")
    g.add_argument(
        "--samples", type=int, default=SAMPLES, help="samples scored: select split, then train (never validation)"
    )
    g.add_argument("--ratios", default="0.1,0.3,0.5,0.7,0.9", help="ratio grid (default 0.1,0.3,0.5,0.7,0.9)")
    g.add_argument("--no-blocks", action="store_true", help="do not scan removable blocks")
    g.add_argument("--estimate-only", action="store_true", help="gradient estimate only (no pruned evaluation)")


def scan_settings(args: argparse.Namespace) -> dict[str, object]:
    """The scan flags the user changed from their defaults, as ScanOptions fields (``plan`` passes only these, so
    its scan is the one deploy makes unless told otherwise)."""
    from edgeprune.data.preprocessing import parse_floats
    from edgeprune.sensitivity.scan import DEFAULT_RATIOS

    settings: dict[str, object] = {}
    if args.samples != SAMPLES:
        settings["samples"] = args.samples
    ratios = parse_floats(args.ratios, "--ratios")
    if ratios != tuple(DEFAULT_RATIOS):
        settings["ratios"] = ratios
    if args.no_blocks:
        settings["blocks"] = False
    if args.estimate_only:
        settings["measure"] = False
    return settings


def scan_options(args: argparse.Namespace) -> object:
    from edgeprune.data.preprocessing import parse_floats
    from edgeprune.sensitivity import ScanOptions

    return ScanOptions(
        samples=args.samples,
        ratios=parse_floats(args.ratios, "--ratios"),
        importance=args.importance or "magnitude",
        round_to=args.round_to or 1,
        ignored_layers=tuple(args.ignore or ()),
        blocks=not args.no_blocks,
        measure=not args.estimate_only,
    )


def run(args: argparse.Namespace) -> int:
    from edgeprune.commands.context import baseline, inputs, out_folder, say
    from edgeprune.pipeline.outputs import writing
    from edgeprune.sensitivity import sensitivity
    from edgeprune.sensitivity.plot import plot_sensitivity

    options = scan_options(args)  # bad flags fail before any loading
    names = ("sensitivity.json",) if args.estimate_only else ("sensitivity.json", "sensitivity.png")
    out = out_folder(args, "build/sensitivity", "sensitivity", replace=False, writes=names)
    with writing(out) as staging:
        ins = inputs(args)
        base = baseline(args, ins, choosing=True)
        result = sensitivity(base.model, ins.data, options, ins.task, base.spec.spec, ins.task_key)
        result.save(staging / "sensitivity.json")
        if not args.estimate_only:
            plot_sensitivity(result, staging / "sensitivity.png")
    say(f"unpruned {result.metric_name} {ins.task.format(result.base.metric)} on {result.samples} select samples"
        f" (never validation); scan took {result.seconds} s")  # fmt: skip
    for root, drop in result.ranking():
        print(f"  {root:<32} mean drop {drop:7.3f}")
    for b in result.blocks:
        print(f"  block {b.path:<26} dropped: {ins.task.format(b.point.metric)}")
    est = result.estimate
    if est.get("measured"):
        print(
            f"gradient estimate vs measured: Spearman {est['spearman_loss']} (loss), {est['spearman_metric']} (metric)"
        )
    say(
        f"wrote {out.given / 'sensitivity.json'}"
        + ("" if args.estimate_only else f" and {out.given / 'sensitivity.png'}")
    )
    return 0
