"""``edgeprune prune``: apply a plan to the unpruned weights and save the pruned model (plan + safetensors), so
plan -> prune -> export runs without fine-tuning. BatchNorm statistics are re-estimated on the first train
samples: the same documented step the scan and the planner take before scoring (never on the scored samples)."""

from __future__ import annotations

import argparse

HELP = "apply a plan to the unpruned model and save the pruned model (plan.json + weights.safetensors)"
FLAGS = ("plan", "model", "data", "task", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recalibrate", type=int, default=256, help="train samples re-estimating BatchNorm (0: off)")


def run(args: argparse.Namespace) -> int:
    from edgeprune.commands.context import (
        check_input_shape,
        inputs,
        out_folder,
        pruned_from_plan,
        record_data,
        recorded_plan,
        say,
    )
    from edgeprune.data import calibration_samples
    from edgeprune.errors import EdgepruneError
    from edgeprune.pipeline.outputs import writing
    from edgeprune.progress import progress_bar
    from edgeprune.prune import count_macs_params, save_pruned
    from edgeprune.prune.recalibrate import recalibrate_bn
    from edgeprune.task import evaluate

    if not args.plan:
        raise EdgepruneError("give --plan FILE (a plan.json from `edgeprune plan`)")
    if args.recalibrate < 0:
        raise EdgepruneError(f"--recalibrate must be >= 0, got {args.recalibrate}")
    out = out_folder(args, "build/pruned", "prune")
    with writing(out) as staging:
        plan, where = recorded_plan(args)
        ins = inputs(args, plan, where)
        check_input_shape(plan, where, ins.data)
        with progress_bar("prune: apply the plan, re-estimate BatchNorm, score on select", total=3) as bar:
            model, plan, base = pruned_from_plan(args, ins, plan, where)
            bar.advance()
            if args.recalibrate:
                recalibrate_bn(model, calibration_samples(ins.data, args.recalibrate))  # the planner's documented step
            record_data(args, plan, ins, base)
            save_pruned(staging, model, plan)
            bar.advance()
            example = ins.data.example()
            macs, params = count_macs_params(model, example)
            base_macs, base_params = count_macs_params(base.model, example)
            metric, _ = evaluate(model, ins.data.select, task=ins.task)
            bar.advance()
    say(f"pruned: {macs:,} MACs ({macs / base_macs:.3f}x), {params:,} params ({params / base_params:.3f}x);"
        f" select {ins.task.metric_name} {ins.task.format(metric)} before fine-tuning")  # fmt: skip
    say(f"wrote {out.given}")
    return 0
