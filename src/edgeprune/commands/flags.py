"""The one set of shared flags: each group is one parent parser, and every command that takes a flag takes it
from here, with one meaning everywhere.

- ``--model SPEC`` is always an *unpruned architecture*; ``--checkpoint FILE`` always its *unpruned weights*.
- ``--plan FILE`` is always a plan (what to cut); ``--pruned DIR`` always a saved pruned model (plan + weights).
- ``--out DIR`` is always a folder; ``--force`` is the only way to replace what is in it.
- ``--importance NAME`` is a name of the importance registry (the same names as ``prune.importance`` in TOML).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``edgeprune CMD: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _group(title: str) -> Parser:
    return Parser(add_help=False, prog=title)


def _common() -> Parser:
    p = _group("common")
    g = p.add_argument_group("output and diagnostics")
    g.add_argument("--quiet", action="store_true", help="only results and errors: no progress, no per-epoch lines")
    g.add_argument("--verbose", action="store_true", help="also show the converters' and runtimes' own logs")
    g.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write $EDGEPRUNE_CACHE")
    return p


def _model() -> Parser:
    p = _group("model")
    g = p.add_argument_group("the unpruned model")
    g.add_argument(
        "--model", help="edgeprune:default | torchvision:NAME | timm:NAME | module:factory | file.py:factory"
    )
    g.add_argument("--checkpoint", help="unpruned weights for --model (.safetensors or a torch state_dict file)")
    g.add_argument("--train-epochs", type=int, help="without --checkpoint: epochs to train the baseline (cached)")
    g.add_argument(
        "--estimate-bn-stats",
        action="store_true",
        default=None,
        help="BatchNorm layers without running statistics: estimate them on train samples (else refused)",
    )
    g.add_argument(
        "--allow-chance-baseline",
        action="store_true",
        default=None,
        help="go on when the checkpoint scores at chance level (else deploy/plan/sensitivity stop: preprocessing?)",
    )
    g.add_argument(
        "--num-classes",
        type=int,
        help="classifier outputs of --model (default: from the data's labels, or the plan's model; analyze: 10)",
    )
    return p


def _data() -> Parser:
    p = _group("data")
    g = p.add_argument_group("data and its preprocessing")
    g.add_argument(
        "--data",
        help="mnist5k | digits | synthetic[:CxHxW[:N]] | kws-synth | speechcommands:DIR | detect-digits | npz:FILE"
        " | imagefolder:DIR | DIR | module:factory (commands continuing from a plan or pruned model: the data it"
        " recorded)",
    )
    g.add_argument("--resize", help="image folders: resize to H[xW] first")
    g.add_argument("--crop", help="image folders: center-crop to H[xW]")
    g.add_argument("--scale", type=float, help="multiply raw values (image folders: after the /255 to [0, 1])")
    g.add_argument("--mean", help="per-channel mean subtracted, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", help="per-channel std divided by, e.g. 0.229,0.224,0.225")
    g.add_argument(
        "--channels", type=int, choices=[1, 3], help="image folders: 1 = grayscale, 3 = RGB (default, as ImageFolder)"
    )
    return p


def _task() -> Parser:
    p = _group("task")
    g = p.add_argument_group("task (default: classification, top-1 and cross-entropy)")
    g.add_argument("--loss", help="module:function or file.py:function, (outputs, targets) -> scalar loss")
    g.add_argument("--metric", help="module:function or file.py:function, (outputs, targets) -> batch mean")
    g.add_argument("--lower-is-better", action="store_true", help="the --metric improves downwards (an error)")
    g.add_argument("--distill", choices=["kl", "mse"], help="distillation term against the teacher (default kl)")
    return p


def _budget() -> Parser:
    p = _group("budget")
    g = p.add_argument_group("pruning budget")
    g.add_argument("--macs", type=float, help="keep at most this fraction of the MACs (tolerance mode: the floor)")
    g.add_argument("--params", type=float, help="budget this fraction of the parameters instead of MACs")
    g.add_argument("--max-drop", type=float, help="tolerance mode: smallest budget within this many metric points")
    g.add_argument("--latency-ms", type=float, help="latency budget in ms, measured on the target's runtime")
    g.add_argument("--speedup", type=float, help="latency budget as a measured speedup over the unpruned model")
    g.add_argument("--sram-kib", type=float, help="NPU targets: SRAM budget in KiB on Vela's allocation")
    g.add_argument("--flash-kib", type=float, help="embedded targets: flash budget in KiB (Vela's, or the .tflite)")
    g.add_argument("--arena-kib", type=float, help="TFLM targets: tensor arena budget in KiB, measured on TFLM")
    g.add_argument("--method", help="strategy: auto (default: the better scored of the two) | uniform | sensitivity")
    return p


def _pruning() -> Parser:
    p = _group("pruning")
    g = p.add_argument_group("what may be pruned and how it is chosen")
    g.add_argument("--importance", help="criterion choosing what goes: magnitude (default), l1, taylor, ...")
    g.add_argument("--round-to", type=int, help="keep widths multiples of this (runtimes like 8 or 16)")
    g.add_argument("--max-ratio", type=float, help="never prune more of one group than this fraction")
    return p


def _methods() -> Parser:
    p = _group("methods")
    g = p.add_argument_group("connections and timing (deploy)")
    g.add_argument("--sparsity", type=float, help="also prune connections: zeros per layer at the end, e.g. 0.8")
    g.add_argument("--pattern", help="connection pattern: unstructured (default), 2:4 (N:M), 1x4 or 4x1 blocks")
    g.add_argument(
        "--when", choices=["after", "before"], help="prune the trained model (after) or at initialization (before)"
    )
    return p


def _ignore() -> Parser:
    p = _group("ignore")
    p.add_argument("--ignore", action="append", help="layer path to leave unpruned (repeatable)")
    return p


def _finetune() -> Parser:
    p = _group("finetune")
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--epochs", type=int, help="fine-tune epochs")
    g.add_argument("--lr", type=float, help="peak learning rate")
    g.add_argument("--seed", type=int, help="seed of the fine-tune (data order, init of anything new)")
    return p


def _out() -> Parser:
    p = _group("out")
    g = p.add_argument_group("output")
    g.add_argument("--out", help="output folder")
    g.add_argument(
        "--force",
        action="store_true",
        help="replace what edgeprune wrote in --out (never other files; kept until done)",
    )
    return p


def _device() -> Parser:
    p = _group("device")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where torch runs (default auto)")
    return p


def _plan() -> Parser:
    p = _group("plan")
    p.add_argument("--plan", help="a plan file (plan.json: what to cut)")
    return p


def _pruned() -> Parser:
    p = _group("pruned")
    p.add_argument("--pruned", help="a saved pruned model: a folder with plan.json and weights.safetensors")
    return p


GROUPS = {
    "common": _common(),
    "model": _model(),
    "data": _data(),
    "task": _task(),
    "budget": _budget(),
    "pruning": _pruning(),
    "methods": _methods(),
    "ignore": _ignore(),
    "finetune": _finetune(),
    "out": _out(),
    "device": _device(),
    "plan": _plan(),
    "pruned": _pruned(),
}


def parents(*names: str) -> list[Parser]:
    """The shared parent parsers ``names`` (``common`` is always first)."""
    return [GROUPS["common"], *(GROUPS[n] for n in names if n != "common")]
