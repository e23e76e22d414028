"""Run a model-touching step and turn its failures into errors that name the module and the op."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from edgeprune.errors import EdgepruneError

T = TypeVar("T")


class TraceError(EdgepruneError):
    """The model could not be traced, run or pruned; the message names the module and the op. ``reason`` is the
    message without the advice (for callers that leave the culprit alone themselves, e.g. verification)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


def ignore_advice(layer: str | None) -> str:
    """How to leave ``layer`` unpruned, by the real flag and TOML field."""
    if layer:
        return f'leave it unpruned with --ignore {layer} (TOML prune.ignored_layers = ["{layer}"])'
    return (
        "leave the layers whose channels reach it unpruned with --ignore NAME (TOML prune.ignored_layers; names as"
        " `edgeprune analyze` lists them)"
    )


def _user_frame(exc: BaseException) -> str:
    """``file:line: source`` of the innermost frame outside torch / torch_pruning / edgeprune.graph."""
    skip = (f"{os.sep}torch{os.sep}", f"{os.sep}torch_pruning{os.sep}", f"{os.sep}edgeprune{os.sep}graph{os.sep}")
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not any(s in frame.filename for s in skip):
            return f"{os.path.basename(frame.filename)}:{frame.lineno}: {(frame.line or '').strip()}"
    if frames:
        last = frames[-1]
        return f"{os.path.basename(last.filename)}:{last.lineno}: {(last.line or '').strip()}"
    return "<unknown op>"


def run_traced(model: nn.Module, step: Callable[[], T], stage: str) -> T:
    """Call ``step()``; if it raises, re-raise as :class:`TraceError` naming the innermost running module."""
    names = {m: n for n, m in model.named_modules()}
    stack: list[str] = []

    def pre(module: nn.Module, _args: object) -> None:
        stack.append(names.get(module, type(module).__name__))

    def post(_module: nn.Module, _args: object, _out: object) -> None:
        if stack:
            stack.pop()

    handles = [m.register_forward_pre_hook(pre) for m in model.modules()]
    handles += [m.register_forward_hook(post) for m in model.modules()]
    try:
        return step()
    except EdgepruneError:
        raise
    except Exception as exc:  # any failure becomes a user-facing error naming the culprit
        in_forward = any(f.name == "_call_impl" for f in traceback.extract_tb(exc.__traceback__))
        failed = [s for s in stack if s] if in_forward else []
        if failed:
            where = f"module '{failed[-1]}' ({type(model.get_submodule(failed[-1])).__name__})"
        elif in_forward:
            where = f"the forward of {type(model).__name__} itself"
        else:
            where = "torch-pruning's channel mapping (an op it cannot map indices through, e.g. a channel shuffle)"
        op = _user_frame(exc)
        hint = (
            "; a hard-coded shape does not follow pruned channels: compute it from the input (e.g. x.flatten(1)"
            " instead of x.view(-1, 512))"
            if "shape" in str(exc) or "size" in str(exc)
            else ""
        )
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        reason = f"{stage} failed in {where} at op `{op}` ({type(exc).__name__}: {first_line}){hint}"
        leaf = failed[-1] if failed and not list(model.get_submodule(failed[-1]).children()) else None
        raise TraceError(f"{reason}; {ignore_advice(leaf)}", reason) from exc  # --ignore takes layers, not containers
    finally:
        for h in handles:
            h.remove()
