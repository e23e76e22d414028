"""Frozen, validated configs of every stage: one dataclass per section of a target file.

A target file (``targets/<name>.toml``) has the sections ``[model]``, ``[data]``, ``[task]``, ``[prune]``,
``[finetune]``, ``[export]``, ``[bench]`` and, for embedded targets, ``[npu]`` and ``[tflm]``; each maps onto one
dataclass below. Every value is checked by type
and range here (tuple elements too, non-finite numbers refused); names that registries own (criteria,
strategies) are checked where the target is loaded (:mod:`edgeprune.targets`). Errors name the field.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from edgeprune.errors import ConfigError
from edgeprune.formats import FORMATS, PRECISIONS, format_named, known_runtimes

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {message}")


@dataclass(frozen=True)
class ModelConfig:
    """Which model and (unpruned) checkpoint the target deploys by default."""

    spec: str = "edgeprune:default"
    checkpoint: str | None = None
    train_epochs: int = 12  # when no checkpoint is given: epochs to train the baseline (cached)
    estimate_bn_stats: bool = False  # BatchNorm without running statistics: estimate them on train samples
    allow_chance_baseline: bool = False  # a checkpoint scoring at chance level is intended (no stop)

    def __post_init__(self) -> None:
        _check(bool(self.spec), "model.spec", "must not be empty")
        _check(1 <= self.train_epochs <= 10_000, "model.train_epochs", f"must be in 1..10000, got {self.train_epochs}")


@dataclass(frozen=True)
class DataConfig:
    """Which data, and the preprocessing the model was trained with (for npz:, imagefolder: and folders)."""

    spec: str = "mnist5k"
    resize: tuple[int, ...] = ()  # (H, W) or (S,) for S x S
    crop: tuple[int, ...] = ()
    scale: float = 1.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    channels: int = 0  # 0: as stored (arrays) / RGB as torchvision's ImageFolder reads them (image folders)
    num_classes: int = 0  # 0: one more than the largest label; set when the labels do not show every class
    batch_size: int = 500  # evaluation batch

    def __post_init__(self) -> None:
        _check(bool(self.spec), "data.spec", "must not be empty")
        for name in ("resize", "crop"):
            size = getattr(self, name)
            _check(len(size) in (0, 1, 2) and all(s >= 1 for s in size), f"data.{name}", f"must be [H, W], got {size}")
        _check(self.scale > 0, "data.scale", f"must be > 0, got {self.scale}")
        _check(len(self.mean) == len(self.std), "data.std", "must have as many values as data.mean")
        _check(all(s > 0 for s in self.std), "data.std", f"every value must be > 0, got {list(self.std)}")
        _check(self.channels in (0, 1, 3), "data.channels", f"must be 0 (as stored), 1 or 3, got {self.channels}")
        _check(self.batch_size >= 1, "data.batch_size", f"must be >= 1, got {self.batch_size}")
        _check(0 <= self.num_classes <= 1 << 20, "data.num_classes", f"must be in 0..1048576, got {self.num_classes}")

    @property
    def user_preprocessing(self) -> bool:
        return bool(self.resize or self.crop or self.mean or self.channels or self.scale != 1.0)


@dataclass(frozen=True)
class TaskConfig:
    """The task's loss and metric: empty means classification (cross-entropy, top-1)."""

    loss: str = ""  # module:function or path/file.py:function, (outputs, targets) -> scalar tensor
    metric: str = ""  # module:function or path/file.py:function, (outputs, targets) -> batch mean
    higher_is_better: bool = True
    distill: str = ""  # "kl" (softmax over dim 1) or "mse"; "" = kl
    kind: str = ""  # "classification" or "detection"; "" = what the data is for (detect-digits: detection)


WHEN = ("after", "before")
# The budget fields of [prune]: a target sets at most one (none: DEFAULT_MACS of the MACs). A budget given on the
# command line replaces the target's (edgeprune.pipeline.overrides).
BUDGETS = ("macs", "params", "latency_ms", "speedup", "sram_kib", "flash_kib", "arena_kib")
MEMORY_BUDGETS = ("sram_kib", "flash_kib", "arena_kib")  # KiB on the device: Vela's SRAM / flash, TFLM's arena
DEFAULT_MACS = 0.5  # prune a trained model (then fine-tune), or prune at initialization (then train)


@dataclass(frozen=True)
class PruneConfig:
    """Budget and criterion for structured pruning."""

    macs: float | None = None  # keep at most this fraction of the MACs (0 < macs <= 1); DEFAULT_MACS when no budget
    params: float | None = None  # set: budget the parameter count (fraction) instead of MACs
    method: str = "auto"  # a strategy in edgeprune.pipeline.strategies (auto: the better of uniform and sensitivity)
    importance: str = "magnitude"  # a criterion in edgeprune.importance
    round_to: int = 1
    max_ratio: float = 0.9
    max_drop: float | None = None  # set: tolerance mode, the smallest budget within this many metric points
    recalibrate: int = 256  # select samples re-estimating BatchNorm statistics after pruning (0: off)
    probe_steps: int = 40  # auto: fine-tune steps each plan gets before the choice on select (0: choose untrained)
    ignored_layers: tuple[str, ...] = ()
    sparsity: float = 0.0  # connection pruning after the channels: zeros per layer at the end (0: off)
    pattern: str = "unstructured"  # connection pattern: unstructured, N:M (2:4) or blocks RxC (1x4, 4x1)
    when: str = "after"  # "before": prune at initialization and train the small model from scratch
    latency_ms: float | None = None  # set: a latency budget measured on the target's runtime (ms per inference)
    speedup: float | None = None  # set: a latency budget as a measured speedup over the unpruned model
    sram_kib: float | None = None  # set: Vela's SRAM use on the NPU target, KiB
    flash_kib: float | None = None  # set: the model's flash on the device (Vela's flash, or the .tflite for TFLM), KiB
    arena_kib: float | None = None  # set: TFLM's tensor arena (recording allocator), KiB

    def __post_init__(self) -> None:
        _check(self.macs is None or 0.0 < self.macs <= 1.0, "prune.macs", f"must be in (0, 1], got {self.macs}")
        for name in MEMORY_BUDGETS:
            value = getattr(self, name)
            _check(value is None or value > 0, f"prune.{name}", f"must be > 0 KiB, got {value}")
        given = self.budgets_given
        if len(given) > 1:
            both = " and ".join(f"prune.{b} = {getattr(self, b)}" for b in given)
            raise ConfigError(f"prune.{given[-1]}: {both} are {len(given)} budgets; keep one")
        _check(0.0 <= self.sparsity < 1.0, "prune.sparsity", f"must be in [0, 1), got {self.sparsity}")
        _check(bool(self.pattern), "prune.pattern", "must not be empty")
        _check(self.when in WHEN, "prune.when", f"must be one of {list(WHEN)}, got {self.when!r}")
        _check(
            self.latency_ms is None or self.latency_ms > 0, "prune.latency_ms", f"must be > 0, got {self.latency_ms}"
        )
        _check(self.speedup is None or self.speedup >= 1.0, "prune.speedup", f"must be >= 1, got {self.speedup}")
        _check(self.params is None or 0.0 < self.params <= 1.0, "prune.params", f"must be in (0, 1], got {self.params}")
        _check(bool(self.method), "prune.method", "must not be empty")
        _check(bool(self.importance), "prune.importance", "must not be empty")
        _check(1 <= self.round_to <= 1024, "prune.round_to", f"must be in 1..1024, got {self.round_to}")
        _check(0.0 < self.max_ratio < 1.0, "prune.max_ratio", f"must be in (0, 1), got {self.max_ratio}")
        _check(self.max_drop is None or self.max_drop >= 0, "prune.max_drop", f"must be >= 0, got {self.max_drop}")
        _check(self.recalibrate >= 0, "prune.recalibrate", f"must be >= 0, got {self.recalibrate}")
        _check(0 <= self.probe_steps <= 100_000, "prune.probe_steps", f"must be in 0..100000, got {self.probe_steps}")

    @property
    def latency(self) -> bool:
        """True when the budget is a latency measured on the target (``latency_ms`` or ``speedup``)."""
        return self.latency_ms is not None or self.speedup is not None

    @property
    def memory(self) -> tuple[str, float] | None:
        """(field, KiB) of a memory budget on the device (``sram_kib``, ``flash_kib`` or ``arena_kib``), or None."""
        given = [name for name in MEMORY_BUDGETS if getattr(self, name) is not None]
        return (given[0], float(getattr(self, given[0]))) if given else None

    @property
    def connections(self) -> bool:
        """True when connections are pruned too (a sparsity level, or a pattern that fixes one, e.g. 2:4)."""
        return self.sparsity > 0.0 or self.pattern != "unstructured"

    @property
    def budgets_given(self) -> list[str]:
        """The budget fields set (at most one is valid)."""
        return [name for name in BUDGETS if getattr(self, name) is not None]

    @property
    def budget(self) -> tuple[str, float]:
        """(kind, fraction) of a MACs or params budget: ``("params", p)`` when set, else ``("macs", m)`` (the
        default fraction when the target gives none; with ``max_drop`` it is the floor of the search)."""
        if self.params is not None:
            return ("params", self.params)
        return ("macs", DEFAULT_MACS if self.macs is None else self.macs)


@dataclass(frozen=True)
class FinetuneConfig:
    """Recovery training after pruning (and the recipe that trains a missing baseline)."""

    epochs: int = 6
    lr: float = 2e-3
    batch_size: int = 32  # measured: twice the optimizer steps of 64 in the same epochs recover pruned models better
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
    patience: int = 0  # > 0: stop after this many epochs without a better select metric
    checkpoint_steps: int = 0  # > 0: also checkpoint every this many steps inside an epoch
    keep_checkpoints: int = 2  # newest checkpoints kept in the run folder
    workers: int = 0  # DataLoader worker processes decoding samples (0: in the training process)
    recalibrate_bn: int = 256  # train samples re-estimating BatchNorm statistics before each select evaluation

    def __post_init__(self) -> None:
        self._check_schedule()
        _check(0 <= self.epochs <= 10_000, "finetune.epochs", f"must be in 0..10000, got {self.epochs}")
        _check(0.0 < self.lr <= 10.0, "finetune.lr", f"must be in (0, 10], got {self.lr}")
        _check(self.batch_size >= 1, "finetune.batch_size", f"must be >= 1, got {self.batch_size}")
        optimizers = ("adamw", "sgd")
        _check(
            self.optimizer in optimizers, "finetune.optimizer", f"must be one of {optimizers}, got {self.optimizer!r}"
        )
        _check(self.weight_decay >= 0, "finetune.weight_decay", f"must be >= 0, got {self.weight_decay}")
        _check(0.0 <= self.label_smoothing < 1.0, "finetune.label_smoothing", "must be in [0, 1)")
        _check(0.0 <= self.alpha <= 1.0, "finetune.alpha", f"must be in [0, 1], got {self.alpha}")
        _check(self.temperature > 0, "finetune.temperature", f"must be > 0, got {self.temperature}")
        _check(self.seed >= 0, "finetune.seed", f"must be >= 0, got {self.seed}")
        _check(self.workers >= 0, "finetune.workers", f"must be >= 0, got {self.workers}")
        _check(self.recalibrate_bn >= 0, "finetune.recalibrate_bn", f"must be >= 0, got {self.recalibrate_bn}")

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


def training_recipe(epochs: int, seed: int = 0) -> FinetuneConfig:
    """The recipe that trains a baseline from scratch (no teacher)."""
    return FinetuneConfig(epochs=epochs, lr=4e-3, batch_size=64, distill=False, label_smoothing=0.05, seed=seed)


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
    parity_samples: int = 64  # validation samples the fp32/fp16 parity check runs
    sparse: bool = False  # tflite: weights with >= 50% zeros in TFLite's sparse encoding (on with prune.sparsity)

    def __post_init__(self) -> None:
        _check(
            not self.sparse or self.format == "tflite", "export.sparse", f"needs format 'tflite', not {self.format!r}"
        )
        _check(self.format in FORMATS, "export.format", f"must be one of {sorted(FORMATS)}, got {self.format!r}")
        _check(self.precision in PRECISIONS, "export.precision", f"must be one of {PRECISIONS}, got {self.precision!r}")
        fmt = format_named(self.format)
        _check(
            self.precision in fmt.precisions,
            "export.precision",
            f"format '{self.format}' writes {list(fmt.precisions)}, not {self.precision!r}",
        )
        _check(
            self.io_dtype in ("float", "int8"), "export.io_dtype", f"must be 'float' or 'int8', got {self.io_dtype!r}"
        )
        _check(1 <= self.calibration_samples <= 100_000, "export.calibration_samples", "must be in 1..100000")
        _check(17 <= self.opset <= 30, "export.opset", f"must be in 17..30, got {self.opset}")
        _check(1 <= self.parity_samples <= 100_000, "export.parity_samples", "must be in 1..100000")

    @property
    def runtime(self) -> str:
        return format_named(self.format).runtime


@dataclass(frozen=True)
class BenchConfig:
    """How latency is measured: runtime, threads, warm-up and run counts, cores, remote board."""

    runtime: str = ""  # "" = the runtime of export.format; else it must be that runtime
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
        runtimes = known_runtimes()
        _check(self.runtime in ("", *runtimes), "bench.runtime", f"must be one of {runtimes}, got {self.runtime!r}")
        _check(1 <= self.threads <= 256, "bench.threads", f"must be in 1..256, got {self.threads}")
        _check(1 <= self.runs <= 1_000_000, "bench.runs", f"must be in 1..1000000, got {self.runs}")
        _check(0 <= self.warmup <= 1_000_000, "bench.warmup", f"must be in 0..1000000, got {self.warmup}")
        _check(0.0 <= self.min_seconds <= 3600, "bench.min_seconds", f"must be in [0, 3600], got {self.min_seconds}")
        _check(all(0 <= c < 4096 for c in self.cores), "bench.cores", f"must be CPU numbers >= 0, got {self.cores}")
        _check(len(set(self.cores)) == len(self.cores), "bench.cores", f"lists a core twice: {self.cores}")
        _check(bool(self.remote_python.strip()), "bench.remote_python", "must not be empty")
        _check(self.remote_workdir.startswith("/"), "bench.remote_workdir", "must be an absolute path on the board")
        _check("\n" not in self.remote + self.remote_key, "bench.remote", "must be one line")


# ``vela --accelerator-config`` choices (ethos-u-vela 5.2.0): the NPU and its MACs per cycle
ACCELERATORS = (
    "ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256", "ethos-u65-256", "ethos-u65-512",
    "ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024", "ethos-u85-2048",
)  # fmt: skip
VELA_OPTIMISE = ("Performance", "Size")


@dataclass(frozen=True)
class NpuConfig:
    """An Arm Ethos-U NPU as Vela compiles for it (``[npu]``); an empty ``accelerator`` means no NPU.

    ``system_config`` and ``memory_mode`` name sections of Vela's configuration file (``config_file``, default
    Vela's own ``Arm/vela.ini``); empty means Vela's default for the accelerator, which Vela warns may not be the
    board's (ethos-u-vela 5.2.0: U55 -> Ethos_U55_High_End_Embedded + Shared_Sram, U65 -> Ethos_U65_Client_Server
    + Dedicated_Sram_384KB, U85 -> Ethos_U85_SYS_DRAM_Mid + Dedicated_Sram_384KB)."""

    accelerator: str = ""
    system_config: str = ""
    memory_mode: str = ""
    config_file: str = ""  # a Vela .ini holding the two sections above; "" = Vela's Arm/vela.ini
    optimise: str = "Performance"  # Vela --optimise: Performance or Size

    def __post_init__(self) -> None:
        _check(
            self.accelerator in ("", *ACCELERATORS),
            "npu.accelerator",
            f"must be one of {list(ACCELERATORS)}, got {self.accelerator!r}",
        )
        for name in ("system_config", "memory_mode"):
            value = getattr(self, name)
            _check(value == "" or bool(SAFE_NAME.match(value)), f"npu.{name}", f"is not a section name: {value!r}")
        _check(self.optimise in VELA_OPTIMISE, "npu.optimise", f"must be one of {list(VELA_OPTIMISE)}")
        _check("\n" not in self.config_file, "npu.config_file", "must be one line")

    @property
    def enabled(self) -> bool:
        return bool(self.accelerator)


@dataclass(frozen=True)
class TflmConfig:
    """Verification on TensorFlow Lite Micro's interpreter (``[tflm]``): every int8 artifact is run there on
    validation samples and compared with the LiteRT run of the same file; one TFLM refuses is not shipped."""

    verify: bool = False
    samples: int = 200  # validation samples run on both interpreters
    min_agreement: float = 99.0  # percent of samples whose TFLM top-1 equals LiteRT's
    arena_kib: int = 4096  # the arena handed to TFLM while measuring (what it uses is recorded)

    def __post_init__(self) -> None:
        _check(1 <= self.samples <= 100_000, "tflm.samples", f"must be in 1..100000, got {self.samples}")
        _check(0.0 <= self.min_agreement <= 100.0, "tflm.min_agreement", "must be in [0, 100]")
        _check(16 <= self.arena_kib <= 1_048_576, "tflm.arena_kib", f"must be in 16..1048576, got {self.arena_kib}")


@dataclass(frozen=True)
class Target:
    """A deploy target: everything ``edgeprune deploy`` needs, from one TOML file."""

    name: str
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    npu: NpuConfig = field(default_factory=NpuConfig)
    tflm: TflmConfig = field(default_factory=TflmConfig)

    def __post_init__(self) -> None:
        self._check_embedded()
        _check(
            bool(SAFE_NAME.match(self.name)),
            "name",
            f"{self.name!r} must be 1-64 letters, digits, '.', '_' or '-' (it names the output folder)",
        )
        runtime = self.export.runtime
        _check(
            self.bench.runtime in ("", runtime),
            "bench.runtime",
            f"{self.bench.runtime!r} cannot run export.format {self.export.format!r} (its runtime is {runtime!r});"
            " make the two fields agree",
        )

    def _check_embedded(self) -> None:
        """An NPU or TFLM target deploys full-integer int8 TFLite; its memory budgets need the tool that measures
        them (SRAM: Vela, arena: TFLM, flash: either)."""
        for section, on in (("npu.accelerator", self.npu.enabled), ("tflm.verify", self.tflm.verify)):
            if on:
                _check(
                    self.export.format == "tflite" and self.export.precision == "int8",
                    section,
                    f"needs export.format 'tflite' and export.precision 'int8', not {self.export.format!r}"
                    f" {self.export.precision!r}",
                )
        memory = self.prune.memory
        if memory is None:
            return
        name = memory[0]
        needs = {"sram_kib": self.npu.enabled, "arena_kib": self.tflm.verify}
        ok = needs.get(name, self.npu.enabled or self.tflm.verify)
        tool = {"sram_kib": "an [npu] section (Vela measures SRAM)", "arena_kib": "[tflm] verify = true (TFLM"
                " measures the arena)"}.get(name, "an [npu] section or [tflm] verify = true")  # fmt: skip
        _check(ok, f"prune.{name}", f"needs {tool}; target '{self.name}' has none")

    @property
    def embedded(self) -> bool:
        """True for NPU and microcontroller targets (Vela and/or TFLM check the int8 artifacts)."""
        return self.npu.enabled or self.tflm.verify

    @property
    def runtime(self) -> str:
        """The runtime the artifacts are measured on (export.format's)."""
        return self.export.runtime

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


T = TypeVar("T")
SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "task": TaskConfig,
    "prune": PruneConfig,
    "finetune": FinetuneConfig,
    "export": ExportConfig,
    "bench": BenchConfig,
    "npu": NpuConfig,
    "tflm": TflmConfig,
}
_SIMPLE = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def _coerce_simple(value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    _check(ok, where, f"must be {_SIMPLE[kind]}, got {value!r}")
    if kind is float:
        _check(math.isfinite(value), where, f"must be a finite number, got {value!r}")
    if kind is str:
        _check("\x00" not in value, where, "must not contain NUL characters")
    return value


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert a TOML value to the dataclass field's type, rejecting mismatches (tuple elements too)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        _check(isinstance(value, list), where, f"must be a list, got {value!r}")
        return tuple(_coerce_simple(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if args and type(None) in args:  # "X | None"
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint in _SIMPLE:
        return _coerce_simple(value, hint, where)
    return value


def section_from_dict(cls: type[T], data: Any, where: str) -> T:
    """Build a config dataclass from a TOML table, naming unknown or mistyped fields."""
    _check(isinstance(data, dict), where, f"must be a table ([{where.rsplit(':', 1)[-1]}]), got {data!r}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    _check(not unknown, where, f"unknown field(s) {unknown}; known: {sorted(names)}")
    values = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where.rsplit(':', 1)[0]}: {exc}") from None


def with_changes(cfg: T, **changes: Any) -> T:
    """``cfg`` with the non-None ``changes`` applied and validated (flag overrides)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[type-var]
