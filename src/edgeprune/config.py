"""Frozen, validated configs for every stage, and target TOML loading.

A target file (``targets/<name>.toml``) has the sections ``[model]``, ``[prune]``, ``[finetune]``,
``[export]`` and ``[bench]``; each maps onto one dataclass below. Unknown fields and bad values raise
:class:`ConfigError` naming the file, section and field.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from edgeprune.errors import ConfigError

TARGETS_DIR = Path(__file__).resolve().parents[2] / "targets"


def _check(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {message}")


@dataclass(frozen=True)
class ModelConfig:
    """Which model, checkpoint and data the target deploys by default."""

    spec: str = "edgeprune:default"
    data: str = "mnist5k"
    checkpoint: str | None = None
    train_epochs: int = 12

    def __post_init__(self) -> None:
        _check(self.train_epochs >= 1, "model.train_epochs", f"must be >= 1, got {self.train_epochs}")


@dataclass(frozen=True)
class PruneConfig:
    """Budget and criterion for structured pruning."""

    macs: float = 0.5
    method: str = "uniform"  # uniform | sensitivity (see edgeprune.planning.strategies)
    importance: str = "magnitude"
    round_to: int = 1
    max_ratio: float = 0.9
    ignored_layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check(0.0 < self.macs <= 1.0, "prune.macs", f"must be in (0, 1], got {self.macs}")
        methods = ("uniform", "sensitivity")
        _check(self.method in methods, "prune.method", f"must be one of {methods}, got {self.method!r}")
        _check(self.round_to >= 1, "prune.round_to", f"must be >= 1, got {self.round_to}")
        _check(0.0 < self.max_ratio < 1.0, "prune.max_ratio", f"must be in (0, 1), got {self.max_ratio}")


@dataclass(frozen=True)
class FinetuneConfig:
    """Recovery training after pruning."""

    epochs: int = 6
    lr: float = 2e-3
    batch_size: int = 64
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    distill: bool = True
    temperature: float = 4.0
    alpha: float = 0.7
    seed: int = 0
    scheduler: str = "onecycle"  # onecycle | cosine | step | constant (per optimizer step)
    warmup_pct: float = 0.15  # one-cycle: fraction of steps spent warming up
    step_epochs: int = 2  # step: decay the LR by ``gamma`` every this many epochs
    gamma: float = 0.1
    momentum: float = 0.9  # SGD (Nesterov)
    steps: int = 0  # > 0: stop after this many optimizer steps (overrides ``epochs``)
    patience: int = 0  # > 0: stop after this many epochs without a better select accuracy
    checkpoint_steps: int = 0  # > 0: also checkpoint every this many steps inside an epoch
    keep_checkpoints: int = 2  # newest checkpoints kept in the run folder

    def __post_init__(self) -> None:
        self._check_schedule()
        _check(self.epochs >= 0, "finetune.epochs", f"must be >= 0, got {self.epochs}")
        _check(self.lr > 0, "finetune.lr", f"must be > 0, got {self.lr}")
        _check(self.batch_size >= 1, "finetune.batch_size", f"must be >= 1, got {self.batch_size}")
        _check(
            self.optimizer in ("adamw", "sgd"),
            "finetune.optimizer",
            f"must be 'adamw' or 'sgd', got {self.optimizer!r}",
        )
        _check(0.0 <= self.alpha <= 1.0, "finetune.alpha", f"must be in [0, 1], got {self.alpha}")
        _check(self.temperature > 0, "finetune.temperature", f"must be > 0, got {self.temperature}")

    def _check_schedule(self) -> None:
        schedulers = ("onecycle", "cosine", "step", "constant")
        _check(
            self.scheduler in schedulers, "finetune.scheduler", f"must be one of {schedulers}, got {self.scheduler!r}"
        )
        _check(0.0 < self.warmup_pct < 1.0, "finetune.warmup_pct", f"must be in (0, 1), got {self.warmup_pct}")
        _check(self.step_epochs >= 1, "finetune.step_epochs", f"must be >= 1, got {self.step_epochs}")
        _check(0.0 < self.gamma <= 1.0, "finetune.gamma", f"must be in (0, 1], got {self.gamma}")
        _check(0.0 <= self.momentum < 1.0, "finetune.momentum", f"must be in [0, 1), got {self.momentum}")
        _check(self.steps >= 0, "finetune.steps", f"must be >= 0, got {self.steps}")
        _check(self.patience >= 0, "finetune.patience", f"must be >= 0, got {self.patience}")
        _check(self.checkpoint_steps >= 0, "finetune.checkpoint_steps", f"must be >= 0, got {self.checkpoint_steps}")
        _check(self.keep_checkpoints >= 1, "finetune.keep_checkpoints", f"must be >= 1, got {self.keep_checkpoints}")


@dataclass(frozen=True)
class ExportConfig:
    """Artifact format and precision."""

    format: str = "tflite"
    precision: str = "fp32"
    calibration_samples: int = 200  # int8: samples from the select split (never validation)
    opset: int = 18
    io_dtype: str = "float"  # int8 only: "float" or "int8" model input/output
    nhwc: bool = False  # tflite: channels-last input for mobile apps
    dynamic_batch: bool = False  # onnx: symbolic batch dimension

    def __post_init__(self) -> None:
        _check(self.format in ("tflite", "onnx"), "export.format", f"must be 'tflite' or 'onnx', got {self.format!r}")
        _check(
            self.precision in ("fp32", "fp16", "int8"),
            "export.precision",
            f"must be one of fp32, fp16, int8, got {self.precision!r}",
        )
        _check(
            self.io_dtype in ("float", "int8"), "export.io_dtype", f"must be 'float' or 'int8', got {self.io_dtype!r}"
        )
        _check(self.calibration_samples >= 1, "export.calibration_samples", "must be >= 1")
        _check(
            not (self.format == "onnx" and self.precision != "fp32"),
            "export.precision",
            "ONNX export supports fp32 only; use format = 'tflite' for fp16/int8",
        )


@dataclass(frozen=True)
class BenchConfig:
    """How latency is measured: runtime, threads, warm-up and run counts."""

    runtime: str = "litert"
    threads: int = 1
    warmup: int = 20
    runs: int = 200
    min_seconds: float = 0.0
    cores: tuple[int, ...] = ()
    xnnpack: bool = True
    remote: str = ""  # "[user@]host[:port]" of a Linux board reached over SSH; empty = this machine
    remote_key: str = ""  # SSH private key for the board; empty = ssh's defaults / agent
    remote_python: str = "python3"  # python on the board (needs numpy + ai-edge-litert or tflite_runtime)
    remote_workdir: str = "/tmp/edgeprune"  # scratch folder on the board, removed after each run

    def __post_init__(self) -> None:
        _check(
            self.runtime in ("litert", "onnxruntime", "torch"),
            "bench.runtime",
            f"must be one of litert, onnxruntime, torch, got {self.runtime!r}",
        )
        _check(self.threads >= 1, "bench.threads", f"must be >= 1, got {self.threads}")
        _check(self.runs >= 1, "bench.runs", f"must be >= 1, got {self.runs}")
        _check(self.warmup >= 0, "bench.warmup", f"must be >= 0, got {self.warmup}")


@dataclass(frozen=True)
class Target:
    """A deploy target: everything ``edgeprune deploy`` needs, from one TOML file."""

    name: str
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


T = TypeVar("T")
_SECTIONS = {
    "model": ModelConfig,
    "prune": PruneConfig,
    "finetune": FinetuneConfig,
    "export": ExportConfig,
    "bench": BenchConfig,
}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert TOML values to the dataclass field's type, rejecting mismatches."""
    text = str(hint)
    if text.startswith("tuple"):
        _check(isinstance(value, list), where, f"must be a list, got {value!r}")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    for simple in (bool, int, float, str):
        if hint is simple:
            ok = isinstance(value, simple) and not (simple is int and isinstance(value, bool))
            _check(ok, where, f"must be {simple.__name__}, got {value!r}")
    return value


def section_from_dict(cls: type[T], data: dict[str, Any], where: str) -> T:
    """Build a config dataclass from a TOML table, naming unknown or mistyped fields."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    _check(not unknown, where, f"unknown field(s) {unknown}; known: {sorted(names)}")
    values = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where.rsplit(':', 1)[0]}: {exc}") from None


def known_targets(directory: Path = TARGETS_DIR) -> list[str]:
    """Names of the target files shipped in ``targets/``."""
    return sorted(p.stem for p in directory.glob("*.toml"))


def load_target(name_or_path: str, directory: Path = TARGETS_DIR) -> Target:
    """Load ``targets/<name>.toml`` or a TOML file path into a :class:`Target`."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        path = directory / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown target '{name_or_path}'; known targets: {', '.join(known_targets(directory))}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"target file {path}: invalid TOML ({exc})") from None
    top = {k: v for k, v in raw.items() if k not in _SECTIONS}
    unknown = sorted(set(top) - {"name", "description"})
    _check(not unknown, str(path), f"unknown top-level field(s) {unknown}; sections: {sorted(_SECTIONS)}")
    sections = {key: section_from_dict(cls, raw.get(key, {}), f"{path}:{key}") for key, cls in _SECTIONS.items()}
    return Target(name=str(top.get("name", path.stem)), description=str(top.get("description", "")), **sections)
