"""Embedded targets: Arm Ethos-U NPUs through Vela's compiler and performance estimator, microcontrollers through
TensorFlow Lite Micro; both read any int8 ``.tflite`` (detectors included), so other stages reuse them.

- :mod:`.vela` compiles for an Ethos-U and reads Vela's estimate (:class:`NpuEstimate`, per operator too).
- :mod:`.tflm` runs a file on TFLM in a child process (outputs, arena bytes, or one line naming what it refuses).
- :mod:`.verify` compares TFLM with LiteRT on the same int8 inputs (:class:`TflmCheck`).
"""

from edgeprune.embedded.records import (
    CpuOp,
    EmbeddedArtifact,
    EmbeddedFigures,
    NpuEstimate,
    NpuOp,
    TflmCheck,
)

__all__ = ["CpuOp", "EmbeddedArtifact", "EmbeddedFigures", "NpuEstimate", "NpuOp", "TflmCheck"]
