from pathlib import Path

import pytest

from edgeprune.errors import ConfigError
from edgeprune.pipeline.targets import TARGETS_DIR, known_targets, load_target


def test_shipped_targets_load():
    names = known_targets()
    assert {"tflite", "tflite-int8", "onnx"} <= set(names)
    for name in names:
        target = load_target(name)
        assert target.name == name
        assert 0 < target.prune.budget[1] <= 1 and len(target.prune.budgets_given) <= 1


def test_tflite_target_values():
    target = load_target("tflite")
    assert target.export.format == "tflite" and target.export.precision == "fp32"
    assert target.runtime == "litert" and target.prune.macs == 0.5 and target.data.spec == "mnist5k"


def test_unknown_target_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown target 'nope'; known targets: .*tflite"):
        load_target("nope")


def _target(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[prune]\nmacs = 0.5\nratioo = 3\n", r"bad.toml:prune: unknown field\(s\) \['ratioo'\]"),
        ("[prune]\nmacs = 1.5\n", r"bad.toml: prune.macs: must be in \(0, 1\], got 1.5"),
        ('[bench]\nthreads = "two"\n', r"bench.threads: must be an integer, got 'two'"),
        ("[bench]\ncores = [0, '1; touch /tmp/x']\n", r"bench.cores\[1\]: must be an integer"),
        ("[bench]\ncores = [-1]\n", r"bench.cores: must be CPU numbers >= 0"),
        ("prune = 5\n", r"bad.toml:prune: must be a table"),
        ("[model]\ncheckpoint = 5\n", r"model.checkpoint: must be a string, got 5"),
        ("[finetune]\nlr = inf\n", r"finetune.lr: must be a finite number, got inf"),
        ("[finetune]\nlr = nan\n", r"finetune.lr: must be a finite number"),
        ('[export]\nformat = "onnx"\nprecision = "int8"\n', r"export.precision: format 'onnx' writes \['fp32'\]"),
        ('[bench]\nruntime = "onnxruntime"\n', r"bench.runtime: 'onnxruntime' cannot run export.format 'tflite'"),
        ('name = "../../../x"\n', r"name: '../../../x' must be 1-64 letters"),
        (
            '[prune]\nmethod = "lottery"\n',
            r"prune.method 'lottery' is unknown \(known: \['auto', 'sensitivity', 'uniform'\]\)",
        ),
        ('[prune]\nimportance = "vibes"\n', r"prune.importance 'vibes' is unknown"),
        ("[prune]\nignored_layers = [3]\n", r"prune.ignored_layers\[0\]: must be a string"),
        ("[model\n", r"invalid TOML"),
        ("[prune]\nmacs = 0.3\nspeedup = 1.2\n", r"prune.macs = 0.3 and prune.speedup = 1.2 are 2 budgets; keep one"),
        ("[prune]\nparams = 0.3\nlatency_ms = 2.0\n", r"prune.params = 0.3 and prune.latency_ms = 2.0 are 2 budgets"),
    ],
)
def test_bad_target_names_the_field(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_target(str(_target(tmp_path, text)))


def test_earlier_target_files_keep_working(tmp_path: Path):
    target = load_target(str(_target(tmp_path, '[model]\nspec = "edgeprune:default"\ndata = "digits"\n')))
    assert target.data.spec == "digits"


def test_targets_dir_is_in_repo():
    assert (TARGETS_DIR / "tflite.toml").is_file()


def test_overrides_validate_like_the_toml():
    from edgeprune.pipeline.overrides import apply_overrides

    target = apply_overrides(load_target("tflite"), macs=0.3, round_to=8, epochs=2, data="digits")
    assert (target.prune.macs, target.prune.round_to, target.finetune.epochs, target.data.spec) == (0.3, 8, 2, "digits")
    with pytest.raises(ConfigError, match=r"prune.macs: must be in \(0, 1\]"):
        apply_overrides(load_target("tflite"), macs=2.0)
    with pytest.raises(ConfigError, match=r"prune\.method 'x' is unknown"):
        apply_overrides(load_target("tflite"), method="x")


def test_a_budget_flag_replaces_the_targets_budget_and_says_so():
    from edgeprune.pipeline.overrides import apply_overrides, replaced_budget

    tflite = load_target("tflite")
    target = apply_overrides(tflite, speedup=1.5)
    assert (target.prune.macs, target.prune.speedup, target.prune.budgets_given) == (None, 1.5, ["speedup"])
    assert replaced_budget(tflite, {"speedup": 1.5}) == "--speedup 1.5 replaces the target's budget prune.macs = 0.5"
    assert replaced_budget(tflite, {"macs": 0.3}) is None  # the same kind: plainly an override
    with pytest.raises(ConfigError, match=r"--macs 0.3 and --speedup 1.2 are 2 budgets; give one"):
        apply_overrides(tflite, macs=0.3, speedup=1.2)


def test_no_budget_means_half_the_macs(tmp_path: Path):
    target = load_target(str(_target(tmp_path, "[prune]\nround_to = 8\n")))
    assert target.prune.budgets_given == [] and target.prune.budget == ("macs", 0.5)
