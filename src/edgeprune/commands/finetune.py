"""``edgeprune finetune``: recover a pruned model's metric with distillation; resumable; runs unchanged under
``torchrun --nproc_per_node N`` (DDP)."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

HELP = "fine-tune a pruned model (--pruned DIR, or --plan FILE applied to the unpruned weights); torchrun-ready"
FLAGS = ("pruned", "plan", "model", "data", "task", "finetune", "device", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teacher", default="auto", help="auto (the unpruned model) | none | weights FILE | pruned DIR"
    )
    parser.add_argument("--steps", type=int, help="optimizer steps instead of epochs")
    parser.add_argument("--batch-size", type=int, help="global batch size (split across torchrun processes)")
    parser.add_argument("--optimizer", choices=["adamw", "sgd"])
    parser.add_argument("--scheduler", choices=["onecycle", "cosine", "step", "constant"])
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--patience", type=int, help="early stop after N epochs without a better select metric")
    parser.add_argument("--checkpoint-steps", type=int, help="also checkpoint every N steps inside an epoch")
    parser.add_argument("--workers", type=int, help="DataLoader worker processes decoding samples")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")


def _say(text: str) -> None:
    from edgeprune.finetune.distributed import is_main_process

    if is_main_process():
        print(f"[edgeprune] {text}", flush=True)


def _teacher(args: argparse.Namespace, ins: Any, unpruned: Any) -> Any:
    from edgeprune.commands.context import baseline
    from edgeprune.models import load_checkpoint
    from edgeprune.prune import load_pruned

    if args.teacher == "none":
        return None
    if args.teacher == "auto":
        return copy.deepcopy(unpruned) if unpruned is not None else None
    path = Path(args.teacher)
    if path.is_dir():
        return load_pruned(path, args.model)[0]
    model = copy.deepcopy(unpruned) if unpruned is not None else baseline(args, ins).model
    return load_checkpoint(model, path).eval()


def _student(args: argparse.Namespace, ins: Any, recorded: Any, where: Any) -> tuple[Any, Any, Any]:
    """(student, plan with its model spec, teacher or None)."""
    from edgeprune.commands.context import baseline, load_pruned_arg, pruned_from_plan
    from edgeprune.errors import EdgepruneError

    if bool(args.pruned) == bool(args.plan):
        raise EdgepruneError("give exactly one of --pruned DIR (a saved pruned model) or --plan FILE")
    if args.pruned:
        student, plan = load_pruned_arg(args)
        unpruned = None
        if args.teacher == "auto" and (
            args.checkpoint or args.model or (plan.model and str(plan.model["spec"]).startswith("edgeprune:"))
        ):  # the unpruned model: the user's weights, or the baseline trained once and cached
            unpruned = baseline(args, ins, plan.model["spec"] if not args.model else None, recorded, where).model
        return student, plan, _teacher(args, ins, unpruned)
    student, plan, base = pruned_from_plan(args, ins, recorded, where)
    return student, plan, _teacher(args, ins, base.model)


RUN_FILES = ("model/", "result.json", "finetune.json")  # what a run writes in its folder, beside its checkpoints


def run(args: argparse.Namespace) -> int:
    import os
    from contextlib import nullcontext

    from edgeprune.commands.context import check_input_shape, input_paths, inputs, recorded_plan
    from edgeprune.config import FinetuneConfig, with_changes
    from edgeprune.errors import EdgepruneError
    from edgeprune.finetune.checkpoint import CHECKPOINT_DIR
    from edgeprune.pipeline.outputs import prepare, working_in

    if bool(args.pruned) == bool(args.plan):
        raise EdgepruneError("give exactly one of --pruned DIR (a saved pruned model) or --plan FILE")
    # every setting and the run folder are checked before any data, model or teacher is loaded
    cfg = with_changes(
        FinetuneConfig(), epochs=args.epochs, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
        optimizer=args.optimizer, scheduler=args.scheduler, label_smoothing=args.label_smoothing,
        patience=args.patience, checkpoint_steps=args.checkpoint_steps, seed=args.seed, workers=args.workers,
    )  # fmt: skip
    source = Path(args.pruned or args.plan)
    out = Path(args.out or f"build/finetune/{source.stem if source.suffix else source.resolve().name}")  # run folder
    rank0 = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 owns the run folder
    folder = prepare(
        out, "finetune", args.force or args.resume, inputs=input_paths(args),
        again="pass --resume to continue its run, or --force to start over",
    ) if rank0 else None  # fmt: skip
    recorded, where = recorded_plan(args)
    ins = inputs(args, recorded, where)
    check_input_shape(recorded, where, ins.data)
    start_over = args.force and not args.resume  # the earlier run's files are edgeprune's: they go, nothing else
    with working_in(folder, RUN_FILES, start_over, (f"{CHECKPOINT_DIR}/",)) if folder is not None else nullcontext():
        _finetune(args, cfg, ins, out, recorded, where)
    return 0


def _finetune(args: argparse.Namespace, cfg: Any, ins: Any, out: Path, recorded: Any, where: Any) -> None:
    from edgeprune.atomic import write_json
    from edgeprune.commands.context import record_data
    from edgeprune.config import with_changes
    from edgeprune.finetune import distributed
    from edgeprune.finetune.loop import fit
    from edgeprune.prune import count_macs_params
    from edgeprune.task import evaluate

    with distributed.session(args.device) as ctx:
        student, plan, teacher = _student(args, ins, recorded, where)
        record_data(args, plan, ins)
        if teacher is None:
            cfg = with_changes(cfg, distill=False)
        task = ins.task
        before, _ = evaluate(student, ins.data.val, task=task)
        teacher_metric = evaluate(teacher, ins.data.val, task=task)[0] if teacher is not None else None
        _say(f"{ctx.world} process(es) on {ctx.device}; teacher: "
             f"{'none' if teacher is None else task.format(teacher_metric)}")  # fmt: skip
        sources = [p for p in (args.plan, args.pruned, args.checkpoint) if p]
        if args.teacher not in ("auto", "none"):
            sources.append(args.teacher)
        result = fit(
            student, ins.data, cfg, teacher, "fine-tune", task=task, run_dir=out, resume=args.resume, plan=plan,
            inputs=tuple(sources), device=args.device,
        )  # fmt: skip
        after, _ = evaluate(student, ins.data.val, task=task)
        macs, params = count_macs_params(student, ins.data.example())
        summary = {
            "data": ins.data.describe(),
            "task": task.describe(),
            "config": cfg.__dict__,
            "world_size": ctx.world,
            "macs": macs,
            "params": params,
            "val_metric_before": before,
            "val_metric": after,
            "teacher_val_metric": teacher_metric,
            "best_epoch": result.best_epoch,
            "best_select_metric": result.best_select_metric,
            "start_select_metric": result.start_select_metric,
            "stopped_early": result.stopped_early,
            "resumed_from": result.resumed_from,
            "history": result.history,
        }
        if ctx.is_main:
            write_json(out / "finetune.json", summary)
        _say(f"val {task.metric_name} {task.format(before)} -> {task.format(after)} (best epoch {result.best_epoch});"
             f" wrote {out}")  # fmt: skip
