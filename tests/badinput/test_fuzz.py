"""Fuzz: 200+ seeded mutations each of a valid plan.json (in a saved pruned model), a target TOML and an npz; every
outcome must be success or a one-line user error (what the CLI turns into exit 2), none hanging past 30 s. Targets
are also mutated into two-budget combinations (in the file, as flags, one of each).

The loaders are called in-process (a subprocess per case would take minutes on 2 cores); a slow test also runs a
sample of the mutated files through the real CLI in subprocesses to check the exit code end to end. Each case is
``random.Random(SEED + i)``, so a failure message's case number reproduces it.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from badinput.fuzzing import Tally, mutate_arrays, mutate_bytes, mutate_doc, to_toml
from hardening_support import error_line, run_cli

SEED = 20260513
CASES = 200

TARGET = {
    "name": "fuzz",
    "description": "every section, most fields",
    "model": {"spec": "edgeprune:default", "checkpoint": "m.safetensors", "train_epochs": 2},
    "data": {"spec": "digits", "resize": [8, 8], "scale": 1.0, "mean": [0.5], "std": [0.25], "channels": 1},
    "task": {"loss": "", "metric": "", "higher_is_better": True, "distill": "kl"},
    "prune": {"macs": 0.5, "method": "uniform", "importance": "magnitude", "round_to": 8, "max_ratio": 0.8,
              "ignored_layers": ["head"], "recalibrate": 64},
    "finetune": {"epochs": 1, "lr": 0.002, "batch_size": 64, "optimizer": "adamw", "scheduler": "onecycle",
                 "seed": 0, "temperature": 4.0, "alpha": 0.7},
    "export": {"format": "tflite", "precision": "fp32", "calibration_samples": 100, "opset": 18},
    "bench": {"threads": 1, "warmup": 5, "runs": 50, "cores": [0, 1], "remote": "pi@board:2222",
              "remote_python": "python3", "remote_workdir": "/tmp/edgeprune"},
}  # fmt: skip


def _steps(rng: random.Random) -> int:
    return rng.choice([1, 1, 2, 3])


def _mutated_doc(base: dict, rng: random.Random, serialize) -> tuple[bytes, str]:
    doc, done = base, []
    for _ in range(_steps(rng)):
        doc, what = mutate_doc(doc, rng)
        done.append(what)
    try:
        data = serialize(doc).encode()
    except (TypeError, ValueError):  # e.g. a value TOML cannot hold: keep the last document that serializes
        data, done = serialize(base).encode(), ["(unserializable, base)"]
    if rng.random() < 0.3:
        data, what = mutate_bytes(data, rng)
        done.append(f"bytes:{what}")
    return data, "; ".join(done)


def test_fuzz_target_toml(tmp_path: Path) -> None:
    from edgeprune.pipeline.targets import load_target

    assert load_target(str(_write(tmp_path / "base.toml", to_toml(TARGET).encode()))).name == "fuzz"
    tally = Tally()
    for i in range(CASES):
        rng = random.Random(SEED + i)
        data, what = _mutated_doc(TARGET, rng, to_toml)
        path = _write(tmp_path / f"t{i}.toml", data)
        tally.run(lambda p=path: load_target(str(p)), f"TOML case {i} ({what})")
    assert tally.ok + tally.refused == CASES
    assert tally.refused > CASES // 4 and tally.ok > 0  # the mutations reach both outcomes


BUDGET_VALUES = {  # valid values first, then values out of range
    "macs": [0.3, 0.5, 1.0, 0.0, 1.5],
    "params": [0.2, 0.7, 1.0, -0.1, 2.0],
    "latency_ms": [0.5, 3.5, 100.0, 0.0, -1.0],
    "speedup": [1.0, 1.5, 3.0, 0.5, 0.0],
}


def _budgets(rng: random.Random, count: int) -> dict[str, float]:
    """``count`` budget fields of :data:`edgeprune.config.BUDGETS` a CPU target takes (the memory budgets need an
    embedded target: tests/embedded/test_settings.py), mostly valid values."""
    from edgeprune.config import BUDGETS, MEMORY_BUDGETS

    assert set(BUDGET_VALUES) == set(BUDGETS) - set(MEMORY_BUDGETS)
    names = rng.sample(sorted(BUDGET_VALUES), count)
    return {n: rng.choice(BUDGET_VALUES[n][:3] if rng.random() < 0.8 else BUDGET_VALUES[n][3:]) for n in names}


def _valid(name: str, value: float) -> bool:
    return value in BUDGET_VALUES[name][:3]


def test_fuzz_target_budgets(tmp_path: Path) -> None:
    """Targets mutated into zero to four budgets (then sometimes one more structural mutation), and budget flags
    over them: two or more in the file, or two or more flags, are always refused naming each one; a single flag
    replaces the file's budget (with a note when it differs), so exactly one budget is ever in force."""
    from edgeprune.errors import ConfigError
    from edgeprune.pipeline.overrides import apply_overrides, flag_name, replaced_budget
    from edgeprune.pipeline.targets import load_target

    outcomes = {"two in the file": 0, "two flags": 0, "flag replaced": 0, "one budget": 0, "mutated": 0}
    for i in range(CASES):
        rng = random.Random(SEED + i)
        in_file = _budgets(rng, rng.choice([0, 1, 2, 2, 3, 4]))
        doc = {**TARGET, "prune": {**{k: v for k, v in TARGET["prune"].items() if k != "macs"}, **in_file}}
        mutated = rng.random() < 0.2
        if mutated:
            doc, _ = mutate_doc(doc, rng)
        path = _write(tmp_path / f"b{i}.toml", to_toml(doc).encode())
        what = f"budget case {i} (file {in_file}{', mutated' if mutated else ''})"
        if len(in_file) >= 2 and not mutated:
            with pytest.raises(ConfigError) as caught:
                load_target(str(path))
            message = str(caught.value)
            assert "\n" not in message, what
            if all(_valid(n, v) for n, v in in_file.items()):
                assert f"are {len(in_file)} budgets; keep one" in message, what
                assert all(f"prune.{n} = {v}" in message for n, v in in_file.items()), what
            outcomes["two in the file"] += 1
            continue
        tally = Tally()
        tally.run(lambda p=path: load_target(str(p)), what)
        if tally.refused:
            outcomes["mutated" if mutated else "one budget"] += 1
            continue
        target = load_target(str(path))
        flags = _budgets(rng, rng.choice([0, 1, 1, 2, 3]))
        if len(flags) >= 2:
            with pytest.raises(ConfigError, match=r"are \d budgets; give one") as caught:
                apply_overrides(target, **flags)
            assert all(flag_name(n) in str(caught.value) for n in flags), what
            outcomes["two flags"] += 1
            continue
        try:
            updated = apply_overrides(target, **flags)
        except ConfigError as exc:  # a flag value out of range: one line naming the field
            assert flags and not all(_valid(n, v) for n, v in flags.items()) and "\n" not in str(exc), what
            continue
        assert len(updated.prune.budgets_given) <= 1, what
        if flags:
            ((name, value),) = flags.items()
            assert getattr(updated.prune, name) == value and updated.prune.budgets_given == [name], what
            note = replaced_budget(target, flags)
            old = [b for b in target.prune.budgets_given if b != name]
            assert (note is not None) == bool(old), what
            outcomes["flag replaced"] += bool(old)
        else:
            outcomes["one budget"] += 1
    assert all(count > 0 for count in outcomes.values()), outcomes  # every outcome is reached


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _digits_arrays() -> dict[str, np.ndarray]:
    bunch = load_digits()
    return {"x": bunch.images[:300].astype(np.float32), "y": bunch.target[:300]}


def _mutated_npz(base: dict[str, np.ndarray], rng: random.Random, path: Path) -> str:
    arrays, done = base, []
    for _ in range(_steps(rng)):
        arrays, what = mutate_arrays(arrays, rng)
        done.append(what)
    np.savez(path, **arrays)
    if rng.random() < 0.3:
        data, what = mutate_bytes(path.read_bytes(), rng)
        path.write_bytes(data)
        done.append(f"bytes:{what}")
    return "; ".join(done)


def test_fuzz_npz(tmp_path: Path) -> None:
    from edgeprune.data import load_data

    base = _digits_arrays()
    np.savez(tmp_path / "base.npz", **base)
    assert len(load_data(f"npz:{tmp_path / 'base.npz'}").train) > 0
    tally = Tally()
    for i in range(CASES):
        rng = random.Random(SEED + i)
        path = tmp_path / f"d{i}.npz"
        what = _mutated_npz(base, rng, path)
        tally.run(lambda p=path: load_data(f"npz:{p}"), f"npz case {i} ({what})")
    assert tally.ok + tally.refused == CASES
    assert tally.refused > CASES // 4 and tally.ok > 0


def _plan_case(pruned: Path, base: dict, i: int, folder: Path) -> tuple[Path, str]:
    rng = random.Random(SEED + i)
    data, what = _mutated_doc(base, rng, lambda d: json.dumps(d, allow_nan=True))
    case = folder / f"p{i}"
    case.mkdir()
    shutil.copy(pruned / "weights.safetensors", case / "weights.safetensors")
    _write(case / "plan.json", data)
    return case, what


def test_fuzz_plan(model_files, tmp_path: Path) -> None:
    """``load_pruned`` reads the plan, checks the model record and shapes, rebuilds the architecture, replays the
    plan on it and loads the weights: every mutation ends in a loaded model or one line."""
    from edgeprune.prune import load_pruned

    _, _, pruned = model_files
    base = json.loads((pruned / "plan.json").read_text())
    tally = Tally()
    for i in range(CASES):
        case, what = _plan_case(pruned, base, i, tmp_path)
        tally.run(lambda c=case: load_pruned(c), f"plan case {i} ({what})")
        shutil.rmtree(case)
    assert tally.ok + tally.refused == CASES
    assert tally.refused > CASES // 4 and tally.ok > 0


@pytest.mark.slow
def test_fuzz_samples_through_the_cli(model_files, tmp_path: Path) -> None:
    """Every 10th mutated plan, target and npz through ``python -m edgeprune`` in a subprocess: exit 0 or exit 2
    with one line, never a traceback or an internal error."""
    weights, plan, pruned = model_files
    base_plan = json.loads((pruned / "plan.json").read_text())
    base_arrays = _digits_arrays()
    for i in range(0, CASES, 10):
        case, what = _plan_case(pruned, base_plan, i, tmp_path)
        result = run_cli("export", "--pruned", case, "--data", "digits", "--format", "onnx", "--out", case / "o",
                         "--parity-samples", "8")  # fmt: skip
        if result.code != 0:
            error_line(result, 2, str(case))
        data, what = _mutated_doc(TARGET, random.Random(SEED + i), to_toml)
        target = _write(tmp_path / f"t{i}.toml", data)
        busy = tmp_path / "busy"  # a target that loads stops at the non-empty --out: no deploy work in this test
        busy.mkdir(exist_ok=True)
        (busy / "report.json").write_text("{}")
        error_line(run_cli("deploy", "--target", target, "--out", busy), 2)
        npz = tmp_path / f"d{i}.npz"
        what = _mutated_npz(base_arrays, random.Random(SEED + i), npz)
        result = run_cli("prune", "--plan", plan, "--checkpoint", weights, "--data", f"npz:{npz}",
                         "--out", tmp_path / f"pr{i}")  # fmt: skip
        assert result.code in (0, 2), f"npz case {i} ({what}): exit {result.code}\n{result.err[-2000:]}"
        if result.code == 2:
            error_line(result, 2)
