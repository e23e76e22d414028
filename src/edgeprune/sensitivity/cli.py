"""``edgeprune sensitivity``: scan every group and block, write sensitivity.json and sensitivity.png."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.sensitivity.loading import add_model_arguments, parse_ratios

HELP = "Measure how the metric drops when each group is pruned alone (ratio grid) and each block is dropped."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--out", default="build/sensitivity", help="output folder (default: build/sensitivity)")
    parser.add_argument("--samples", type=int, default=1000, help="select(+train) samples evaluated (default 1000)")
    parser.add_argument("--ratios", default="0.1,0.3,0.5,0.7,0.9", help="ratio grid (default 0.1,0.3,0.5,0.7,0.9)")
    parser.add_argument("--importance", default="l2", help="criterion choosing which channels go (default l2)")
    parser.add_argument("--round-to", type=int, default=1, help="keep channel counts a multiple of this")
    parser.add_argument("--ignore", action="append", default=[], help="layer path to leave unpruned (repeatable)")
    parser.add_argument("--no-blocks", action="store_true", help="do not scan removable blocks")
    parser.add_argument("--estimate-only", action="store_true", help="gradient estimate only (no pruned evaluation)")
    parser.add_argument("--cache-dir", default="build/cache/sensitivity", help="scan cache ('' disables)")


def run(args: argparse.Namespace) -> int:
    from edgeprune.sensitivity.loading import load_model_and_data
    from edgeprune.sensitivity.plot import plot_sensitivity
    from edgeprune.sensitivity.scan import sensitivity

    ratios = parse_ratios(args.ratios)
    _, model, data = load_model_and_data(args)
    result = sensitivity(
        model,
        data,
        samples=args.samples,
        ratios=ratios,
        importance=args.importance,
        round_to=args.round_to,
        ignored_layers=args.ignore,
        blocks=not args.no_blocks,
        measure=not args.estimate_only,
        name=args.model,
        cache_dir=args.cache_dir or None,
    )
    out = Path(args.out)
    result.save(out / "sensitivity.json")
    print(
        f"base {result.metric_name} {result.base.metric:.2f}% on {result.samples} samples; scan took {result.seconds}s"
    )
    for root, drop in result.ranking():
        print(f"  {root:<32} mean drop {drop:6.2f} pt")
    for b in result.blocks:
        print(f"  block {b.path:<26} dropped: {b.point.metric:.2f}%")
    est = result.estimate
    if est.get("measured"):
        print(
            f"gradient estimate vs measured: Spearman {est['spearman_loss']} (loss), {est['spearman_metric']} (metric)"
        )
    if not args.estimate_only:
        plot_sensitivity(result, out / "sensitivity.png")
    print(f"wrote {out / 'sensitivity.json'}" + ("" if args.estimate_only else f" and {out / 'sensitivity.png'}"))
    return 0
