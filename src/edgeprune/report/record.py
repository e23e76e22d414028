"""The deploy report as a frozen, versioned record: what was asked, what was cut, what it cost and bought.

``report.json`` is ``DeployReport.to_dict()``; the Markdown and HTML renderers read attributes of this record,
never string keys of a dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgeprune.bench.measurement import Latency, Measurement
from edgeprune.embedded.records import EmbeddedFigures
from edgeprune.errors import EdgepruneError
from edgeprune.export.verified import VerifiedArtifact
from edgeprune.sensitivity.result import Sensitivity

REPORT_VERSION = 4
# version 2 lacks the optional fields added in 3 (sensitivity, unpruned_artifacts), 3 the one added in 4 (embedded)
READABLE_VERSIONS = (2, 3, 4)


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
class GroupWidth:
    """One coupled group's width before and after pruning."""

    root: str
    before: int
    after: int
    step: int = 1  # the rounding its width follows: round_to, or the finer step a narrow group fell back to

    @property
    def kept(self) -> float:
        return self.after / self.before if self.before else 1.0


@dataclass(frozen=True)
class ConnectionFigures:
    """Connection pruning after the channels: the pattern asked for and the zeros the deployed weights hold."""

    pattern: str  # unstructured | N:M | RxC
    target: float  # zeros per sparsified layer asked for
    reached: float  # zeros over the sparsified layers' weights, measured on the fine-tuned model
    all_weights: float  # zeros over every conv/linear weight (dense layers included)
    dense_layers: dict[str, str] = field(default_factory=dict)  # layer -> why it stayed dense


@dataclass(frozen=True)
class LatencyFigures:
    """A latency budget on the target: what was asked, what the latency model predicted, what was measured while
    planning (the deploy timing below measures again, in its own run)."""

    latency_ms: float | None  # the budget in ms, or None when it is a speedup
    speedup: float | None
    tolerance: float
    base_ms: float
    predicted_ms: float
    measured_ms: float
    measured_speedup: float
    within_tolerance: bool
    attempts: int


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
    predicted_metric: float | None  # on select samples after BN recalibration (never validation)
    model_dir: str
    details: dict[str, Any] = field(default_factory=dict)  # strategy specifics (ratios, objective, tolerance)
    when: str = "after"  # "before": pruned at initialization and trained from scratch
    connections: ConnectionFigures | None = None  # None: no connection pruning
    latency: LatencyFigures | None = None  # None: a MACs or params budget
    finer: dict[str, int] = field(default_factory=dict)  # group root -> finer step than round_to (narrow groups)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruneFigures:
        links, latency = data.get("connections"), data.get("latency")
        return cls(
            **{
                **data,
                "connections": None if links is None else ConnectionFigures(**links),
                "latency": None if latency is None else LatencyFigures(**latency),
            }
        )

    @property
    def group_widths(self) -> list[GroupWidth]:
        """Every cut group's width before and after, in plan order."""
        return [
            GroupWidth(root, int(w[0]), int(w[1]), self.finer.get(root, self.round_to))
            for root, w in self.widths.items()
        ]


@dataclass(frozen=True)
class EpochFigures:
    """One fine-tune epoch: training loss and the select split's metric and loss (never validation)."""

    epoch: int
    lr: float
    train_loss: float
    select_metric: float
    select_loss: float


def _number(value: float | None) -> float:
    """A figure read back from strict JSON, where a missing value (NaN when written) is null."""
    return float("nan") if value is None else float(value)


def _epoch(index: int, h: dict[str, float]) -> EpochFigures:
    return EpochFigures(
        int(h.get("epoch", index + 1)), _number(h.get("lr")), _number(h["train_loss"]), _number(h["select_metric"]),
        _number(h.get("select_loss")),
    )  # fmt: skip


@dataclass(frozen=True)
class FinetuneFigures:
    epochs: int
    distill: bool
    best_epoch: int
    history: list[dict[str, float]]  # per epoch: step, lr, train_loss, select_metric, select_loss

    @property
    def curve(self) -> list[EpochFigures]:
        """The history as typed rows (epochs numbered from 1 where the history does not say)."""
        return [_epoch(i, h) for i, h in enumerate(self.history)]


@dataclass(frozen=True)
class TimedArtifact:
    """A verified artifact and its latency from the shared run."""

    artifact: VerifiedArtifact
    latency: Latency
    speedup: float  # p50 of the unpruned fp32 artifact / this p50, same run

    @property
    def parity_bound(self) -> str:
        """The check this artifact passed, per precision: the relative-error bound (fp32, fp16), or the int8
        limits on accuracy drop and arg-max agreement."""
        a = self.artifact
        if a.parity.bound is not None:
            return f"rel. err <= {a.parity.bound:.0e}"
        if a.int8 and "box_agreement" in a.int8:
            return f"int8: mAP drop <= {a.int8['max_drop']:g} pt (box agreement {a.int8['box_agreement']:.1f})"
        if a.int8:
            drop = a.int8.get("accuracy_drop")
            limit = f"drop <= {a.int8['max_drop']:g} pt, " if drop is not None else ""
            return f"int8: {limit}agreement >= {a.int8['min_agreement']:g}%"
        return "no bound"

    @property
    def int8_accuracy_drop(self) -> float | None:
        """int8 only: validation top-1 of the torch model minus the artifact's, on the checked samples."""
        return None if not self.artifact.int8 else self.artifact.int8.get("accuracy_drop")


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
    unpruned_artifacts: list[TimedArtifact] = field(default_factory=list)  # the unpruned model at other precisions
    sensitivity: Sensitivity | None = None  # the scan the sensitivity strategy planned from (None: not run)
    embedded: EmbeddedFigures | None = None  # TFLM's check and Vela's estimate of the int8 artifacts (None: not run)
    version: int = REPORT_VERSION

    @property
    def all_artifacts(self) -> list[TimedArtifact]:
        """Every timed artifact: the unpruned fp32 reference, the unpruned at other precisions, then the pruned."""
        return [self.baseline_artifact, *self.unpruned_artifacts, *self.artifacts]

    def macs_of(self, timed: TimedArtifact) -> int:
        """MACs of the torch model an artifact was exported from."""
        return self.pruned.macs if timed.artifact.role == "pruned" else self.baseline.macs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeployReport:
        if data.get("version") not in READABLE_VERSIONS:
            raise EdgepruneError(
                f"report: field 'version' is {data.get('version')!r}; this edgeprune reads versions"
                f" {list(READABLE_VERSIONS)} (rerun `edgeprune deploy` to write a current report)"
            )
        try:

            def timed(d: dict[str, Any]) -> TimedArtifact:
                return TimedArtifact(VerifiedArtifact.from_dict(d["artifact"]), Latency(**d["latency"]), d["speedup"])

            sens, embedded = data.get("sensitivity"), data.get("embedded")
            return cls(
                **{
                    **data,
                    "version": REPORT_VERSION,
                    "unpruned_artifacts": [timed(a) for a in data.get("unpruned_artifacts", [])],
                    "sensitivity": None if sens is None else Sensitivity.from_dict(sens),
                    "embedded": None if embedded is None else EmbeddedFigures.from_dict(embedded),
                    "data": DataSummary(**data["data"]),
                    "task": TaskSummary(**data["task"]),
                    "baseline": ModelFigures(**data["baseline"]),
                    "pruned": ModelFigures(**data["pruned"]),
                    "prune": PruneFigures.from_dict(data["prune"]),
                    "finetune": FinetuneFigures(**data["finetune"]),
                    "artifacts": [timed(a) for a in data["artifacts"]],
                    "baseline_artifact": timed(data["baseline_artifact"]),
                    "bench": Measurement.from_dict(data["bench"]),
                }
            )
        except (KeyError, TypeError) as exc:
            raise EdgepruneError(f"report: malformed record ({exc})") from None
