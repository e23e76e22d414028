"""The schema of plan.json: every field, its type and range; unknown fields are refused.

A plan is data that a user may edit, copy or receive. Before anything reads it, each field is checked here and a
bad one is one line naming its path (``planning.ratios.features.0.0``). The ``planning`` section (what the
planner was asked and reached) is informational, but a value it holds is still checked: a negative ratio there is
as wrong as one in ``groups``. The rules are plain data (small spec objects below), one per field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edgeprune.errors import EdgepruneError

MAX_INT = 1 << 62  # any count a plan could hold (MACs of the largest models are ~1e12)


def _fail(path: str, message: str) -> None:
    raise EdgepruneError(f"plan: field '{path}' {message}")


@dataclass(frozen=True)
class Int:
    lo: int = 0
    hi: int = MAX_INT

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, f"must be an integer, got {value!r}"[:200])
        if not self.lo <= value <= self.hi:
            _fail(path, f"must be in {self.lo}..{self.hi}, got {value}")


@dataclass(frozen=True)
class Num:
    """A finite number in [lo, hi] (``open_lo``: lo itself excluded; ``open_hi``: hi excluded)."""

    lo: float = -math.inf
    hi: float = math.inf
    open_lo: bool = False
    open_hi: bool = False

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            _fail(path, f"must be a finite number, got {value!r}"[:200])
        low_ok = value > self.lo if self.open_lo else value >= self.lo
        high_ok = value < self.hi if self.open_hi else value <= self.hi
        if not (low_ok and high_ok):
            left, right = "(" if self.open_lo else "[", ")" if self.open_hi else "]"
            _fail(path, f"must be in {left}{self.lo:g}, {self.hi:g}{right}, got {value}")


@dataclass(frozen=True)
class Str:
    choices: tuple[str, ...] = ()

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            _fail(path, f"must be a string, got {value!r}"[:200])
        if self.choices and value not in self.choices:
            _fail(path, f"must be one of {list(self.choices)}, got {value!r}"[:200])


@dataclass(frozen=True)
class Bool:
    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            _fail(path, f"must be true or false, got {value!r}"[:200])


@dataclass(frozen=True)
class Opt:
    """``inner`` or null."""

    inner: Any

    def check(self, value: Any, path: str) -> None:
        if value is not None:
            self.inner.check(value, path)


@dataclass(frozen=True)
class List:
    item: Any
    min_len: int = 0
    max_len: int = MAX_INT

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            _fail(path, f"must be a list, got {type(value).__name__}")
        if not self.min_len <= len(value) <= self.max_len:
            _fail(path, f"must hold {self.min_len}..{self.max_len} entries, got {len(value)}")
        for i, v in enumerate(value):
            self.item.check(v, f"{path}[{i}]")


@dataclass(frozen=True)
class Map:
    """An object with free keys (group roots, layer paths) and one kind of value."""

    value: Any

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            _fail(path, f"must be an object, got {type(value).__name__}")
        for k, v in value.items():
            self.value.check(v, f"{path}.{k}")


@dataclass(frozen=True)
class Obj:
    """An object with known fields: ``required`` must be there, any other key is refused."""

    fields: dict[str, Any]
    required: tuple[str, ...] = ()

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            _fail(path, f"must be an object, got {type(value).__name__}")
        prefix = f"{path}." if path else ""
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            known = ", ".join(self.fields)
            _fail(f"{prefix}{unknown[0]}", f"is not a field of {path or 'a plan'} (known: {known})"[:300])
        for name in self.required:
            if name not in value:
                _fail(f"{prefix}{name}", "is missing")
        for name, v in value.items():
            self.fields[name].check(v, f"{prefix}{name}")


@dataclass(frozen=True)
class Scalar:
    """Any JSON scalar (string, finite number, bool, null) or list of them: a recorded setting, not a figure."""

    def check(self, value: Any, path: str) -> None:
        items = value if isinstance(value, list) else [value]
        for v in items:
            if isinstance(v, float) and not math.isfinite(v):
                _fail(path, f"must be finite, got {v!r}")
            if v is not None and not isinstance(v, (str, int, float, bool)):
                _fail(path, f"must be a setting (string, number, true/false), got {type(v).__name__}")


RECORD_DEPTH = 6


@dataclass(frozen=True)
class Record:
    """A strategy's informational record (``planning.auto``, ``planning.memory``, ...): objects and lists of
    settings, at most ``RECORD_DEPTH`` deep; what each holds is its strategy's, never read to rebuild a model."""

    def check(self, value: Any, path: str, depth: int = 0) -> None:
        if depth > RECORD_DEPTH:
            _fail(path, f"nests deeper than {RECORD_DEPTH} levels")
        if isinstance(value, dict):
            for k, v in value.items():
                self.check(v, f"{path}.{k}", depth + 1)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.check(v, f"{path}.{i}", depth + 1)
        else:
            Scalar().check(value, path)


@dataclass(frozen=True)
class Budget:
    """``{"kind", "fraction"}``: a MACs or params budget is a fraction in (0, 1]; a latency budget (a target
    latency over the unpruned one) and a device-memory budget (KiB over the unpruned model's) may exceed 1."""

    def check(self, value: Any, path: str) -> None:
        Obj({"kind": Str(KINDS), "fraction": REACHED}, ("kind", "fraction")).check(value, path)
        if value["kind"] in ("macs", "params"):
            FRACTION.check(value["fraction"], f"{path}.fraction")


MAX_INPUT_ELEMENTS = 1 << 28  # an example input a plan may ask to allocate


@dataclass(frozen=True)
class Shape:
    """An input shape: 1..8 positive sizes whose product a machine can allocate."""

    def check(self, value: Any, path: str) -> None:
        List(Int(1), 1, 8).check(value, path)
        if math.prod(value) > MAX_INPUT_ELEMENTS:
            _fail(path, f"{value} holds {math.prod(value):,} elements, more than any input edgeprune makes")


RATIO = Num(0.0, 1.0, open_hi=True)  # a pruning ratio: [0, 1)
FRACTION = Num(0.0, 1.0, open_lo=True)  # a budget: (0, 1]
REACHED = Num(0.0, open_lo=True)  # a fraction reached or measured: > 0 (a latency miss may exceed 1)
ROUND_TO = Int(1, 1024)
COUNT = Int(0)
METRIC = Opt(Num())
KINDS = ("macs", "params", "latency", "memory")

_LATENCY = Obj(
    {
        "budget": Obj(
            {
                "kind": Str(("latency",)),
                "latency_ms": Opt(Num(0.0, open_lo=True)),
                "speedup": Opt(Num(1.0)),
                "tolerance": Num(0.0, 1.0),
                "fraction": REACHED,
            }
        ),
        "target": Map(Scalar()),
        "source": Str(),  # "vela" on NPU targets (cycles from Vela's estimate); absent: measured on the runtime
        "probes": COUNT,
        "converted": COUNT,
        "table_error": Opt(Num(0.0)),
        "base_ms": Num(0.0),
        "predicted_ms": Num(0.0),
        "measured_ms": Num(0.0),
        "measured_fraction": Num(0.0),
        "measured_speedup": Num(0.0),
        "predicted_speedup": Opt(Num(0.0)),
        "within_tolerance": Bool(),
        "macs": COUNT,
        "base_macs": COUNT,
        "macs_reduction": Num(0.0),
        "params": COUNT,
        "base_params": COUNT,
        "damage": Str(),
        "ratios": Map(RATIO),
        "blocks": List(Str()),
        "attempts": List(
            Obj(
                {
                    "search_fraction": Num(0.0),
                    "predicted_fraction": Num(0.0),
                    "measured_ms": Num(0.0),
                    "measured_fraction": Num(0.0),
                    "macs": COUNT,
                    "miss": Num(),
                    "nudge": Opt(Str()),
                }
            )
        ),
        "fit": Opt(
            Obj(
                {
                    "scale": Num(),
                    "overhead_ms": Num(),
                    "points": COUNT,
                    "residual_p50": Opt(Num(0.0)),
                    "subtract_io": Bool(),
                    "loo_p50": Opt(Num(0.0)),
                    "ms_per_mparam": Num(),
                }
            )
        ),
        "fit_points": List(Obj({"ms": Num(0.0), "predicted_ms": Num(), "dropped": List(Str())})),
        "tables": Opt(
            Obj(
                {
                    "micro_models": COUNT,
                    "measured": COUNT,
                    "cached": COUNT,
                    "failed": COUNT,
                    "seconds": Num(0.0),
                    "levels_done": Int(-1),
                    "budget_spent": Bool(),
                    "estimated_units": List(Str()),
                }
            )
        ),
    }
)

_TOLERANCE = Obj(
    {
        "max_drop": Num(0.0),
        "base_select_metric": Num(),
        "finetune_epochs": COUNT,
        "trials": List(
            Obj({"budget": FRACTION, "fraction": REACHED, "select_metric": Num(), "drop": Num(), "within": Bool()})
        ),
    }
)

PLANNING = Obj(
    {
        "method": Str(),
        "budget": Budget(),
        "reached": Obj({"kind": Str(KINDS), "fraction": REACHED}, ("kind", "fraction")),
        "macs": COUNT,
        "params": COUNT,
        "base_macs": COUNT,
        "base_params": COUNT,
        "macs_fraction": REACHED,
        "params_fraction": REACHED,
        "predicted_metric": METRIC,
        "base_metric": METRIC,
        "ratio": RATIO,  # uniform: the one ratio bisected
        "groups": COUNT,
        "objective": Str(("metric", "loss")),  # sensitivity: the damage measure that won
        "ratios": Map(RATIO),
        "blocks": List(Str()),
        "additive_metric_drop": Num(),
        "attempts": Int(1),
        "finer": Map(ROUND_TO),
        "blocked_by": List(Str()),
        "tolerance": _TOLERANCE,
        "latency": _LATENCY,
        "auto": Record(),  # auto: each candidate's select metric after pruning (and after probe_steps)
        "recovery": Record(),  # the fine-tune recipe the default method used (pipeline/method.py)
        "memory": Record(),  # device-memory budgets: the tool's figures and attempts (embedded/memplan.py)
        "when": Str(("before", "after")),
        "init_score": Str(),
        "epochs": COUNT,
        "recipe": Record(),
    }
)

GROUP = Obj(
    {"root": Str(), "kind": Str(), "width": Int(1), "keep": List(Int(0), 1), "round_to": ROUND_TO},
    ("root", "width", "keep"),
)

SIZE = Opt(List(Int(1), 2, 2))
PREPROCESSING = Obj(
    {
        "resize": SIZE,
        "crop": SIZE,
        "scale": Num(0.0, open_lo=True),
        "mean": List(Num()),
        "std": List(Num(0.0, open_lo=True)),
        "channels": Opt(Int(1, 3)),
        "source": Str(),
    }
)
DATA = Obj({"spec": Str(), "preprocessing": Opt(PREPROCESSING)}, ("spec",))

PLAN = Obj(
    {
        "version": Int(1, 1),
        "model": Opt(Obj({"spec": Str(), "num_classes": Opt(Int(1)), "in_channels": Int(1)}, ("spec",))),
        "input_shape": Shape(),
        "round_to": ROUND_TO,
        "importance": Str(),
        "blocks": List(Str()),
        "attention": List(Str()),
        "groups": List(GROUP),
        "left_alone": List(Obj({"root": Str(), "reason": Str()}, ("root",))),
        "planning": PLANNING,
        "data": Opt(DATA),
        "baseline": Opt(Obj({"checkpoint": Opt(Str()), "train_epochs": Opt(Int(1, 10_000))})),
    },
    ("input_shape",),
)


def check_plan(data: Any) -> None:
    """Refuse a plan document with an unknown field or a value of the wrong type or range, naming the field."""
    PLAN.check(data, "")
