"""Seeded mutators for the fuzz tests: structural mutations of JSON/TOML documents and of arrays, byte mutations of
files, and a guard that turns every outcome into "ok", "one-line user error" or a test failure.

Structural mutations: type swaps, huge/negative/zero numbers, deleted and unknown keys, wrong nesting (a value
wrapped in a list or an object), emptied or duplicated lists. Byte mutations: flips, truncations, insertions,
deleted chunks. Each case applies one to three of them, chosen by a seeded ``random.Random``.
"""

from __future__ import annotations

import copy
import json
import math
import random
import signal
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

LIMIT_S = 30  # a single load taking longer than this counts as a hang

POOL: list[Any] = [
    None, True, False, 0, -1, 1, 2, 1.5, -0.5, 10**9, -(10**9), 2**63, 1e308, -1e308, math.inf, math.nan,
    "", "x", "edgeprune:default", "sys:exit", "os:abort", "../../../x", "a;b $(c)", "\x00", "é" * 3,
    [], [1, 2], ["a"], {}, {"a": 1}, [[1]], {"spec": "sys:exit"},
]  # fmt: skip


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) to a node below ``node``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:8]):  # long lists (kept indices): a few elements are enough
            found.append((*prefix, i))
            found += _paths(value, (*prefix, i))
    return found


def _parent(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def _number(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return rng.choice(POOL)
    return rng.choice([-value, 0, value * 10**6, value + 1, -(2**31), 2**31, 2**64, float(value), 1e-300])


def mutate_doc(doc: Any, rng: random.Random) -> tuple[Any, str]:
    """One structural mutation of a JSON-like document; returns the new document and what was done."""
    doc = copy.deepcopy(doc)
    paths = _paths(doc)
    path = rng.choice(paths)
    parent, key = _parent(doc, path), path[-1]
    value = parent[key]
    op = rng.choice(["swap", "swap", "number", "delete", "unknown_key", "wrap_list", "wrap_dict", "list_edit"])
    if op == "swap":
        parent[key] = copy.deepcopy(rng.choice(POOL))
    elif op == "number":
        parent[key] = _number(value, rng)
    elif op == "delete":
        del parent[key]
    elif op == "unknown_key":
        target = value if isinstance(value, dict) else (parent if isinstance(parent, dict) else doc)
        if isinstance(target, dict):
            target[f"unknown_{rng.randrange(100)}"] = rng.choice(POOL)
    elif op == "wrap_list":
        parent[key] = [value]
    elif op == "wrap_dict":
        parent[key] = {"value": value}
    elif op == "list_edit":
        lists = [p for p in paths if isinstance(_parent(doc, p)[p[-1]], list)]
        if lists:
            p = rng.choice(lists)
            items = _parent(doc, p)[p[-1]]
            _parent(doc, p)[p[-1]] = rng.choice([[], items + items, items[::-1], items[:1], [items] if items else [[]]])
            return doc, f"list_edit {p}"
    return doc, f"{op} {path}"


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One byte-level mutation."""
    if not data:
        return bytes(rng.randrange(256) for _ in range(8)), "random bytes"
    op = rng.choice(["flip", "truncate", "insert", "delete"])
    buf = bytearray(data)
    if op == "flip":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif op == "truncate":
        buf = buf[: rng.randrange(len(buf))]
    elif op == "insert":
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:
        at = rng.randrange(len(buf))
        del buf[at : at + rng.randint(1, 64)]
    return bytes(buf), op


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def _toml_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -(2**63) <= value < 2**63 else json.dumps(str(value))  # TOML ints are 64-bit
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(v for v in map(_toml_value, value) if v is not None) + "]"
    if isinstance(value, dict):
        items = [(k, _toml_value(v)) for k, v in value.items()]
        return "{" + ", ".join(f"{_toml_key(str(k))} = {v}" for k, v in items if v is not None) + "}"
    raise TypeError(type(value))


def to_toml(doc: dict[str, Any]) -> str:
    """A document as TOML: top-level scalars first, then one ``[table]`` per dict (nested dicts inline)."""
    lines = [f"{_toml_key(k)} = {text}" for k, v in doc.items() if not isinstance(v, dict) and (text := _toml_value(v))]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{_toml_key(name)}]")
            lines += [f"{_toml_key(str(k))} = {t}" for k, v in table.items() if (t := _toml_value(v)) is not None]
    return "\n".join(lines) + "\n"


def mutate_arrays(arrays: dict[str, np.ndarray], rng: random.Random) -> tuple[dict[str, np.ndarray], str]:
    """One mutation of the arrays of an npz: dtype, shape, values, keys (unchanged where numpy cannot apply it)."""
    try:
        return _mutate_arrays(arrays, rng)
    except (ValueError, TypeError, OverflowError, IndexError) as exc:
        return arrays, f"(skipped: {type(exc).__name__})"


def _mutate_arrays(arrays: dict[str, np.ndarray], rng: random.Random) -> tuple[dict[str, np.ndarray], str]:
    arrays = {k: v.copy() for k, v in arrays.items()}
    key = rng.choice(sorted(arrays)) if arrays else "x"
    a = arrays.get(key, np.zeros(3))
    op = rng.choice(["dtype", "shape", "nonfinite", "huge", "negative", "length", "empty", "keys", "scalar", "object"])
    if op == "dtype":
        kind = rng.choice(["float16", "float64", "int8", "uint8", "int64", "bool", "complex64", "U3", "S2"])
        arrays[key] = a.astype(kind)
    elif op == "shape":
        flat = a.reshape(-1)
        shapes = [(len(flat),), (1, len(flat)), (len(flat), 1, 1, 1, 1), (0, *a.shape[1:]), a.shape[::-1]]
        arrays[key] = flat.reshape(rng.choice(shapes)) if rng.random() < 0.8 else a[..., None]
    elif op == "nonfinite":
        b = a.astype(np.float32)
        b.reshape(-1)[rng.randrange(b.size)] = rng.choice([np.nan, np.inf, -np.inf]) if b.size else 0
        arrays[key] = b
    elif op == "huge":
        arrays[key] = (a.astype(np.float64) * rng.choice([1e38, 1e300, -1e38])).astype(a.dtype if key == "x" else "f8")
    elif op == "negative":
        arrays[key] = -a.astype(np.int64) - rng.choice([1, 10**9])
    elif op == "length":
        arrays[key] = a[: rng.randrange(max(len(a), 1))] if a.ndim else a
    elif op == "empty":
        arrays[key] = a[:0] if a.ndim else a
    elif op == "keys":
        choice = rng.choice(["drop", "rename", "extra"])
        if choice == "drop":
            arrays.pop(key, None)
        elif choice == "rename":
            arrays[key.upper() + "_"] = arrays.pop(key, a)
        else:
            arrays["extra"] = np.arange(3)
    elif op == "scalar":
        arrays[key] = np.array(rng.choice([1, 1.5, np.nan]))
    elif op == "object":
        arrays[key] = np.array([a[0] if len(a) else 0, "s"], dtype=object)
    return arrays, f"{op} {key}"


class Hang(Exception):
    """A load ran past :data:`LIMIT_S`."""


@contextmanager
def time_limit(seconds: int = LIMIT_S):
    """Raise :class:`Hang` in this (main) thread after ``seconds``."""

    def _alarm(signum: int, frame: object) -> None:
        raise Hang(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Tally:
    """How the cases ended: loaded fine, or refused with one line (the first few messages kept per kind)."""

    ok: int = 0
    refused: int = 0

    def run(self, load: Callable[[], object], what: str) -> None:
        """``load()`` must succeed or raise a user error (exit 2 at the CLI) with a one-line message; anything
        else (another exception, a multi-line message, a hang) fails the test naming the mutation."""
        from edgeprune.errors import EdgepruneError

        try:
            with time_limit():
                load()
        except (EdgepruneError, OSError) as exc:
            message = str(exc).strip()
            assert message and "\n" not in message, f"{what}: multi-line or empty message {message!r}"
            assert "Traceback" not in message, f"{what}: {message}"
            self.refused += 1
            return
        except Hang as exc:
            raise AssertionError(f"{what}: {exc}") from None
        except Exception as exc:  # would be an internal error (exit 3) at the CLI
            raise AssertionError(f"{what}: {type(exc).__name__}: {exc}"[:2000]) from exc
        self.ok += 1
