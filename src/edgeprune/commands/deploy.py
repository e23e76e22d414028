"""``edgeprune deploy``: the whole chain on a target, with flag overrides of the target's fields."""

from __future__ import annotations

import argparse

HELP = "load or train the model, prune to the target's budget, fine-tune, export, verify, benchmark and report"
FLAGS = ("model", "data", "task", "budget", "pruning", "methods", "ignore", "finetune", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="target name in targets/ (e.g. tflite) or a .toml path")


def overrides(args: argparse.Namespace) -> dict[str, object]:
    """The target fields the flags override (None: keep the target's)."""
    from edgeprune.data.preprocessing import parse_floats, parse_size

    size = lambda text, flag: list(parse_size(text, flag)) if text else None  # noqa: E731
    return {
        "model": args.model,
        "checkpoint": args.checkpoint,
        "train_epochs": args.train_epochs,
        "estimate_bn_stats": args.estimate_bn_stats,
        "allow_chance_baseline": args.allow_chance_baseline,
        "data": args.data,
        "resize": tuple(size(args.resize, "--resize")) if args.resize else None,
        "crop": tuple(size(args.crop, "--crop")) if args.crop else None,
        "scale": args.scale,
        "mean": parse_floats(args.mean, "--mean") if args.mean else None,
        "std": parse_floats(args.std, "--std") if args.std else None,
        "channels": args.channels,
        "num_classes": args.num_classes,
        "loss": args.loss,
        "metric": args.metric,
        "higher_is_better": False if args.lower_is_better else None,
        "macs": args.macs,
        "params": args.params,
        "method": args.method,
        "importance": args.importance,
        "round_to": args.round_to,
        "max_ratio": args.max_ratio,
        "max_drop": args.max_drop,
        "sparsity": args.sparsity,
        "pattern": args.pattern,
        "when": args.when,
        "latency_ms": args.latency_ms,
        "speedup": args.speedup,
        "sram_kib": args.sram_kib,
        "flash_kib": args.flash_kib,
        "arena_kib": args.arena_kib,
        "epochs": args.epochs,
        "lr": args.lr,
        "seed": args.seed,
    }


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edgeprune.commands.context import input_paths, say
    from edgeprune.pipeline import outputs
    from edgeprune.pipeline.overrides import apply_overrides, replaced_budget
    from edgeprune.pipeline.targets import load_target

    target = load_target(args.target, check=False)  # a bad target fails before torch is imported
    read = [*outputs.target_inputs(target), *input_paths(args)]
    out = args.out or Path("build") / "deploy" / target.name
    outputs.prepare(out, "deploy", args.force, inputs=read)  # the out folder, too, before torch is imported
    if args.ignore:
        import dataclasses

        target = dataclasses.replace(target, prune=dataclasses.replace(target.prune, ignored_layers=tuple(args.ignore)))
    changes = overrides(args)
    updated = apply_overrides(target, **changes)
    note = replaced_budget(target, changes)
    if note:
        say(f"note: {note}")
    from edgeprune.pipeline import DeployRequest, deploy

    deploy(DeployRequest(updated, args.out, args.force, tuple(read)))
    return 0
