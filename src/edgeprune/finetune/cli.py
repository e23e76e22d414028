"""``edgeprune finetune``: recover a pruned model's accuracy; the same command runs under torchrun (DDP)."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

HELP = (
    "fine-tune a pruned model (plan.json or a saved pruned-model folder), with distillation; resumable, torchrun-ready"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan", required=True, help="plan.json (applied to the unpruned weights) or a pruned-model folder"
    )
    parser.add_argument("--model", help="unpruned architecture spec (default: the one recorded in the plan)")
    parser.add_argument("--data", default="mnist5k", help="mnist5k | digits | npz:FILE | synthetic[:CxHxW]")
    parser.add_argument("--checkpoint", help="unpruned weights (default for edgeprune:* models: the cached baseline)")
    parser.add_argument(
        "--teacher", default="auto", help="auto (the unpruned model) | none | weights FILE | pruned DIR"
    )
    parser.add_argument("--epochs", type=int, help="epochs (default 6)")
    parser.add_argument("--steps", type=int, help="optimizer steps instead of epochs")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int, help="global batch size (split across torchrun processes)")
    parser.add_argument("--optimizer", choices=["adamw", "sgd"])
    parser.add_argument("--scheduler", choices=["onecycle", "cosine", "step", "constant"])
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--patience", type=int, help="early stop after N epochs without a better select accuracy")
    parser.add_argument("--checkpoint-steps", type=int, help="also checkpoint every N steps inside an epoch")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    parser.add_argument("--out", help="run folder (default build/finetune/<plan name>)")


def _say(text: str) -> None:
    from edgeprune.finetune.distributed import is_main_process

    if is_main_process():
        print(f"[edgeprune] {text}", flush=True)


def _spec(args: argparse.Namespace, plan: Any, data: Any) -> Any:
    from edgeprune.errors import EdgepruneError
    from edgeprune.models import ModelSpec

    name = args.model or (plan.model or {}).get("spec")
    if not name:
        raise EdgepruneError(f"plan {args.plan} records no model spec; pass --model")
    spec = ModelSpec(name, num_classes=data.num_classes, in_channels=data.input_shape[0])
    if plan.model and plan.model != spec.to_dict():
        raise EdgepruneError(
            f"plan {args.plan}: field 'model' is {plan.model}, but --model/--data give {spec.to_dict()}"
        )
    return spec


def _unpruned(args: argparse.Namespace, spec: Any, data: Any, required: bool) -> nn.Module | None:
    """The unpruned model: --checkpoint, else the cached baseline (trained here only when ``required``)."""
    from edgeprune.config import ModelConfig
    from edgeprune.models import build_model, load_checkpoint
    from edgeprune.models.pretrained import cache_path, train_or_load

    if args.checkpoint:
        return load_checkpoint(build_model(spec), args.checkpoint).eval()
    epochs = ModelConfig().train_epochs
    if not required and not cache_path(spec, data, epochs).is_file():
        return None
    if spec.spec.startswith("edgeprune:") or cache_path(spec, data, epochs).is_file():
        return train_or_load(spec, data, epochs)[0]
    from edgeprune.errors import EdgepruneError

    raise EdgepruneError(
        f"--plan {args.plan} is a plan file: pass --checkpoint with the unpruned weights of {spec.spec}"
    )


def _teacher(args: argparse.Namespace, spec: Any, data: Any, unpruned: nn.Module | None) -> nn.Module | None:
    from edgeprune.models import build_model, load_checkpoint
    from edgeprune.prune import load_pruned

    if args.teacher == "none":
        return None
    if args.teacher == "auto":
        return copy.deepcopy(unpruned) if unpruned is not None else _unpruned(args, spec, data, required=False)
    path = Path(args.teacher)
    if path.is_dir():
        return load_pruned(path)[0]
    return load_checkpoint(build_model(spec), path).eval()


def _student(args: argparse.Namespace, data: Any) -> tuple[nn.Module, Any, nn.Module | None]:
    """(student, plan with its model spec, teacher or None)."""
    from edgeprune.prune import Plan, apply_plan, load_pruned

    source = Path(args.plan)
    if source.is_dir():
        student, plan = load_pruned(source)
        spec = _spec(args, plan, data)
        return student, plan, _teacher(args, spec, data, None)
    plan = Plan.load(source)
    spec = _spec(args, plan, data)
    plan.model = spec.to_dict()
    unpruned = _unpruned(args, spec, data, required=True)
    student = apply_plan(copy.deepcopy(unpruned), plan, torch.zeros(plan.input_shape))
    return student, plan, _teacher(args, spec, data, unpruned)


def _config(args: argparse.Namespace, distill: bool) -> Any:
    from edgeprune.config import FinetuneConfig
    from edgeprune.finetune.options import with_overrides

    return with_overrides(
        FinetuneConfig(),
        epochs=args.epochs,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        scheduler=args.scheduler,
        label_smoothing=args.label_smoothing,
        patience=args.patience,
        checkpoint_steps=args.checkpoint_steps,
        seed=args.seed,
        distill=None if distill else False,
    )


def run(args: argparse.Namespace) -> int:
    from edgeprune.atomic import write_json
    from edgeprune.data import load_dataset
    from edgeprune.finetune import distributed
    from edgeprune.finetune.evaluate import evaluate
    from edgeprune.finetune.loop import fit
    from edgeprune.prune import count_macs_params

    data = load_dataset(args.data)
    out = Path(args.out or f"build/finetune/{Path(args.plan).stem}")
    with distributed.session(args.device) as ctx:
        student, plan, teacher = _student(args, data)
        cfg = _config(args, distill=teacher is not None)
        before, _ = evaluate(student, data.x_val, data.y_val)
        teacher_acc = evaluate(teacher, data.x_val, data.y_val)[0] if teacher is not None else None
        _say(
            f"{ctx.world} process(es) on {ctx.device}; teacher: {'none' if teacher is None else f'{teacher_acc:.2f}%'}"
        )
        inputs = [
            p for p in (args.plan, args.checkpoint, None if args.teacher in ("auto", "none") else args.teacher) if p
        ]
        result = fit(
            student, data, cfg, teacher, "fine-tune", run_dir=out, resume=args.resume, plan=plan,
            inputs=tuple(inputs), device=args.device,
        )  # fmt: skip
        after, _ = evaluate(student, data.x_val, data.y_val)
        macs, params = count_macs_params(student, torch.zeros(plan.input_shape))
        summary = {
            "data": data.describe(),
            "config": cfg.__dict__,
            "world_size": ctx.world,
            "macs": macs,
            "params": params,
            "val_acc_before": before,
            "val_acc": after,
            "teacher_val_acc": teacher_acc,
            "best_epoch": result.best_epoch,
            "best_select_acc": result.best_select_acc,
            "stopped_early": result.stopped_early,
            "resumed_from": result.resumed_from,
            "history": result.history,
        }
        if ctx.is_main:
            write_json(out / "finetune.json", summary)
        _say(f"val top-1 {before:.2f}% -> {after:.2f}% (best epoch {result.best_epoch}); wrote {out}")
    return 0
