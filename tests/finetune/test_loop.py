"""The training loop: schedules, steps, early stop, determinism, distillation, checkpoints and exact resume."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from edgeprune.config import FinetuneConfig
from edgeprune.errors import ConfigError, EdgepruneError
from edgeprune.finetune import fit
from edgeprune.finetune.checkpoint import list_checkpoints, load_checkpoint_file
from edgeprune.finetune.distill import training_loss
from edgeprune.task import CLASSIFICATION, evaluate

STEP_BATCH = 64  # the step and checkpoint counts below are for 64 samples a batch (FinetuneConfig defaults to 32)


def distillation_loss(s, t, y, alpha, temperature):
    return training_loss(CLASSIFICATION, s, y, t, alpha, temperature)


def _model(name: str = "edgenet4", seed: int = 0) -> nn.Module:
    import tinymodels

    torch.manual_seed(seed)
    return getattr(tinymodels, name)()


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_learns_and_keeps_best_select_epoch(digits) -> None:
    model = _model()
    result = fit(model, digits, FinetuneConfig(batch_size=STEP_BATCH, epochs=3, lr=5e-3, distill=False))
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    best = max(h["select_metric"] for h in result.history)
    assert result.start_select_metric < best  # an untrained model: training beats the start
    assert result.best_select_metric == best and result.history[result.best_epoch - 1]["select_metric"] == best
    assert evaluate(model, digits.select)[0] == pytest.approx(best)
    assert best > 60.0 and result.steps == 3 * 20  # 1258 train samples / 64 per batch -> 20 steps an epoch


@pytest.mark.parametrize(
    ("scheduler", "expected"),
    [("cosine", 0.0), ("step", 1e-2 * 0.5**2), ("constant", 1e-2), ("onecycle", None)],
)
def test_lr_schedules(digits, scheduler: str, expected: float | None) -> None:
    cfg = FinetuneConfig(
        epochs=2, lr=1e-2, scheduler=scheduler, step_epochs=1, gamma=0.5, optimizer="sgd", distill=False
    )
    lrs = [h["lr"] for h in fit(_model("plain"), digits, cfg).history]
    if expected is None:  # one-cycle: warms up then anneals far below the peak
        assert lrs[-1] < 1e-2 / 100
    else:
        assert lrs[-1] == pytest.approx(expected, abs=1e-12)


def test_steps_override_epochs_and_partial_epoch_is_evaluated(digits) -> None:
    result = fit(_model("plain"), digits, FinetuneConfig(batch_size=STEP_BATCH, epochs=9, steps=25, distill=False))
    assert result.steps == 25 and [h["step"] for h in result.history] == [20, 25]


def test_early_stop_on_select_patience(digits) -> None:
    cfg = FinetuneConfig(batch_size=STEP_BATCH, epochs=6, lr=1e-12, scheduler="constant", patience=2, distill=False)
    result = fit(_model("plain"), digits, cfg)  # no BatchNorm, no learning: select accuracy never improves
    # the starting weights are the first candidate: two epochs not beating them stop the run, and they are kept
    assert result.stopped_early and len(result.history) == 2 and result.best_epoch == 0
    assert result.best_select_metric == result.start_select_metric


def test_seeded_runs_are_identical_and_seed_matters(digits) -> None:
    runs = []
    for seed in (0, 0, 1):
        model = _model()
        fit(model, digits, FinetuneConfig(batch_size=STEP_BATCH, epochs=1, seed=seed, distill=False))
        runs.append(model)
    assert _same(runs[0], runs[1]) and not _same(runs[0], runs[2])


def test_distillation_loss_math() -> None:
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    ce = F.cross_entropy(s, y)
    assert torch.allclose(distillation_loss(s, None, y, 0.7, 4.0), ce)
    assert torch.allclose(distillation_loss(s, t, y, 0.0, 4.0), ce)
    assert torch.allclose(distillation_loss(s, s, y, 0.5, 4.0), 0.5 * ce)  # KL(p || p) = 0
    kl = F.kl_div(F.log_softmax(s / 2, 1), F.softmax(t / 2, 1), reduction="batchmean")
    assert torch.allclose(distillation_loss(s, t, y, 1.0, 2.0), 4 * kl, atol=1e-6)


def test_distillation_is_used_when_a_teacher_exists(digits) -> None:
    teacher = _model(seed=3).eval()
    with_teacher, without = _model(), _model()
    fit(with_teacher, digits, FinetuneConfig(batch_size=STEP_BATCH, epochs=1), teacher)
    fit(without, digits, FinetuneConfig(batch_size=STEP_BATCH, epochs=1), None)
    off = _model()
    fit(off, digits, FinetuneConfig(batch_size=STEP_BATCH, epochs=1, distill=False), teacher)
    assert not _same(with_teacher, without) and _same(off, without)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"finetune\.scheduler"):
        FinetuneConfig(scheduler="linear")
    with pytest.raises(ConfigError, match=r"finetune\.patience"):
        FinetuneConfig(patience=-1)
    with pytest.raises(ConfigError, match=r"finetune\.lr"):
        FinetuneConfig(lr=float("inf"))


def test_resume_from_any_checkpoint_is_bit_exact(digits, tmp_path) -> None:
    """Resume from a mid-epoch and from an end-of-epoch checkpoint: same final weights, bit for bit."""
    cfg = FinetuneConfig(batch_size=STEP_BATCH, epochs=3, checkpoint_steps=7, keep_checkpoints=100)
    teacher = _model(seed=5).eval()
    full = _model()
    ref = fit(full, digits, cfg, teacher, run_dir=tmp_path / "full")
    names = [p.name for p in list_checkpoints(tmp_path / "full")]
    assert "s00000014-e0000.pt" in names and "s00000020-e0001.pt" in names and names[-1] == "s00000060-e0003.pt"
    for keep_until in ("s00000014-e0000.pt", "s00000020-e0001.pt", "s00000049-e0002.pt"):
        run = tmp_path / f"resume-{keep_until}"
        shutil.copytree(tmp_path / "full" / "checkpoints", run / "checkpoints")
        for p in list_checkpoints(run):
            if p.name > keep_until:
                p.unlink()
        resumed = _model(seed=9)  # different initial weights: everything must come from the checkpoint
        result = fit(resumed, digits, cfg, teacher, run_dir=run, resume=True)
        assert result.resumed_from is not None and result.resumed_from.endswith(keep_until)
        assert _same(resumed, full), keep_until
        assert result.history == ref.history and result.best_epoch == ref.best_epoch
    data = load_checkpoint_file(list_checkpoints(tmp_path / "full")[-1])
    assert data["epoch"] == 3 and data["step"] == 60 and data["position"] == 0
    assert {"model", "optimizer", "scheduler", "rng", "order", "best_model"} <= set(data)


def test_keeps_only_newest_checkpoints(digits, tmp_path) -> None:
    fit(
        _model("plain"),
        digits,
        FinetuneConfig(batch_size=STEP_BATCH, epochs=3, keep_checkpoints=2, distill=False),
        run_dir=tmp_path,
    )
    assert [p.name for p in list_checkpoints(tmp_path)] == ["s00000040-e0002.pt", "s00000060-e0003.pt"]
    assert (tmp_path / "result.json").is_file() and (tmp_path / "model" / "weights.safetensors").is_file()


def test_run_folder_guards(digits, tmp_path) -> None:
    cfg = FinetuneConfig(batch_size=STEP_BATCH, epochs=1, distill=False)
    (tmp_path / "in").mkdir()
    weights = tmp_path / "in" / "weights.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(EdgepruneError, match="would overwrite"):
        fit(_model("plain"), digits, cfg, run_dir=tmp_path / "in", inputs=(weights,))
    with pytest.raises(EdgepruneError, match="would overwrite"):
        fit(_model("plain"), digits, cfg, run_dir=tmp_path, inputs=(tmp_path / "in",))
    fit(_model("plain"), digits, cfg, run_dir=tmp_path / "run")
    with pytest.raises(EdgepruneError, match="already has checkpoints"):
        fit(_model("plain"), digits, cfg, run_dir=tmp_path / "run")
    with pytest.raises(EdgepruneError, match=r"config field\(s\) \['lr'\]"):
        fit(
            _model("plain"),
            digits,
            FinetuneConfig(batch_size=STEP_BATCH, epochs=1, lr=0.1, distill=False),
            run_dir=tmp_path / "run",
            resume=True,
        )
    assert weights.read_bytes() == b"x"


def test_non_finite_loss_stops_at_once_naming_step_and_lr(digits) -> None:
    from edgeprune.data import ArrayDataset, Data

    x, y = digits.train.batch(list(range(len(digits.train))))
    bad = x.clone()
    bad[70] = float("inf")  # the second batch holds an infinite pixel
    poisoned = Data(**{**digits.__dict__, "train": ArrayDataset(bad, y)})
    with pytest.raises(EdgepruneError, match=r"training loss became nan at step \d+ \(epoch 1, lr [0-9.e-]+\)"):
        fit(
            _model("plain"),
            poisoned,
            FinetuneConfig(batch_size=STEP_BATCH, epochs=1, distill=False, scheduler="constant"),
        )


def test_resume_skips_a_truncated_newest_checkpoint(digits, tmp_path) -> None:
    cfg = FinetuneConfig(batch_size=STEP_BATCH, epochs=2, distill=False)
    full = _model("plain")
    fit(full, digits, cfg, run_dir=tmp_path / "full")
    newest = list_checkpoints(tmp_path / "full")[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # a half-written file from a crash
    resumed = _model("plain", seed=4)
    result = fit(resumed, digits, cfg, run_dir=tmp_path / "full", resume=True)
    assert result.resumed_from is not None and result.resumed_from.endswith("s00000020-e0001.pt")
    assert _same(resumed, full)


def test_a_user_task_trains_on_its_own_loss_and_metric(digits) -> None:
    from edgeprune.task import Task

    def mean_prob_of_truth(out, y):  # higher is better, not a top-1
        return float(out.softmax(1).gather(1, y[:, None]).mean())

    seen = []

    def loss(out, y):
        seen.append(out.shape)
        return F.cross_entropy(out, y)

    task = Task("custom", loss, mean_prob_of_truth, "p_true", True, CLASSIFICATION.distill)
    result = fit(_model("plain"), digits, FinetuneConfig(batch_size=STEP_BATCH, epochs=1, distill=False), task=task)
    assert seen and 0.0 < result.best_select_metric <= 1.0 and "select_metric" in result.history[0]
