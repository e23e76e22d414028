"""Typed figures of the embedded tools: Vela's NPU estimate (per operator and for the network) and the TFLM check.

Frozen records with ``to_dict``/``from_dict``; the report and the benchmark read their attributes. Vela's numbers
are Arm's performance model of the NPU (cycles from the compiled command stream, memory from its allocator), not a
board measurement; TFLM's arena is what its recording allocator hands out on this host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KIB = 1024


@dataclass(frozen=True)
class NpuOp:
    """One operator of the compiled network as Vela's per-layer performance table lists it."""

    name: str  # Vela's name for it: its output tensor
    original: str  # the TFLite operator (Conv2D, Add, Mean, ...)
    op: str  # what Vela lowered it to (a Mean becomes a DepthwiseConv2D and a Mul)
    target: str  # "NPU" or "CPU"
    cycles: int
    macs: int
    utilization: float  # percent of the NPU's peak MACs per cycle
    layer: str = ""  # the torch module it was attributed to ("" when none)


@dataclass(frozen=True)
class CpuOp:
    """An operator Vela leaves to the Cortex-M, with Vela's reason."""

    name: str
    operator: str
    reason: str


@dataclass(frozen=True)
class NpuEstimate:
    """Vela's compilation of one int8 ``.tflite`` for one Ethos-U configuration."""

    accelerator: str  # e.g. Ethos_U55_128
    system_config: str
    memory_mode: str
    clock_hz: float
    inference_ms: float  # Vela's estimated time per inference (batch 1)
    cycles: int  # total NPU cycles
    macs: int  # the network's MACs as Vela counts them
    sram_bytes: int
    flash_bytes: int  # on- and off-chip flash (U55 default: weights and command stream live here)
    dram_bytes: int  # DRAM (U65/U85 defaults keep the constants in DRAM instead)
    ops: list[NpuOp] = field(default_factory=list)
    cpu_ops: list[CpuOp] = field(default_factory=list)
    compiled: str = ""  # the ``*_vela.tflite`` written
    vela: str = ""  # ethos-u-vela version

    @property
    def sram_kib(self) -> float:
        return self.sram_bytes / KIB

    @property
    def storage_bytes(self) -> int:
        """Where the model's constants live off the SRAM: flash when Vela used any, else DRAM."""
        return self.flash_bytes or self.dram_bytes

    @property
    def storage(self) -> str:
        return "flash" if self.flash_bytes or not self.dram_bytes else "DRAM"

    @property
    def flash_kib(self) -> float:
        return self.storage_bytes / KIB

    @property
    def npu_ops(self) -> int:
        return sum(op.target == "NPU" for op in self.ops)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NpuEstimate:
        return cls(
            **{
                **data,
                "ops": [NpuOp(**o) for o in data.get("ops", [])],
                "cpu_ops": [CpuOp(**c) for c in data.get("cpu_ops", [])],
            }
        )


@dataclass(frozen=True)
class TflmCheck:
    """One int8 artifact on TensorFlow Lite Micro's interpreter, against LiteRT running the same file.

    Agreement and differences are on the raw int8 outputs (same input bytes to both); ``metric`` is the task's
    metric of TFLM's outputs on the same validation samples."""

    samples: int
    top1_agreement: float  # percent of samples whose arg-max equals LiteRT's
    identical: float  # percent of samples whose int8 outputs equal LiteRT's bit for bit
    max_abs_diff: int  # largest |TFLM - LiteRT| over all int8 outputs
    metric: float | None  # the task's metric of TFLM's outputs (None for tasks without one on these samples)
    arena_bytes: int  # RecordingMicroAllocator: arena allocation total
    arena_head_bytes: int  # the planned activation buffers
    arena_tail_bytes: int  # persistent: tensors' structs, kernels' data (64-bit host sizes)
    model_bytes: int  # the .tflite (what the MCU keeps in flash)
    tflm: str = ""  # tflite-micro version

    @property
    def arena_kib(self) -> float:
        return self.arena_bytes / KIB

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TflmCheck:
        return cls(**data)


@dataclass(frozen=True)
class EmbeddedArtifact:
    """One shipped int8 artifact on the device's tools: TFLM's check and arena, Vela's estimate."""

    name: str  # the .tflite file name
    role: str  # "pruned" or "baseline"
    macs: int  # of the torch model it was exported from
    tflm: TflmCheck | None = None
    npu: NpuEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddedArtifact:
        tflm, npu = data.get("tflm"), data.get("npu")
        return cls(
            name=data["name"],
            role=data["role"],
            macs=int(data["macs"]),
            tflm=None if tflm is None else TflmCheck.from_dict(tflm),
            npu=None if npu is None else NpuEstimate.from_dict(npu),
        )


@dataclass(frozen=True)
class EmbeddedFigures:
    """What the embedded tools said about a deploy's int8 artifacts (unpruned first, then pruned)."""

    accelerator: str  # "" for a microcontroller target without NPU
    system_config: str
    memory_mode: str
    artifacts: list[EmbeddedArtifact]
    input: dict[str, Any] | None = None  # raw sample -> int8 input (edgeprune.export.inputq.InputQuantization)

    def of(self, role: str) -> EmbeddedArtifact | None:
        return next((a for a in self.artifacts if a.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddedFigures:
        return cls(**{**data, "artifacts": [EmbeddedArtifact.from_dict(a) for a in data.get("artifacts", [])]})
