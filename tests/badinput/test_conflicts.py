"""Every conflict and every doomed run is refused before any work (issue 24, items 2-5): one line naming the
culprit, exit 2, no baseline trained (nothing in the run's own cache, no training epoch), and every file that was
there before byte-identical.

The models are the user's own, in their own files (tests write them): a CNN ending in a hard-coded
``x.view(-1, 16 * 8 * 8)`` and a CNN whose BatchNorm layers keep no running statistics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hardening_support import error_line, run_cli_on_tmpfs, run_main, snapshot

VIEWNET = """import torch
from torch import nn


class ViewNet(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.fc = nn.Linear(16 * 8 * 8, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        x = x.view(-1, 16 * 8 * 8)
        return self.fc(x)


def make(num_classes=10, in_channels=1):
    return ViewNet(num_classes, in_channels)
"""
VIEW_LINE = 15  # the line of the hard-coded view above

BNNET = """from torch import nn


def make(num_classes=10, in_channels=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16, track_running_stats=False), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32, track_running_stats=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )
"""

TARGET = """name = "doomed"
[model]
spec = "{model}"
train_epochs = 2
[data]
spec = "digits"
[prune]
{budget}
round_to = 1
[finetune]
epochs = 1
[export]
format = "onnx"
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch) -> Path:
    """A user's project outside the repository, with its own cache (so a trained baseline would show)."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "viewnet.py").write_text(VIEWNET)
    (folder / "bnnet.py").write_text(BNNET)
    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(folder)
    return folder


def _target(project: Path, model: str, budget: str = "macs = 0.5") -> Path:
    path = project / "doomed.toml"
    path.write_text(TARGET.format(model=project / model, budget=budget))
    return path


def _nothing_trained(result, project: Path) -> None:
    assert "epoch" not in result.err and "baseline" not in result.out  # no training or loading started
    assert not (project.parent / "cache" / "baselines").exists()


# item 4: BatchNorm without running statistics ------------------------------------------------------------------


def test_batchnorm_without_statistics_is_refused_before_training(project: Path, capsys) -> None:
    target = _target(project, "bnnet.py:make")
    before = snapshot(project)
    result = run_main(capsys, "deploy", "--target", target)
    line = error_line(result, 2, "BatchNorm layer(s) 1, 4", "track_running_stats=False", "--estimate-bn-stats",
                      "model.estimate_bn_stats = true")  # fmt: skip
    assert line.startswith("edgeprune deploy: error: model '")
    _nothing_trained(result, project)
    assert snapshot(project) == before  # no build/ folder either


def test_estimated_statistics_make_outputs_independent_of_the_batch(project: Path, digits) -> None:
    """The way out: statistics averaged over train samples; the saved weights carry them and load back."""
    from edgeprune.baseline import load_baseline
    from edgeprune.data import take
    from edgeprune.models import ModelSpec, build_model, load_checkpoint, save_weights
    from edgeprune.models.batchnorm import norms_without_statistics

    torch.manual_seed(0)
    base = load_baseline(f"{project / 'bnnet.py'}:make", digits, train_epochs=1, estimate_bn_stats=True, log=False)
    model = base.model.eval()
    assert norms_without_statistics(model) == []
    x, _ = take(digits.val, 8)
    with torch.no_grad():
        alone, batched = model(x[:1]), model(x)[:1]
    assert torch.allclose(alone, batched, atol=1e-5)  # without statistics the batch changed every output
    save_weights(model, project / "w.safetensors")
    fresh = build_model(ModelSpec(f"{project / 'bnnet.py'}:make"))
    assert norms_without_statistics(fresh) == ["1", "4"]
    load_checkpoint(fresh, project / "w.safetensors")
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), model(x))
    reloaded = load_baseline(f"{project / 'bnnet.py'}:make", digits, checkpoint=project / "w.safetensors", log=False)
    assert reloaded.source == "checkpoint"  # a checkpoint carrying the statistics is not refused


# item 3: a hard-coded shape that blocks the budget --------------------------------------------------------------


def test_a_hard_coded_view_that_blocks_the_budget_is_named_before_training(project: Path, capsys) -> None:
    target = _target(project, "viewnet.py:make", "macs = 0.1")
    before = snapshot(project)
    result = run_main(capsys, "deploy", "--target", target)
    error_line(result, 2, "the macs budget 0.1x cannot be reached", "leaves 0.226x", "group 'conv2' cannot shrink",
               f"viewnet.py:{VIEW_LINE}", "x = x.view(-1, 16 * 8 * 8)", "x.flatten(1)",
               "Raise the budget to at least 0.226")  # fmt: skip
    _nothing_trained(result, project)
    assert snapshot(project) == before


def test_plan_names_the_same_cause_and_the_real_field(project: Path, capsys) -> None:
    result = run_main(capsys, "plan", "--model", "viewnet.py:make", "--data", "digits", "--macs", "0.1",
                      "--round-to", "1")  # fmt: skip
    line = error_line(result, 2, "group 'conv2' cannot shrink", f"viewnet.py:{VIEW_LINE}")
    assert "ignored_layers" not in line.replace("prune.ignored_layers", "")  # only the real TOML field, if any
    _nothing_trained(result, project)


def test_a_plan_that_cuts_through_a_view_gives_the_exact_ignore_flag(project: Path, capsys) -> None:
    """Replaying a plan that cuts the group feeding the view: the error names the op and ``--ignore conv2``."""
    import json

    from edgeprune.models import ModelSpec, build_model, save_weights
    from edgeprune.prune import make_plan

    spec = ModelSpec(f"{project / 'viewnet.py'}:make")
    torch.manual_seed(0)
    model = build_model(spec)
    save_weights(model, project / "w.safetensors")
    plan = make_plan(model, torch.zeros(1, 1, 8, 8), 0.5, spec=spec).to_dict()
    plan["groups"] = [{**plan["groups"][0], "root": "conv2", "width": 16, "keep": list(range(8))}]
    (project / "plan.json").write_text(json.dumps(plan))
    before = snapshot(project)
    result = run_main(capsys, "prune", "--plan", project / "plan.json", "--model", spec.spec, "--data", "digits",
                      "--checkpoint", project / "w.safetensors", "--out", project / "pruned")  # fmt: skip
    error_line(result, 2, f"viewnet.py:{VIEW_LINE}", "a hard-coded shape",
               '--ignore conv2 (TOML prune.ignored_layers = ["conv2"])')  # fmt: skip
    assert snapshot(project) == before and not (project / "pruned").exists()


def test_analyze_wraps_a_long_reason_instead_of_cutting_it(project: Path) -> None:
    from rich.console import Console

    from edgeprune.graph.analyze import analyze
    from edgeprune.graph.render import render
    from edgeprune.models import ModelSpec, build_model

    result = analyze(build_model(ModelSpec(f"{project / 'viewnet.py'}:make")), torch.zeros(1, 1, 8, 8))
    (note,) = [g["note"] for g in result.groups if g["root"] == "conv2"]
    assert "x.flatten(1)" in note and len(note) > 150
    console = Console(width=120, record=True, force_terminal=False)
    render(result, console)
    cells = [row.split("│")[8].strip() for row in console.export_text().splitlines() if row.count("│") == 9]
    assert " ".join(c for c in cells if c).split() == f"yes no ({note}) no (ignored: fc)".split()


# item 4: out folders that cannot work ---------------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_out_dot_is_refused_before_any_work(project: Path, capsys, force: bool) -> None:
    target = _target(project, "viewnet.py:make")
    before = snapshot(project)
    result = run_main(capsys, "deploy", "--target", target, "--out", ".", *(["--force"] if force else []))
    error_line(result, 2, "--out . is the working directory", "a folder of their own")
    _nothing_trained(result, project)
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("images", "--out images is the input folder of data.spec"),
        ("images/results", "--out images/results lies inside the input folder of data.spec"),
        ("weights", "--out weights is the folder of the input model.checkpoint"),
    ],
)
def test_out_in_an_input_folder_is_refused(project: Path, capsys, out: str, message: str) -> None:
    (project / "images" / "cat").mkdir(parents=True)
    (project / "images" / "cat" / "1.png").write_bytes(b"not read: refused before")
    (project / "weights").mkdir()
    (project / "weights" / "w.safetensors").write_bytes(b"not read either")
    target = project / "t.toml"
    target.write_text(TARGET.format(model=project / "viewnet.py:make", budget="macs = 0.5").replace(
        'spec = "digits"', f'spec = "imagefolder:{project / "images"}"').replace(
        "train_epochs = 2", f'train_epochs = 2\ncheckpoint = "{project / "weights" / "w.safetensors"}"'))  # fmt: skip
    before = snapshot(project)
    result = run_main(capsys, "deploy", "--target", target, "--out", out, "--force")
    error_line(result, 2, message, "choose another --out")
    assert snapshot(project) == before


def test_out_symlink_into_a_read_only_place_is_refused_before_training(project: Path) -> None:
    """A symlink to a new path inside a read-only mount used to fail after the whole run with a raw OS message
    naming the staging folder."""
    mount = project / "ro"
    link = project / "results"
    link.symlink_to(mount / "new")
    result, files = run_cli_on_tmpfs(mount, "1m", "deploy", "--target", _target(project, "viewnet.py:make"),
                                     "--out", link, read_only=True)  # fmt: skip
    error_line(result, 2, f"--out {link} (-> {mount / 'new'})", f"folder {mount} is not writable", "read-only")
    _nothing_trained(result, project)
    assert files == []


# item 5: a chance-level baseline --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["deploy", "plan", "sensitivity"])
def test_a_chance_level_checkpoint_stops_with_a_preprocessing_hint(model_files, project, capsys, command) -> None:
    """Seeded untrained weights score chance on digits, as the user's model does when --mean/--std are forgotten;
    the choosing commands stop before pruning anything."""
    weights = model_files[0]
    target = _target(project, "viewnet.py:make").read_text().replace(
        f'spec = "{project / "viewnet.py:make"}"', f'spec = "edgeprune:default"\ncheckpoint = "{weights}"')  # fmt: skip
    (project / "t.toml").write_text(target)
    args = {
        "deploy": ["deploy", "--target", project / "t.toml"],
        "plan": ["plan", "--checkpoint", weights, "--data", "digits", "--macs", "0.5"],
        "sensitivity": ["sensitivity", "--checkpoint", weights, "--data", "digits"],
    }[command]
    before = snapshot(project)
    result = run_main(capsys, *args)
    error_line(result, 2, f"checkpoint {weights}", "chance level (12.2% for 10 classes", "180 select samples",
               "--mean/--std, --scale, --channels", "--allow-chance-baseline")  # fmt: skip
    assert "pruned" not in result.out and "epoch" not in result.err
    assert snapshot(project) == before


def test_allow_chance_baseline_lets_an_intended_run_through(model_files, project, capsys, digits) -> None:
    from edgeprune.baseline import chance_level, load_baseline
    from edgeprune.data import take
    from edgeprune.task import CLASSIFICATION

    weights = model_files[0]
    base = load_baseline("edgeprune:default", digits, checkpoint=weights, allow_chance=True, log=False)
    level = chance_level(base.model, digits, CLASSIFICATION)
    _, labels = take(digits.select)
    p = max(0.1, float(torch.bincount(labels).max()) / len(labels))  # the most frequent class: 22 of 180
    assert level is not None and level.at_chance and level.samples == 180
    assert level.chance == pytest.approx(100 * p) and level.bound == pytest.approx(
        100 * (p + 3 * (p * (1 - p) / 180) ** 0.5)
    )
    result = run_main(capsys, "sensitivity", "--checkpoint", weights, "--data", "digits", "--allow-chance-baseline",
                      "--estimate-only", "--samples", "64", "--no-blocks", "--out", project / "s")  # fmt: skip
    assert result.code == 0, result.err
    assert (project / "s" / "sensitivity.json").is_file()


# item 2: two budgets --------------------------------------------------------------------------------------------


def test_two_budgets_in_a_target_are_refused_naming_both(project: Path, capsys) -> None:
    target = _target(project, "viewnet.py:make", "macs = 0.3\nspeedup = 1.2")
    before = snapshot(project)
    result = run_main(capsys, "deploy", "--target", target)
    error_line(result, 2, str(target), "prune.macs = 0.3 and prune.speedup = 1.2 are 2 budgets; keep one")
    _nothing_trained(result, project)
    assert snapshot(project) == before


@pytest.mark.parametrize("command", ["deploy", "plan"])
def test_two_budget_flags_are_refused_naming_both(project: Path, capsys, command: str) -> None:
    args = ["--target", _target(project, "viewnet.py:make")] if command == "deploy" else ["--data", "digits"]
    before = snapshot(project)
    result = run_main(capsys, command, *args, "--macs", "0.3", "--speedup", "1.2")
    error_line(result, 2, "--macs 0.3 and --speedup 1.2 are 2 budgets; give one")
    _nothing_trained(result, project)
    assert snapshot(project) == before


def test_a_budget_flag_replaces_the_targets_budget_and_says_so(project: Path, capsys) -> None:
    """One of each: the flag's budget is the one in force (here it is out of reach, which stops the run before
    training and shows which budget was used), and a note says the target's is replaced."""
    target = _target(project, "viewnet.py:make", "macs = 0.3")
    result = run_main(capsys, "deploy", "--target", target, "--params", "0.05")
    assert "--params 0.05 replaces the target's budget prune.macs = 0.3" in result.out
    error_line(result, 2, "the params budget 0.05x cannot be reached")
    _nothing_trained(result, project)


@pytest.mark.parametrize(("samples", "decisive"), [(4, False), (1000, True)])
def test_chance_check_needs_enough_select_samples(samples: int, decisive: bool) -> None:
    """With 4 select samples of 3 classes the noise band passes 100%: no score could prove the checkpoint is not at
    chance, so the check is skipped (a note says so) instead of stopping every run on a tiny folder."""
    from edgeprune.baseline import CHANCE_SIGMAS, ChanceLevel

    p = 0.75 if samples == 4 else 1 / 3
    bound = 100.0 * (p + CHANCE_SIGMAS * (p * (1 - p) / samples) ** 0.5)
    level = ChanceLevel(metric=25.0, chance=100.0 * p, bound=bound, samples=samples)
    assert level.decisive is decisive and level.at_chance is decisive
