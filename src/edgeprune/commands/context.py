"""Turn the shared flags into what the stages take: data, task, the unpruned baseline, a pruned model."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeprune.errors import EdgepruneError

if TYPE_CHECKING:
    from torch import nn

    from edgeprune.baseline import Baseline
    from edgeprune.data import Data, Preprocessing
    from edgeprune.prune import Plan
    from edgeprune.task import Task

DEFAULT_MODEL = "edgeprune:default"
DEFAULT_DATA = "mnist5k"


def say(text: str) -> None:
    print(f"[edgeprune] {text}", flush=True)


def preprocessing(args: argparse.Namespace) -> Preprocessing | None:
    """The user's preprocessing flags (None when none was given)."""
    from edgeprune.data import Preprocessing
    from edgeprune.data.preprocessing import parse_floats, parse_size

    given = [getattr(args, k, None) for k in ("resize", "crop", "scale", "mean", "std", "channels")]
    if all(v is None for v in given):
        return None
    mean = parse_floats(args.mean, "--mean") if args.mean else ()
    std = parse_floats(args.std, "--std") if args.std else ()
    return Preprocessing(
        resize=parse_size(args.resize, "--resize") if args.resize else None,
        crop=parse_size(args.crop, "--crop") if args.crop else None,
        scale=1.0 if args.scale is None else args.scale,
        mean=mean,
        std=std,
        channels=args.channels,
        source="user",
    )


@dataclass(frozen=True)
class Inputs:
    """The data and task one command runs on."""

    data: Data
    task: Task
    task_key: str


def inputs(args: argparse.Namespace) -> Inputs:
    from edgeprune.data import load_data
    from edgeprune.task import TaskSpec, resolve_task

    data = load_data(args.data or DEFAULT_DATA, preprocessing(args))
    for note in data.notes:
        say(f"note: {note}")
    spec = TaskSpec(
        loss=getattr(args, "loss", None) or "",
        metric=getattr(args, "metric", None) or "",
        higher_is_better=not getattr(args, "lower_is_better", False),
        distill=getattr(args, "distill", None) or "",
        kind=data.task if data.task != "classification" else "",
    )
    return Inputs(data, resolve_task(spec), spec.key)


def baseline(args: argparse.Namespace, ins: Inputs, spec: str | None = None) -> Baseline:
    """The unpruned model from --model/--checkpoint (trained once and cached when no checkpoint is given)."""
    from edgeprune.baseline import load_baseline

    return load_baseline(
        spec or args.model or DEFAULT_MODEL,
        ins.data,
        ins.task,
        args.checkpoint,
        args.train_epochs or 12,
        ins.task_key,
    )


def load_plan(path: str | Path) -> Plan:
    from edgeprune.prune import Plan
    from edgeprune.prune.io import plan_file

    return Plan.load(plan_file(path))


def pruned_from_plan(args: argparse.Namespace, ins: Inputs) -> tuple[nn.Module, Plan, Baseline]:
    """``--plan FILE`` applied to the unpruned ``--model``/``--checkpoint`` (the model the plan names when the
    plan's spec is built in; a user spec must be given with --model)."""
    import copy

    from edgeprune.prune.io import plan_file, replay, trusted_spec

    plan = load_plan(args.plan)
    where = plan_file(args.plan)
    recorded = trusted_spec(plan, where, args.model)
    base = baseline(args, ins, recorded.spec)
    if plan.model and base.spec.to_dict() != plan.model:
        raise EdgepruneError(f"{where}: field 'model' is {plan.model}, but --model/--data give {base.spec.to_dict()}")
    plan.model = base.spec.to_dict()
    model = replay(copy.deepcopy(base.model), plan, where)
    return model, plan, base


def load_pruned_arg(args: argparse.Namespace) -> tuple[nn.Module, Plan]:
    """``--pruned DIR``: a saved pruned model (user specs only with the same --model)."""
    from edgeprune.prune import load_pruned

    folder = Path(args.pruned)
    if not folder.is_dir():
        raise EdgepruneError(f"--pruned {folder}: not a folder (a saved pruned model holds plan.json + weights)")
    return load_pruned(folder, getattr(args, "model", None))
