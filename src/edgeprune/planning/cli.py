"""``edgeprune plan``: per-group ratios and blocks meeting a MACs/params budget at the least predicted loss;
with ``--max-drop``, the smallest model whose fine-tuned select metric stays within that many points."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.sensitivity.loading import add_model_arguments, parse_ratios

HELP = "Plan per-group pruning ratios (and blocks to drop) that meet a MACs or params budget, from sensitivity."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--macs", type=float, help="keep at most this fraction of the MACs (with --max-drop: floor)")
    budget.add_argument("--params", type=float, help="keep at most this fraction of the parameters")
    parser.add_argument("--max-drop", type=float, default=None, help="tolerance mode: max select-metric drop (pt)")
    parser.add_argument("--out", default="build/plan/plan.json", help="plan file to write")
    parser.add_argument("--objective", default="metric", choices=["loss", "metric", "estimate"], help="damage measure")
    parser.add_argument("--importance", default="l2", help="criterion choosing which channels go (default l2)")
    parser.add_argument("--samples", type=int, default=1000, help="choosing samples for the scan (default 1000)")
    parser.add_argument("--ratios", default="0.1,0.3,0.5,0.7,0.9", help="sensitivity ratio grid")
    parser.add_argument("--round-to", type=int, default=1, help="keep channel counts a multiple of this")
    parser.add_argument("--max-ratio", type=float, default=0.9, help="never prune more of one group than this")
    parser.add_argument("--ignore", action="append", default=[], help="layer path to leave unpruned (repeatable)")
    parser.add_argument("--no-blocks", action="store_true", help="never drop whole blocks")
    parser.add_argument("--epochs", type=int, default=2, help="tolerance mode: fine-tune epochs per candidate")
    parser.add_argument("--steps", type=int, default=5, help="tolerance mode: bisection steps")
    parser.add_argument("--cache-dir", default="build/cache/sensitivity", help="scan cache ('' disables)")


def run(args: argparse.Namespace) -> int:
    from edgeprune.atomic import write_json
    from edgeprune.config import FinetuneConfig
    from edgeprune.errors import EdgepruneError
    from edgeprune.planning.budget import plan_to_budget
    from edgeprune.planning.tolerance import smallest_within
    from edgeprune.sensitivity.loading import load_model_and_data
    from edgeprune.sensitivity.samples import choosing_samples
    from edgeprune.sensitivity.scan import sensitivity

    kind, value = ("macs", args.macs) if args.macs is not None else ("params", args.params)
    if not 0.0 < value <= 1.0:
        raise EdgepruneError(f"--{kind} {value}: must be a fraction in (0, 1]")
    spec, model, data = load_model_and_data(args)
    samples = choosing_samples(data, args.samples)
    sens = sensitivity(
        model,
        data,
        args.samples,
        parse_ratios(args.ratios),
        args.importance,
        args.round_to,
        args.ignore,
        not args.no_blocks,
        args.objective != "estimate",
        args.model,
        args.cache_dir or None,
    )
    example = data.x_select[:1].clone()

    def plan_at(budget: float):
        return plan_to_budget(
            model,
            example,
            sens,
            budget,
            kind,
            samples=samples,
            objective=args.objective,
            max_ratio=args.max_ratio,
            round_to=args.round_to,
            ignored_layers=args.ignore,
            use_blocks=not args.no_blocks,
            spec=spec,
        )

    extra = {}
    if args.max_drop is None:
        chosen = plan_at(value)
    else:
        tol = smallest_within(
            model,
            data,
            plan_at,
            args.max_drop,
            FinetuneConfig(epochs=args.epochs),
            floor=value if args.macs is not None or args.params is not None else 0.05,
            steps=args.steps,
        )
        for t in tol.trials:
            print(
                f"  budget {t['budget']:.3f}: {kind} {t['fraction']:.3f}x, select {t['select_metric']:.2f}% "
                f"(drop {t['drop']:+.2f} pt) {'ok' if t['within'] else 'too much'}"
            )
        if tol.best is None:
            raise EdgepruneError(
                f"no tried budget kept the select metric within {args.max_drop} pt; "
                f"tried {[t['budget'] for t in tol.trials]}"
            )
        chosen = tol.best
        extra = {
            "tolerance": {
                "max_drop": args.max_drop,
                "base_select_metric": round(tol.base_metric, 3),
                "finetune_epochs": args.epochs,
                "trials": tol.trials,
            }
        }
    summary = chosen.summary()
    summary["predicted"]["metric"] = round(sens.base.metric - chosen.allocation.metric_drop, 3)
    summary["sensitivity"] = {"key": sens.key, "samples": sens.samples, "importance": sens.importance}
    write_json(Path(args.out), {**chosen.plan.to_dict(), "planning": {**summary, **extra}})
    print(
        f"plan: {chosen.macs:,} MACs ({summary['macs_fraction']:.3f}x), {chosen.params:,} params "
        f"({summary['params_fraction']:.3f}x); ratios {summary['ratios']}; blocks {summary['blocks']}"
    )
    print(f"wrote {args.out}")
    return 0
