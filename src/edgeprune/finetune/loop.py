"""Seeded training loop with cosine LR, optional distillation, and best-on-select model selection."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.data import Dataset
from edgeprune.finetune.distill import distillation_loss
from edgeprune.finetune.evaluate import evaluate, predict
from edgeprune.progress import progress_bar


@dataclass
class FitResult:
    """What a run did: per-epoch history and the selected epoch (by the select split, never by val)."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_select_acc: float = float("nan")


def _optimizer(model: nn.Module, cfg: FinetuneConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True
        )
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def fit(
    model: nn.Module,
    data: Dataset,
    cfg: FinetuneConfig,
    teacher: nn.Module | None = None,
    description: str = "fine-tune",
) -> FitResult:
    """Train ``model`` in place for ``cfg.epochs``; keep the weights of the best epoch on the select split."""
    result = FitResult()
    if cfg.epochs == 0:
        return result
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = _optimizer(model, cfg)
    steps_per_epoch = -(-len(data.x_train) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    use_teacher = teacher if (cfg.distill and teacher is not None) else None
    teacher_logits = predict(use_teacher, data.x_train) if use_teacher is not None else None
    best_state = copy.deepcopy(model.state_dict())
    with progress_bar(description, total=cfg.epochs * steps_per_epoch) as bar:
        for epoch in range(cfg.epochs):
            model.train()
            order = torch.randperm(len(data.x_train), generator=gen)
            running = 0.0
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                logits = model(data.x_train[idx])
                target_logits = teacher_logits[idx] if teacher_logits is not None else None
                loss = distillation_loss(
                    logits, target_logits, data.y_train[idx], cfg.alpha, cfg.temperature, cfg.label_smoothing
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += loss.item() * len(idx)
                bar.advance(loss=loss.item())
            select_acc, select_loss = evaluate(model, data.x_select, data.y_select)
            result.history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": running / len(order),
                    "select_acc": select_acc,
                    "select_loss": select_loss,
                }
            )
            bar.note(f"epoch {epoch + 1}/{cfg.epochs} select acc {select_acc:.2f}%")
            if not select_acc <= result.best_select_acc:  # also true for the first (NaN) comparison
                result.best_select_acc, result.best_epoch = select_acc, epoch + 1
                best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return result
