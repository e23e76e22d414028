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
    """The model could not be traced, run or pruned; the message names the module and the op."""


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
            "a hard-coded shape (e.g. view(-1, 512)) does not follow pruned channels; "
            if "shape" in str(exc) or "size" in str(exc)
            else ""
        )
        culprit = failed[-1] if failed else "<layer>"
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise TraceError(
            f"{stage} failed in {where} at op `{op}`: {type(exc).__name__}: {first_line}"
            f". {hint}add the layer (e.g. '{culprit}' or the layer feeding it) to ignored_layers to leave it unpruned"
        ) from exc
    finally:
        for h in handles:
            h.remove()
