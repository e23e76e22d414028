"""How long a doomed run takes to be refused, and what owning output folders costs (issue 24).

Each doomed run is a fresh ``python -m edgeprune`` process in a user's project folder outside the repository, with
its own empty cache: the exit code must be 2 with one error line, and no baseline may have been trained (none in
the cache). Wall time and the process's CPU time are recorded; ``edgeprune --help`` gives the cost of starting
the tool at all. The manifest's cost is the time to publish a folder of a given size (hash every file, move it
into place, write the manifest). Writes build/bench/refusals.json; exits 1 when a case is not refused cleanly.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from edgeprune.atomic import write_json  # noqa: E402

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
        return self.fc(x.view(-1, 16 * 8 * 8))


def make(num_classes=10, in_channels=1):
    return ViewNet(num_classes, in_channels)
"""
BNNET = """from torch import nn


def make(num_classes=10, in_channels=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16, track_running_stats=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
    )
"""


def _project(folder: Path) -> dict[str, str]:
    import torch

    from edgeprune.models import ModelSpec, build_model, save_weights

    (folder / "viewnet.py").write_text(VIEWNET)
    (folder / "bnnet.py").write_text(BNNET)
    torch.manual_seed(0)
    save_weights(build_model(ModelSpec("edgeprune:default")), folder / "untrained.safetensors")
    (folder / "two.toml").write_text('name = "two"\n[data]\nspec = "digits"\n[prune]\nmacs = 0.3\nspeedup = 1.2\n')
    (folder / "busy").mkdir()
    (folder / "busy" / "notes.txt").write_text("the user's notes\n")
    data = ["--data", "digits"]
    return {
        "startup (edgeprune --help)": "--help",
        "BatchNorm without running statistics": f"deploy --target tflite --model bnnet.py:make {' '.join(data)}",
        "hard-coded view blocks the budget": "deploy --target tflite --model viewnet.py:make --data digits --macs 0.1"
        " --round-to 1",
        "--out . --force": "deploy --target tflite --model viewnet.py:make --data digits --out . --force",
        "out folder holds a user's file (--force)": "deploy --target tflite --data digits --out busy --force",
        "chance-level checkpoint (plan)": "plan --checkpoint untrained.safetensors --data digits --macs 0.5",
        "two budgets in a target": "deploy --target two.toml",
    }


def _run(args: str, cwd: Path, cache: Path) -> dict[str, object]:
    env = dict(os.environ, EDGEPRUNE_CACHE=str(cache), EDGEPRUNE_NO_PROGRESS="1", PYTHONPATH=str(ROOT / "src"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edgeprune", *args.split()], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith(("note: ", "epoch "))]
    return {
        "args": args,
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "error": errors[-1] if errors else "",
        "one_line": len(errors) == 1,
        "trained": (cache / "baselines").exists() or "epoch" in proc.stderr,
    }


def _publish_cost(folder: Path, megabytes: int) -> float:
    """Seconds to publish ``megabytes`` of results (two artifacts and a report) into an out folder."""
    from edgeprune.pipeline.outputs import prepare, writing

    out = prepare(folder / f"out{megabytes}", "deploy", False)
    with writing(out) as staging:
        for name in ("pruned_fp32.tflite", "baseline_fp32.tflite"):
            (staging / name).write_bytes(os.urandom(megabytes * (1 << 19)))
        (staging / "report.json").write_text("{}")
        start = time.perf_counter()
    return time.perf_counter() - start


def main() -> int:
    cases, failed = [], []
    with tempfile.TemporaryDirectory(prefix="edgeprune-refusals-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        for name, args in _project(project).items():
            result = {"case": name, **_run(args, project, Path(tmp) / f"cache-{len(cases)}")}
            cases.append(result)
            refused = result["exit"] == 2 and result["one_line"] and not result["trained"]
            if name.startswith("startup"):
                refused = result["exit"] == 0
            if not refused:
                failed.append(name)
            print(f"{name}: exit {result['exit']}, {result['wall_s']} s wall, {result['cpu_s']} s CPU", flush=True)
        publish = {f"{mb} MB": round(_publish_cost(Path(tmp), mb), 4) for mb in (1, 16, 128)}
        print(f"publish (hash + move + manifest): {publish}")
    out = ROOT / "build" / "bench" / "refusals.json"
    write_json(out, {"cases": cases, "publish_s": publish, "passed": not failed, "cpu_count": os.cpu_count()})
    print(f"wrote {out}")
    if failed:
        print(f"not refused cleanly: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
