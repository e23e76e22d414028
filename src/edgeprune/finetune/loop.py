"""Seeded, resumable training loop: LR schedules, distillation, early stop on select, DDP under torchrun.

``fit`` trains a model in place and keeps the weights of the best epoch on the *select* split. With a
``run_dir`` it writes an atomic checkpoint after every epoch (and every ``checkpoint_steps`` steps), and
``resume=True`` continues from the newest one: on CPU the final weights are bit-identical to an
uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from edgeprune.atomic import finite, write_json
from edgeprune.config import FinetuneConfig
from edgeprune.data import ArrayDataset, Data, fetch, take
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import checkpoint as ckpt
from edgeprune.finetune import distributed
from edgeprune.finetune.distill import training_loss
from edgeprune.progress import progress_bar
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.task import CLASSIFICATION, Task, score_batches

RESULT_FILE = "result.json"
MODEL_DIR = "model"


@dataclass
class FitResult:
    """What a run did: per-epoch history and the selected epoch (by the select split, never by val)."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1  # 0: no epoch beat the weights fit started from (they are kept)
    best_select_metric: float = float("nan")
    start_select_metric: float = float("nan")  # the starting weights on the select split (NaN: not a candidate)
    steps: int = 0
    stopped_early: bool = False
    resumed_from: str | None = None
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data; a metric not measured (NaN) is None, so result.json stays strict JSON."""
        return finite(dataclasses.asdict(self))


class Callback(Protocol):
    """Hook into training (e.g. accumulate Taylor importance); its state rides along in checkpoints.

    A callback may also define ``on_epoch_end(model, record)``, called after each epoch's evaluation;
    ``ready_for_selection(model) -> bool``: False while the model is not in its final form (e.g. a sparsity
    ramp still running), so that epoch is never kept as the best (until one is ready, the latest epoch is
    kept) and does not count towards ``patience``; and ``on_fit_end(model)``, called on the selected weights
    before ``fit`` writes its outputs (e.g. to bake weight masks).
    """

    def after_backward(self, model: nn.Module) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class _Progress:
    """Everything that moves during training besides model/optimizer/scheduler."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer steps taken
    position: int = 0  # samples of the current epoch's order consumed
    order: torch.Tensor | None = None
    loss_sum: float = 0.0
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)


def _optimizer(model: nn.Module, cfg: FinetuneConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True
        )
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, cfg: FinetuneConfig, total: int, per_epoch: int) -> Any:
    """Per-step LR schedule: one-cycle, cosine to zero, step decay per ``step_epochs`` or constant."""
    sched = torch.optim.lr_scheduler
    if cfg.scheduler == "onecycle":
        return sched.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=cfg.warmup_pct)
    if cfg.scheduler == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=total)
    if cfg.scheduler == "step":
        return sched.StepLR(opt, step_size=cfg.step_epochs * per_epoch, gamma=cfg.gamma)
    return sched.ConstantLR(opt, factor=1.0, total_iters=0)


def _sequential(dataset: Any) -> Iterator[tuple[Any, Any]]:
    from edgeprune.data import batches

    return batches(dataset, 500)


class _QuietBar:
    """Progress stand-in for ranks other than 0 (only rank 0 reports)."""

    def advance(self, n: int = 1, **fields: float) -> None:
        pass

    def note(self, text: str) -> None:
        pass


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class _Run:
    """One fit call's moving parts, so each phase is a short method."""

    def __init__(
        self,
        model: nn.Module,
        data: Data,
        cfg: FinetuneConfig,
        teacher: nn.Module | None,
        ctx: distributed.Context,
        callback: Callback | None,
        plan: Any,
        task: Task,
    ) -> None:
        self.model, self.cfg, self.ctx, self.callback, self.plan, self.task = model, cfg, ctx, callback, plan, task
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        dev = ctx.device
        model.to(dev)
        self.train_set, self.select_set = data.train, data.select
        task.see(model, take(data.select, 1)[0].to(dev))  # a task that reads the model (detection) binds here
        self.n = len(self.train_set)
        self.per_epoch = -(-self.n // cfg.batch_size)
        self.total = cfg.steps or cfg.epochs * self.per_epoch
        self.max_epochs = -(-self.total // self.per_epoch)
        self.opt = _optimizer(model, cfg)
        self.sched = _scheduler(self.opt, cfg, self.total, self.per_epoch)
        self.teacher = teacher.to(dev).eval() if (cfg.distill and teacher is not None) else None
        self.state = _Progress(best_state=_cpu_state(model))
        self.result = FitResult()
        self.net = distributed.wrap(model, ctx)

    # -- checkpoints -------------------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        s = self.state
        return {
            "config": dataclasses.asdict(self.cfg),
            "plan": self.plan.to_dict() if self.plan is not None else None,
            "model": _cpu_state(self.model),
            "best_model": s.best_state,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "rng": {**ckpt.rng_state(), "generator": self.gen.get_state()},
            "epoch": s.epoch,
            "step": s.step,
            "position": s.position,
            "order": s.order,
            "loss_sum": distributed.all_sum(s.loss_sum, self.ctx),
            "bad_epochs": s.bad_epochs,
            "stopped": s.stopped,
            "history": self.result.history,
            "best_epoch": self.result.best_epoch,
            "best_select_metric": self.result.best_select_metric,
            "start_select_metric": self.result.start_select_metric,
            "callback": self.callback.state_dict() if self.callback is not None else None,
            "world": self.ctx.world,
        }

    def save(self, run_dir: Path | None) -> None:
        if run_dir is None:
            return
        payload = self.payload()  # collective (loss sum) on every rank
        if self.ctx.is_main:
            ckpt.save_checkpoint(run_dir, payload, self.cfg.keep_checkpoints)

    def restore(self, path: Path, data: dict[str, Any]) -> None:
        diff = ckpt.config_mismatch(data["config"], dataclasses.asdict(self.cfg))
        if diff:
            raise EdgepruneError(f"cannot resume from {path}: config field(s) {diff} differ from this run's")
        if data["plan"] != (self.plan.to_dict() if self.plan is not None else None):
            raise EdgepruneError(f"cannot resume from {path}: it was written for another pruning plan")
        self.model.load_state_dict(data["model"])
        self.opt.load_state_dict(data["optimizer"])
        self.sched.load_state_dict(data["scheduler"])
        ckpt.set_rng_state(data["rng"])
        self.gen.set_state(data["rng"]["generator"])
        s = self.state
        s.epoch, s.step, s.position, s.order = data["epoch"], data["step"], data["position"], data["order"]
        s.loss_sum = data["loss_sum"] if self.ctx.is_main else 0.0
        s.bad_epochs, s.stopped, s.best_state = data["bad_epochs"], data["stopped"], data["best_model"]
        self.result.history = list(data["history"])
        self.result.best_epoch, self.result.best_select_metric = data["best_epoch"], data["best_select_metric"]
        self.result.start_select_metric = data.get("start_select_metric", float("nan"))  # older checkpoints: unknown
        if self.callback is not None and data["callback"] is not None:
            self.callback.load_state_dict(data["callback"])
        self.result.resumed_from = str(path)

    # -- training ----------------------------------------------------------------------------------
    def train_step(self, x: Any, y: Any, global_size: int) -> float:
        dev = self.ctx.device
        x, y = x.to(dev), (y.to(dev) if isinstance(y, torch.Tensor) else y)
        out = self.net(x)
        target = None
        if self.teacher is not None:
            with torch.no_grad():
                target = self.teacher(x)
        c = self.cfg
        loss = training_loss(self.task, out, y, target, c.alpha, c.temperature, c.label_smoothing)
        value = loss.item()
        if not math.isfinite(value):
            lr = float(self.sched.get_last_lr()[0])
            raise EdgepruneError(
                f"training loss became {value} at step {self.state.step + 1} (epoch {self.state.epoch + 1},"
                f" lr {lr:.3g}); lower finetune.lr or check the data for extreme values"
            )
        # DDP averages gradients over ranks; weight each shard so the result is the global-batch mean
        scaled = loss * (len(x) * self.ctx.world / global_size) if self.ctx.distributed else loss
        self.opt.zero_grad(set_to_none=True)
        scaled.backward()
        if self.callback is not None:
            self.callback.after_backward(self.model)
        self.opt.step()
        self.sched.step()
        after = getattr(self.callback, "after_step", None)
        if after is not None:
            after(self.model)
        self.state.loss_sum += value * len(x)
        return value

    def select_score(self) -> Any:
        """The model on the select split, BatchNorm statistics re-estimated on train samples first."""
        if self.cfg.recalibrate_bn:
            # running statistics only serve evaluation; re-estimating them on train samples makes the select
            # metric judge the weights, not statistics lagging behind them (torchvision's MobileNetV3 uses
            # momentum 0.01: after 100 steps its eval mode still predicted one class where train mode had learned)
            x, _ = take(self.train_set, self.cfg.recalibrate_bn)
            recalibrate_bn(self.model, x.to(self.ctx.device))
        distributed.sync_buffers(self.model, self.ctx)
        return score_batches(self.model, _sequential(self.select_set), self.task, self.ctx.device)

    def score_start(self) -> None:
        """The starting weights are the first candidate: an epoch must beat them on select to be kept, so a fit
        never hands back a model worse on select than the one it was given (skipped while a callback says the
        model is not in its final form, e.g. a sparsity ramp)."""
        if self.callback is not None and getattr(self.callback, "ready_for_selection", None) is not None:
            return
        score = self.select_score()
        r = self.result
        r.start_select_metric = r.best_select_metric = score.metric
        r.best_epoch = 0
        self.state.best_state = _cpu_state(self.model)

    def end_epoch(self, bar: Any) -> None:
        s, r = self.state, self.result
        score = self.select_score()
        s.epoch += 1
        train_loss = distributed.all_sum(s.loss_sum, self.ctx) / max(s.position, 1)
        r.history.append(
            {
                "epoch": s.epoch,
                "step": s.step,
                "lr": float(self.sched.get_last_lr()[0]),
                "train_loss": train_loss,
                "select_metric": score.metric,
                "select_loss": score.loss,
            }
        )
        bar.note(f"epoch {s.epoch}/{self.max_epochs} select {self.task.metric_name} {self.task.format(score.metric)}")
        ready = getattr(self.callback, "ready_for_selection", None)
        if ready is not None and not ready(self.model):  # keep the latest; the first ready epoch replaces it
            r.best_select_metric, r.best_epoch = float("nan"), s.epoch
            s.best_state = _cpu_state(self.model)
        elif self.task.better(score.metric, r.best_select_metric):
            r.best_select_metric, r.best_epoch, s.bad_epochs = score.metric, s.epoch, 0
            s.best_state = _cpu_state(self.model)
        else:
            s.bad_epochs += 1
            if self.cfg.patience and s.bad_epochs >= self.cfg.patience:
                s.stopped = True
                bar.note(f"early stop: no better select {self.task.metric_name} for {s.bad_epochs} epoch(s)")
        s.order, s.position, s.loss_sum = None, 0, 0.0
        hook = getattr(self.callback, "on_epoch_end", None)
        if hook is not None:
            hook(self.model, r.history[-1])

    def _epoch_batches(self) -> Iterator[tuple[torch.Tensor, Any, Any]]:
        """(global index batch, x, y) for the rest of this epoch, from the saved position on (this rank's shard)."""
        s, bs = self.state, self.cfg.batch_size
        batches = [s.order[p : p + bs] for p in range(s.position, self.n, bs)]
        if isinstance(self.train_set, ArrayDataset) or not self.cfg.workers:
            for idx in batches:
                x, y = fetch(self.train_set, distributed.shard(idx, self.ctx))
                yield idx, x, y
            return
        from torch.utils.data import DataLoader, default_collate

        shards = [distributed.shard(idx, self.ctx).tolist() for idx in batches]
        loader = DataLoader(
            self.train_set, batch_sampler=shards, num_workers=self.cfg.workers, collate_fn=default_collate
        )
        for idx, (x, y) in zip(batches, loader, strict=False):
            yield idx, x, y

    def loop(self, run_dir: Path | None, description: str) -> None:
        s, c = self.state, self.cfg
        bars = progress_bar(description, total=self.total) if self.ctx.is_main else nullcontext(_QuietBar())
        with bars as bar:
            if s.step:
                bar.advance(s.step)
            while not s.stopped and s.epoch < self.max_epochs:
                if s.order is None:
                    s.order = torch.randperm(self.n, generator=self.gen)
                self.net.train()
                for idx, x, y in self._epoch_batches():
                    if s.step >= self.total:
                        break
                    loss = self.train_step(x, y, len(idx))
                    s.position += len(idx)
                    s.step += 1
                    bar.advance(loss=loss)
                    mid_epoch = s.position < self.n and s.step < self.total
                    if c.checkpoint_steps and s.step % c.checkpoint_steps == 0 and mid_epoch:
                        self.save(run_dir)
                self.end_epoch(bar)
                self.save(run_dir)

    def finish(self) -> FitResult:
        self.model.load_state_dict(self.state.best_state)
        self.model.to("cpu").eval()
        hook = getattr(self.callback, "on_fit_end", None)
        if hook is not None:
            hook(self.model)
        self.result.steps = self.state.step
        self.result.stopped_early = self.state.stopped
        return self.result


def _write_outputs(run_dir: Path, model: nn.Module, plan: Any, result: FitResult) -> None:
    from edgeprune.models import save_weights

    if plan is not None and plan.model is not None:
        from edgeprune.prune import save_pruned

        save_pruned(run_dir / MODEL_DIR, model, plan)
    else:
        save_weights(model, run_dir / MODEL_DIR / "weights.safetensors")
    write_json(run_dir / RESULT_FILE, result.to_dict())


def fit(
    model: nn.Module,
    data: Data,
    cfg: FinetuneConfig,
    teacher: nn.Module | None = None,
    description: str = "fine-tune",
    *,
    task: Task = CLASSIFICATION,
    run_dir: str | Path | None = None,
    resume: bool = False,
    plan: Any = None,
    inputs: tuple[str | Path, ...] = (),
    callback: Callback | None = None,
    device: str = "cpu",
) -> FitResult:
    """Train ``model`` in place; keep the weights of the best epoch on the select split (model ends on CPU).

    ``run_dir``: folder for checkpoints, ``result.json`` and the final model (``plan`` + weights when the
    plan names its model spec). ``inputs``: files the run must never overwrite. Under torchrun the
    process group is joined here and every rank must call ``fit`` with the same arguments.
    """
    tc = cfg
    if tc.epochs == 0 and tc.steps == 0:
        return FitResult()
    start = time.perf_counter()
    ctx = distributed.context(device)
    if tc.batch_size % ctx.world:
        raise EdgepruneError(f"finetune.batch_size {tc.batch_size} is not divisible by the {ctx.world} processes")
    if len(data.train) == 0:
        raise EdgepruneError(f"dataset {data.name}: the train split is empty")
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None and ctx.is_main:
        ckpt.guard_run_dir(run_path, list(inputs), resume)
    distributed.barrier(ctx)
    run = _Run(model, data, tc, teacher, ctx, callback, plan, task)
    if run_path is not None and resume:
        if ctx.is_main:
            ckpt.remove_stale_temps(run_path)
        distributed.barrier(ctx)
        restored = ckpt.newest_loadable(run_path)
        if restored is not None:
            run.restore(*restored)
    if run.state.step == 0 and run.state.epoch == 0:
        run.score_start()
    run.loop(run_path, description)
    result = run.finish()
    result.wall_s = time.perf_counter() - start
    if teacher is not None:
        teacher.to("cpu")
    if run_path is not None and ctx.is_main:
        _write_outputs(run_path, model, plan, result)
    distributed.barrier(ctx)
    return result


def epochs_for(cfg: FinetuneConfig, n_train: int) -> int:
    """Epochs a config runs on ``n_train`` samples (``steps`` wins over ``epochs`` when set)."""
    tc = cfg
    per_epoch = math.ceil(n_train / tc.batch_size)
    return math.ceil(tc.steps / per_epoch) if tc.steps else tc.epochs
