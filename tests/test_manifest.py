"""Output folders own only what edgeprune wrote: the manifest, the survey of a folder, and the out-folder rules
(:mod:`edgeprune.manifest`, :mod:`edgeprune.pipeline.outputs`) on plain files, without any model work."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.manifest import MANIFEST, Manifest, entry_of, read_manifest, survey, write_manifest
from edgeprune.pipeline.outputs import Input, prepare, working_in, writing
from hardening_support import snapshot


def _ours(folder: Path, files: dict[str, str], command: str = "deploy") -> dict[str, str]:
    """A folder as an earlier edgeprune run left it: ``files`` and a manifest listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    write_manifest(folder, Manifest(command, tuple(entry_of(folder, rel) for rel in sorted(files))))
    return snapshot(folder)


def test_survey_sorts_ours_foreign_and_changed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _ours(out, {"report.json": "{}", "pruned_model/plan.json": "{}", "report.md": "# r"})
    (out / "notes.txt").write_text("mine")
    (out / "report.md").write_text("# r, edited by hand")
    (out / "link").symlink_to(out / "report.json")
    found = survey(out)
    assert found.ours == ("pruned_model/plan.json", "report.json")
    assert found.foreign == ("link", "notes.txt") and found.changed == ("report.md",)
    assert found.not_ours == ("link", "notes.txt", "report.md")


def test_pending_files_and_temp_files_of_ours_count_as_ours(tmp_path: Path) -> None:
    """A run killed while moving files into place (or mid atomic write) leaves nothing that looks foreign."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "s1-e1.pt").write_bytes(b"x")
    (out / ".result.json.abcd1234.tmp").write_text("half")
    (out / ".notes.txt.abcd1234.tmp").write_text("not ours: notes.txt is not listed")
    write_manifest(out, Manifest("finetune", (), ("checkpoints/", "result.json")))
    found = survey(out)
    assert found.ours == (".result.json.abcd1234.tmp", "checkpoints/s1-e1.pt")
    assert found.foreign == (".notes.txt.abcd1234.tmp",)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format": "x"}, "not an edgeprune manifest"),
        ({"format": "edgeprune-manifest", "version": 2, "files": []}, "field 'version' is 2"),
        ({"format": "edgeprune-manifest", "version": 1, "files": {}}, "must be lists"),
        ({"format": "edgeprune-manifest", "version": 1, "files": [{"path": "a", "size": -1, "sha256": "0" * 64}]},
         r"files\[0\] must be"),
        ({"format": "edgeprune-manifest", "version": 1, "files": [{"path": "../x", "size": 1, "sha256": "0" * 64}]},
         "must be a path inside the folder"),
        ({"format": "edgeprune-manifest", "version": 1, "files": [], "pending": ["/etc/passwd"]},
         "must be a path inside the folder"),
    ],
)  # fmt: skip
def test_a_manifest_is_checked_field_by_field(tmp_path: Path, doc: dict, message: str) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(EdgepruneError, match=message):
        read_manifest(tmp_path)


def test_foreign_files_are_refused_by_name_with_or_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _ours(out, {"report.json": "{}"})
    (out / "notes.txt").write_text("mine")
    (out / "mynet.py").write_text("import torch")
    before = snapshot(out)
    for force in (False, True):
        with pytest.raises(EdgepruneError, match=r"2 file\(s\) edgeprune did not write: mynet.py, notes.txt;"):
            prepare(out, "deploy", force)
    assert snapshot(out) == before


def test_force_replaces_exactly_edgeprunes_files(tmp_path: Path) -> None:
    """Replace mode (deploy, prune, compare): the old results that the new run does not write go too."""
    out = tmp_path / "out"
    _ours(out, {"report.json": "old", "baseline_int8.tflite": "old", "pruned_model/plan.json": "old"})
    with pytest.raises(EdgepruneError, match=r"already holds results of edgeprune .*; pass --force"):
        prepare(out, "deploy", False)
    folder = prepare(out, "deploy", True)
    with writing(folder) as staging:
        (staging / "report.json").write_text("new")
        (staging / "pruned_model").mkdir()
        (staging / "pruned_model" / "plan.json").write_text("new")
    after = snapshot(out)
    assert sorted(after) == [MANIFEST, "pruned_model/plan.json", "report.json"]
    assert (out / "report.json").read_text() == "new"
    assert [e.path for e in read_manifest(out).files] == ["pruned_model/plan.json", "report.json"]
    assert survey(out).not_ours == ()


def test_named_files_are_added_beside_edgeprunes_others(tmp_path: Path) -> None:
    """Add mode (export, plan, sensitivity, analyze, bench): only the named files are written or replaced."""
    out = tmp_path / "out"
    _ours(out, {"pruned_fp32.onnx": "onnx", "plan.json": "old"})
    with pytest.raises(EdgepruneError, match=r"plan.json already exists; pass --force"):
        prepare(out, "plan", False, replace=False, writes=("plan.json",))
    folder = prepare(out, "export", False, replace=False, writes=("pruned_fp32.tflite",))
    with writing(folder) as staging:
        (staging / "pruned_fp32.tflite").write_text("tflite")
    assert [e.path for e in read_manifest(out).files] == ["plan.json", "pruned_fp32.onnx", "pruned_fp32.tflite"]
    assert (out / "pruned_fp32.onnx").read_text() == "onnx"


def test_a_failed_run_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = _ours(out, {"report.json": "old"})
    folder = prepare(out, "deploy", True)
    with pytest.raises(RuntimeError, match="boom"), writing(folder) as staging:
        (staging / "report.json").write_text("new")
        raise RuntimeError("boom")
    assert snapshot(out) == before
    fresh = prepare(tmp_path / "a" / "b", "deploy", False)
    with pytest.raises(RuntimeError), writing(fresh):
        raise RuntimeError("boom")
    assert not (tmp_path / "a").exists()  # the folders made for the run went with it


def test_errors_name_the_final_path_not_the_staging_folder(tmp_path: Path) -> None:
    folder = prepare(tmp_path / "out", "prune", False)
    with pytest.raises(OSError) as caught, writing(folder) as staging:
        open(staging / "missing" / "weights.safetensors", "rb")  # noqa: SIM115
    assert caught.value.filename == str(tmp_path / "out" / "missing" / "weights.safetensors")


def test_out_folder_places_refused_before_anything_is_created(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "images"
    (data / "cat").mkdir(parents=True)
    weights = tmp_path / "ckpt" / "m.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"w")
    monkeypatch.chdir(tmp_path)
    inputs = [Input("--data", data, tree=True), Input("--checkpoint", weights)]
    cases = {
        ".": "is the working directory",
        "..": "is a folder holding the working directory",
        "images": "is the input folder of --data",
        "images/out": "lies inside the input folder of --data",
        "ckpt": "is the folder of the input --checkpoint",
        str(Path(__file__).resolve().parents[1] / "targets" / "x"): "lies in edgeprune's own",
    }
    before = snapshot(tmp_path)
    for out, message in cases.items():
        for force in (False, True):
            with pytest.raises(EdgepruneError, match=message):
                prepare(out, "deploy", force, inputs=inputs)
    assert snapshot(tmp_path) == before


def test_a_folder_holding_an_input_is_refused_where_the_results_would_replace_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _ours(out, {"pruned_model/weights.safetensors": "w", "report.json": "{}"})
    pruned = Input("--pruned", out / "pruned_model")
    with pytest.raises(EdgepruneError, match=r"holds the input --pruned .*which the results would replace"):
        prepare(out, "deploy", True, inputs=[pruned])
    prepare(out, "export", False, replace=False, writes=("pruned_fp32.onnx",), inputs=[pruned])  # beside it: fine


def test_out_that_resolves_into_a_read_only_place_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; tests/badinput mounts a read-only tmpfs instead")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    link = tmp_path / "link"
    link.symlink_to(ro / "new")
    try:
        with pytest.raises(EdgepruneError, match=rf"--out {link} \(-> {ro / 'new'}\): folder {ro} is not writable"):
            prepare(link, "deploy", True)
    finally:
        ro.chmod(0o755)


def test_a_run_folder_is_worked_in_and_listed_at_the_end(tmp_path: Path) -> None:
    """Fine-tune run folders: what the run writes is pending while it goes (a killed run stays edgeprune's) and
    listed at the end; its checkpoints folder stays edgeprune's working state whatever it holds."""
    out = tmp_path / "run"
    folder = prepare(out, "finetune", False)
    with pytest.raises(KeyboardInterrupt), working_in(folder, ("result.json",), False, ("checkpoints/",)) as run:
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "s1-e1.pt").write_bytes(b"1")
        raise KeyboardInterrupt
    assert survey(out).ours == ("checkpoints/s1-e1.pt",) and read_manifest(out).pending
    with pytest.raises(EdgepruneError, match="pass --resume"):
        prepare(out, "finetune", False, again="pass --resume to continue its run, or --force to start over")
    with working_in(prepare(out, "finetune", True), ("result.json",), True, ("checkpoints/",)) as run:
        assert not (run / "checkpoints" / "s1-e1.pt").exists()  # started over: the old run's files went
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "s2-e1.pt").write_bytes(b"2")
        (run / "result.json").write_text("{}")
    manifest = read_manifest(out)
    assert [e.path for e in manifest.files] == ["result.json"] and manifest.pending == ("checkpoints/",)
    (out / "checkpoints" / "s2-e1.pt").write_bytes(b"damaged")  # read and checked by the resume, not here
    assert survey(out).not_ours == ()
