"""Turn a converter crash into an error naming the module path and the op, with what to try."""

from __future__ import annotations

import linecache
import re
from pathlib import Path
from types import TracebackType

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.logs import quiet

OP_RE = re.compile(r"aten\.([A-Za-z0-9_]+)")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
TORCH_DIR = str(Path(torch.__file__).parent)
DATA_DEPENDENT = ("GuardOnDataDependent", "data-dependent", "NonConcrete", "Dynamic control flow")


class UnsupportedModelError(EdgepruneError):
    """The converter rejected an op or a construct; the message names the module path and the op."""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def module_in_traceback(model: nn.Module, exc: BaseException) -> tuple[str, str, str] | None:
    """Deepest ``(module path, class name, source line)`` of ``model`` whose forward is on the traceback."""
    names = {id(m): n for n, m in model.named_modules()}
    user, anywhere = None, None
    for err in _chain(exc):  # outermost first, so the last match is the deepest frame
        for tb in _frames(err.__traceback__):
            code = tb.tb_frame.f_code
            owner = tb.tb_frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
            method = getattr(getattr(type(owner), code.co_name, None), "__code__", None)
            if isinstance(owner, nn.Module) and id(owner) in names and method is code:
                line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
                anywhere = (names[id(owner)] or "<root>", type(owner).__name__, line)
                if not code.co_filename.startswith(TORCH_DIR):  # skip nn.Module.__call__ and containers
                    user = anywhere
    return user or anywhere


def _base(op: str) -> str:
    return op.split(".")[0].lstrip("_").rstrip("0123456789")


def modules_using_op(model: nn.Module, example: torch.Tensor, op: str) -> list[str]:
    """Module paths whose traced graph (before or after decomposition) calls aten ``op``."""
    try:
        with quiet():
            program = torch.export.export(model, (example,), strict=False)
            graphs = [program.graph]
            graphs.append(program.run_decompositions().graph)
    except Exception:
        return []
    paths: list[str] = []
    for graph in graphs:
        for node in graph.nodes:
            target = str(node.target)
            if node.op != "call_function" or not target.startswith("aten.") or _base(target[5:]) != _base(op):
                continue
            stack = list((node.meta.get("nn_module_stack") or {}).values())
            path = stack[-1][0] if stack else "<root>"
            if path not in paths:
                paths.append(path)
    return paths


def explain_failure(model: nn.Module, example: torch.Tensor, exc: BaseException, converter: str) -> EdgepruneError:
    """An :class:`UnsupportedModelError` describing why ``converter`` failed on ``model``."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    root = chain[-1]
    first = ANSI_RE.sub("", (str(root).strip().splitlines() or [type(root).__name__])[0])[:300]
    other = "--format tflite" if converter.startswith("ONNX") else "--format onnx"
    ops = list(dict.fromkeys(OP_RE.findall(text)))
    if ops and not any(key in text for key in DATA_DEPENDENT):
        op = ops[0]
        paths = modules_using_op(model, example, op) or ["<not found in the traced graph>"]
        return UnsupportedModelError(
            f"{converter} cannot convert op 'aten.{op}' used in module '{paths[0]}'"
            f"{' (also in ' + ', '.join(paths[1:4]) + ')' if len(paths) > 1 else ''}: {first}. Try: rewrite that"
            f" module's forward with supported ops, move the op out of the exported model (pre/post-processing), or"
            f" export with {other}"
        )
    where = module_in_traceback(model, exc)
    if where is not None:
        path, cls, line = where
        return UnsupportedModelError(
            f"{converter} failed in module '{path}' ({cls}) at `{line}`: {first}. This is usually data-dependent"
            " control flow or shape (a Python `if` on tensor values, boolean-mask indexing, .item()); try: make it"
            " static (torch.where, fixed shapes, torch.cond) or move it out of the exported forward"
        )
    return UnsupportedModelError(
        f"{converter} of {type(model).__name__} failed: {first}. Try: set EDGEPRUNE_VERBOSE=1 to see the"
        f" converter's log, check that torch.export.export(model, (x,)) succeeds, or export with {other}"
    )
