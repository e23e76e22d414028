"""The deploy report as a frozen, versioned record: what was asked, what was cut, what it cost and bought.

``report.json`` is ``DeployReport.to_dict()``; the Markdown and HTML renderers read attributes of this record,
never string keys of a dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgeprune.bench.measurement import Latency, Measurement
from edgeprune.errors import EdgepruneError
from edgeprune.export.verified import VerifiedArtifact

REPORT_VERSION = 2


@dataclass(frozen=True)
class DataSummary:
    """The data a deploy ran on (edgeprune.data.Data.describe())."""

    name: str
    input_shape: list[int]
    num_classes: int | None
    preprocessing: dict[str, Any]
    split: dict[str, Any]
    fingerprint: str

    @property
    def preprocessing_text(self) -> str:
        from edgeprune.data import Preprocessing

        return Preprocessing.from_dict(self.preprocessing).describe()

    @property
    def split_text(self) -> str:
        s = self.split
        return f"train {s['train']} / select {s['select']} / val {s['val']} ({s['how']}, seed {s['seed']})"


@dataclass(frozen=True)
class TaskSummary:
    """The task's metric and its direction (edgeprune.task.Task.describe())."""

    name: str
    metric: str
    higher_is_better: bool
    unit: str
    classification: bool

    def format(self, value: float) -> str:
        return f"{value:.2f}{self.unit}" if self.unit else f"{value:.4g}"


@dataclass(frozen=True)
class ModelFigures:
    """Cost and quality of one torch model (metric on validation)."""

    macs: int
    params: int
    metric: float


@dataclass(frozen=True)
class PruneFigures:
    """What the planner was asked and what it reached."""

    method: str
    importance: str
    round_to: int
    budget_kind: str  # "macs" | "params"
    budget: float  # requested fraction
    reached: float  # exact fraction of the pruned model
    groups_cut: int
    blocks: list[str]
    widths: dict[str, list[int]]  # group root -> [width before, width after]
    predicted_metric: float | None  # on choosing samples after BN recalibration (never validation)
    model_dir: str
    details: dict[str, Any] = field(default_factory=dict)  # strategy specifics (ratios, objective, tolerance)


@dataclass(frozen=True)
class FinetuneFigures:
    epochs: int
    distill: bool
    best_epoch: int
    history: list[dict[str, float]]  # per epoch: step, lr, train_loss, select_metric, select_loss


@dataclass(frozen=True)
class TimedArtifact:
    """A verified artifact and its latency from the shared run."""

    artifact: VerifiedArtifact
    latency: Latency
    speedup: float  # p50 of the unpruned fp32 artifact / this p50, same run


@dataclass(frozen=True)
class DeployReport:
    """Everything one deploy produced, with the seed, split, budgets and versions it ran with."""

    target: str
    model: str
    checkpoint: str
    data: DataSummary
    task: TaskSummary
    seed: int
    baseline: ModelFigures
    pruned: ModelFigures
    prune: PruneFigures
    finetune: FinetuneFigures
    artifacts: list[TimedArtifact]  # the pruned model's artifacts
    baseline_artifact: TimedArtifact  # the unpruned model, fp32, same runtime
    bench: Measurement
    versions: dict[str, str]
    wall_s: float
    notes: list[str] = field(default_factory=list)
    version: int = REPORT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeployReport:
        if data.get("version") != REPORT_VERSION:
            raise EdgepruneError(
                f"report: field 'version' is {data.get('version')!r}; this edgeprune reads {REPORT_VERSION}"
            )
        try:

            def timed(d: dict[str, Any]) -> TimedArtifact:
                return TimedArtifact(VerifiedArtifact.from_dict(d["artifact"]), Latency(**d["latency"]), d["speedup"])

            return cls(
                **{
                    **data,
                    "data": DataSummary(**data["data"]),
                    "task": TaskSummary(**data["task"]),
                    "baseline": ModelFigures(**data["baseline"]),
                    "pruned": ModelFigures(**data["pruned"]),
                    "prune": PruneFigures(**data["prune"]),
                    "finetune": FinetuneFigures(**data["finetune"]),
                    "artifacts": [timed(a) for a in data["artifacts"]],
                    "baseline_artifact": timed(data["baseline_artifact"]),
                    "bench": Measurement.from_dict(data["bench"]),
                }
            )
        except (KeyError, TypeError) as exc:
            raise EdgepruneError(f"report: malformed record ({exc})") from None
