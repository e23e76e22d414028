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
    from edgeprune.pipeline.outputs import Input, Out
    from edgeprune.prune import Plan
    from edgeprune.task import Task

DEFAULT_MODEL = "edgeprune:default"
DEFAULT_DATA = "mnist5k"
TRAIN_EPOCHS = 12  # without --checkpoint: epochs training the baseline (cached)


def say(text: str) -> None:
    print(f"[edgeprune] {text}", flush=True)


def input_paths(args: argparse.Namespace) -> list[Input]:
    """Every path the command's flags read (model and loss files, checkpoint, plan, pruned model, data, teacher,
    target file): the out folder may not be, hold or (for data) lie in any of them."""
    from edgeprune.pipeline.outputs import Input, spec_inputs

    found: list[Input] = []
    for flag in ("checkpoint", "plan", "pruned", "teacher", "target"):
        value = getattr(args, flag, None)
        if value and Path(value).expanduser().exists():
            found.append(Input(f"--{flag}", Path(value)))
    for flag in ("model", "loss", "metric"):
        found += spec_inputs(f"--{flag}", getattr(args, flag, None))
    return found + spec_inputs("--data", getattr(args, "data", None), data=True)


def out_folder(
    args: argparse.Namespace, default: str | Path, command: str, *, replace: bool = True, writes: tuple[str, ...] = ()
) -> Out:
    """``--out`` (or ``default``) checked before any work: see :func:`edgeprune.pipeline.outputs.prepare`."""
    from edgeprune.pipeline.outputs import prepare

    return prepare(args.out or default, command, args.force, replace=replace, writes=writes, inputs=input_paths(args))


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


def recorded_plan(args: argparse.Namespace) -> tuple[Plan | None, Path | None]:
    """The plan a command continues from (``--pruned DIR`` or ``--plan FILE``) and its file, or (None, None)."""
    from edgeprune.prune.io import plan_file

    source = getattr(args, "pruned", None) or getattr(args, "plan", None)
    if not source:
        return None, None
    where = plan_file(source)
    if getattr(args, "pruned", None) and not Path(args.pruned).is_dir():
        raise EdgepruneError(f"--pruned {args.pruned}: not a folder (a saved pruned model holds plan.json + weights)")
    return load_plan(where), where


def _recorded_data(args: argparse.Namespace, plan: Plan | None, where: Path | None) -> tuple[str, Preprocessing | None]:
    """The data spec and preprocessing to load: the flags, else what ``plan`` recorded, else the default data."""
    from edgeprune.data import Preprocessing
    from edgeprune.data.spec import is_user_code

    given = preprocessing(args)
    if args.data or plan is None or not plan.data:
        return args.data or DEFAULT_DATA, given
    spec = str(plan.data["spec"])
    if is_user_code(spec):
        raise EdgepruneError(
            f"{where}: field 'data.spec' names user code '{spec}'; edgeprune runs user code only when you name it"
            f" yourself: pass --data {spec} if you trust it"
        )
    recorded = plan.data.get("preprocessing")
    if given is None and recorded:
        try:
            given = Preprocessing.from_dict({**recorded, "source": "user"})
        except EdgepruneError as exc:
            raise EdgepruneError(f"{where}: field 'data.preprocessing': {exc}") from None
    say(f"data: {spec} (recorded in {where}; --data overrides)")
    return spec, given


def _class_count(args: argparse.Namespace, data: Data, plan: Plan | None) -> int | None:
    """``--num-classes``, else the plan's model's class count when the data's labels fit in it (a model may have
    classes the data does not show), else None (from the labels)."""
    if getattr(args, "num_classes", None) is not None:
        return args.num_classes
    recorded = (plan.model or {}).get("num_classes") if plan is not None else None
    if isinstance(recorded, int) and data.num_classes is not None and data.num_classes < recorded:
        return recorded
    return None


def inputs(args: argparse.Namespace, plan: Plan | None = None, where: Path | None = None) -> Inputs:
    """Data and task from the flags; a command continuing from ``plan`` takes the data (and class count) the plan
    recorded unless ``--data`` says otherwise."""
    from edgeprune.data import load_data
    from edgeprune.data.labels import with_class_count
    from edgeprune.task import TaskSpec, resolve_task

    spec, pre = _recorded_data(args, plan, where)
    data = load_data(spec, pre)
    data = with_class_count(data, _class_count(args, data, plan))
    for note in data.notes:
        say(f"note: {note}")
    task = TaskSpec(
        loss=getattr(args, "loss", None) or "",
        metric=getattr(args, "metric", None) or "",
        higher_is_better=not getattr(args, "lower_is_better", False),
        distill=getattr(args, "distill", None) or "",
        kind=data.task if data.task != "classification" else "",
    )
    return Inputs(data, resolve_task(task), task.key)


def baseline(
    args: argparse.Namespace,
    ins: Inputs,
    spec: str | None = None,
    plan: Plan | None = None,
    where: Path | None = None,
    *,
    choosing: bool = False,
) -> Baseline:
    """The unpruned model from --model/--checkpoint (trained once and cached when no checkpoint is given). A command
    continuing from ``plan`` uses the unpruned weights the plan was made on (its recorded checkpoint, or the same
    training recipe, hence the same cached baseline) unless --checkpoint/--train-epochs say otherwise.
    ``choosing``: the command chooses with the baseline's metric (plan, sensitivity), so a checkpoint scoring at
    chance level stops it unless --allow-chance-baseline."""
    from edgeprune.baseline import load_baseline

    recorded = (plan.baseline or {}) if plan is not None else {}
    checkpoint, epochs = args.checkpoint, args.train_epochs
    if checkpoint is None and epochs is None and recorded.get("checkpoint"):
        checkpoint = recorded["checkpoint"]
        say(f"checkpoint: {checkpoint} (recorded in {where}; --checkpoint overrides)")
    if checkpoint is None and epochs is None:
        epochs = recorded.get("train_epochs")
    return load_baseline(
        spec or args.model or DEFAULT_MODEL,
        ins.data,
        ins.task,
        checkpoint,
        epochs or TRAIN_EPOCHS,
        ins.task_key,
        estimate_bn_stats=bool(getattr(args, "estimate_bn_stats", False)),
        allow_chance=bool(getattr(args, "allow_chance_baseline", False)) if choosing else None,
    )


def baseline_record(args: argparse.Namespace, base: Baseline) -> dict:
    """What a plan records about its unpruned weights: the user's checkpoint (absolute), or the training recipe
    that made the cached baseline."""
    if base.source == "checkpoint":
        return {"checkpoint": str(Path(base.checkpoint).resolve()), "train_epochs": None}
    return {"checkpoint": None, "train_epochs": args.train_epochs or TRAIN_EPOCHS}


def load_plan(path: str | Path) -> Plan:
    from edgeprune.prune import Plan
    from edgeprune.prune.io import plan_file

    return Plan.load(plan_file(path))


def pruned_from_plan(
    args: argparse.Namespace, ins: Inputs, plan: Plan | None = None, where: Path | None = None
) -> tuple[nn.Module, Plan, Baseline]:
    """``--plan FILE`` applied to the unpruned ``--model``/``--checkpoint`` (the model the plan names when the
    plan's spec is built in; a user spec must be given with --model)."""
    import copy

    from edgeprune.prune.io import plan_file, replay, trusted_spec

    if plan is None:
        plan, where = load_plan(args.plan), plan_file(args.plan)
    recorded = trusted_spec(plan, where, args.model)
    base = baseline(args, ins, recorded.spec, plan, where)
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


def record_data(args: argparse.Namespace, plan: Plan, ins: Inputs, base: Baseline | None = None) -> None:
    """Record in ``plan`` the data this command ran on and the unpruned weights it started from (the next command
    takes them without ``--data``/``--checkpoint``)."""
    from edgeprune.data.spec import data_record

    if args.data or not plan.data:
        plan.data = data_record(args.data or DEFAULT_DATA, ins.data.preprocessing)
    if base is not None:
        plan.baseline = baseline_record(args, base)


def check_input_shape(plan: Plan, where: Path, data: Data) -> None:
    """The data's samples have the shape the plan was made for; otherwise one line saying which data to give."""
    if list(plan.input_shape[1:]) == list(data.input_shape):
        return
    advice = "pass the --data it was planned on" if not plan.data else f"it records data '{plan.data['spec']}'"
    raise EdgepruneError(
        f"{where} was planned for inputs {plan.input_shape[1:]}, data '{data.name}' has {list(data.input_shape)};"
        f" {advice}"
    )
