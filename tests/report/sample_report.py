"""A deploy record built in the tests (no deploy run): what the renderers read."""

from __future__ import annotations

from edgeprune.bench.measurement import Latency, Measurement
from edgeprune.export.verified import Parity, VerifiedArtifact
from edgeprune.report import (
    DataSummary,
    DeployReport,
    FinetuneFigures,
    ModelFigures,
    PruneFigures,
    TaskSummary,
    TimedArtifact,
)
from edgeprune.sensitivity import BlockPoint, GroupCurve, Point, Sensitivity

BASE_MACS, PRUNED_MACS = 10_180_000, 4_550_000
INT8_CHECK = {
    "top1_agreement": 99.9, "samples": 1000, "reference_accuracy": 98.2, "accuracy": 97.8, "max_drop": 1.0,
    "min_agreement": 97.0, "accuracy_drop": 0.4, "passed": True,
}  # fmt: skip


def artifact(role: str, precision: str, p50: float, speedup: float, size: int, metric: float) -> TimedArtifact:
    bound = {"fp32": 1e-4, "fp16": 1e-2}.get(precision)
    rel_err = {"fp32": 2.5e-7, "fp16": 3e-4, "int8": 0.15}[precision]
    record = VerifiedArtifact(
        role=role, path=f"/out/{role}_{precision}.tflite", format="tflite", runtime="litert", precision=precision,
        size_bytes=size, gzip_size_bytes=size * 9 // 10, parity=Parity(rel_err, bound, rel_err * 3, 99.9, 64),
        metric=metric, int8=INT8_CHECK if precision == "int8" else None,
    )  # fmt: skip
    latency = Latency(p50, p50 * 1.2, p50 * 1.5, p50 * 1.05, p50 * 0.1, 200, 3.0, p50 * 4)
    return TimedArtifact(record, latency, speedup)


def scan() -> Sensitivity:
    base = Point(0.0, 0, 98.0, 0.07, BASE_MACS, 143_700)
    groups = []
    for g, (root, width) in enumerate([("stem.0", 32), ("block1.conv1", 32), ("head.fc1", 128)]):
        points = [
            Point(r, round(width * (1 - r)), 98.0 - (g + 1) * 10 * r**2, 0.07 + r, int(BASE_MACS * (1 - 0.3 * r)), 1)
            for r in (0.1, 0.3, 0.5, 0.7, 0.9)
        ]
        groups.append(GroupCurve(root, "conv", width, 1, [root], [], [], points))
    blocks = [
        BlockPoint("block1", "residual", Point(1.0, 0, 95.7, 0.2, int(BASE_MACS * 0.8), 1)),
        BlockPoint("block2", "residual", Point(1.0, 0, 97.9, 0.08, int(BASE_MACS * 0.9), 1)),
    ]
    return Sensitivity("edgeprune:default", "mnist5k", 1000, [0.1, 0.3, 0.5, 0.7, 0.9], "magnitude", 16, "top1",
                       base, groups, blocks, [1, 1, 28, 28])  # fmt: skip


def make_report(*, int8: bool = True, sensitivity: bool = True, notes: tuple[str, ...] = ()) -> DeployReport:
    history = [
        {"epoch": e, "step": e * 55, "lr": 1e-3, "train_loss": 1.0 / e, "select_metric": 96.0 + e / 5,
         "select_loss": 0.2 / e}
        for e in range(1, 6)
    ]  # fmt: skip
    pruned = [artifact("pruned", "fp32", 0.086, 1.65, 316_000, 98.2)]
    unpruned = []
    if int8:
        pruned = [artifact("pruned", "int8", 0.064, 2.22, 111_000, 97.8), *pruned]
        unpruned = [artifact("baseline", "int8", 0.09, 1.58, 170_000, 98.4)]
    return DeployReport(
        target="tflite",
        model="edgeprune:default",
        checkpoint="/cache/baselines/abc.safetensors",
        data=DataSummary(
            "mnist5k",
            [1, 28, 28],
            10,
            {
                "resize": None,
                "crop": None,
                "scale": 1.0,
                "mean": [0.1307],
                "std": [0.3081],
                "channels": 1,
                "source": "builtin:mnist5k",
            },
            {"train": 3500, "select": 500, "val": 1000, "how": "stratified", "seed": 0},
            "f00d",
        ),
        task=TaskSummary("classification", "top1", True, "%", True),
        seed=0,
        baseline=ModelFigures(BASE_MACS, 143_700, 98.5),
        pruned=ModelFigures(PRUNED_MACS, 74_800, 98.2),
        prune=PruneFigures(
            method="sensitivity" if sensitivity else "uniform",
            importance="magnitude",
            round_to=16,
            budget=0.5,
            budget_kind="macs",
            reached=0.447,
            groups_cut=3,
            blocks=["block2"],
            widths={"stem.0": [32, 16], "block1.conv1": [32, 32], "head.fc1": [128, 64]},
            predicted_metric=91.4,
            model_dir="/out/pruned_model",
        ),
        finetune=FinetuneFigures(5, True, 4, history),
        artifacts=pruned,
        baseline_artifact=artifact("baseline", "fp32", 0.142, 1.0, 580_000, 98.5),
        bench=Measurement("litert", 1, 20, 200, True, {}, 61 * 2**20, {}, 40 * 2**20),
        versions={"python": "3.11.2", "edgeprune": "0.1.0", "torch": "2.14.1"},
        wall_s=47.0,
        notes=list(notes),
        unpruned_artifacts=unpruned,
        sensitivity=scan() if sensitivity else None,
    )
