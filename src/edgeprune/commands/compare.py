"""``edgeprune compare``: the cross-format table. The unpruned model (``--model``/``--checkpoint``) and a saved
pruned model (``--pruned DIR``, e.g. a deploy's ``pruned_model/``) exported to ONNX fp32 and TFLite fp32/fp16/int8,
each verified on validation samples, then all timed interleaved in one runner process; writes the artifacts,
compare.json and compare.md under ``--out``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeprune.report.comparison import FormatComparison

HELP = "export the unpruned and a pruned model to every format/precision, verify, time them together, tabulate"
FLAGS = ("pruned", "model", "data", "task", "out")
DEFAULT_VARIANTS = "tflite:fp32,tflite:fp16,tflite:int8,onnx:fp32"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("formats and timing")
    g.add_argument(
        "--formats",
        default=DEFAULT_VARIANTS,
        help=f"FORMAT:PRECISION list; the first (fp32) is every row's reference (default {DEFAULT_VARIANTS})",
    )
    g.add_argument("--threads", type=int, default=1, help="runtime threads (default 1)")
    g.add_argument("--warmup", type=int, default=20, help="warm-up runs per artifact (default 20)")
    g.add_argument("--runs", type=int, default=200, help="timed runs per artifact, interleaved (default 200)")
    g.add_argument("--calibration-samples", type=int, default=200, help="int8: samples of the select split")
    g.add_argument("--parity-samples", type=int, default=1000, help="validation samples of the parity check")


def _at_least(value: int, flag: str, low: int) -> int:
    from edgeprune.errors import EdgepruneError

    if value < low:
        raise EdgepruneError(f"{flag} must be >= {low}, got {value}")
    return value


def _print(result: FormatComparison) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    from edgeprune.report.comparison import comparison_table
    from edgeprune.report.tables import memory_line

    table = comparison_table(result)
    rich_table = RichTable(title="cross-format comparison (one runner process)")
    for header, align in zip(table.headers, table.align, strict=True):
        rich_table.add_column(header, justify="right" if align == "r" else "left")
    for row in table.rows:
        rich_table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(rich_table)
    console.print(memory_line(result.bench))


def run(args: argparse.Namespace) -> int:
    from edgeprune.bench.harness import Protocol
    from edgeprune.commands.context import (
        baseline,
        check_input_shape,
        inputs,
        load_pruned_arg,
        out_folder,
        recorded_plan,
        say,
    )
    from edgeprune.errors import EdgepruneError
    from edgeprune.pipeline.compare import CompareRequest, compare_formats, parse_variants

    if not args.pruned:
        raise EdgepruneError("give --pruned DIR (a saved pruned model, e.g. build/deploy/tflite/pruned_model)")
    variants = parse_variants(args.formats)  # bad flags fail before anything is loaded
    protocol = Protocol(
        runtime="",
        threads=_at_least(args.threads, "--threads", 1),
        warmup=_at_least(args.warmup, "--warmup", 0),
        runs=_at_least(args.runs, "--runs", 1),
    )
    request = CompareRequest(
        variants, protocol, _at_least(args.calibration_samples, "--calibration-samples", 1),
        _at_least(args.parity_samples, "--parity-samples", 1),
    )  # fmt: skip
    out_folder(args, "build/compare", "compare")  # the out folder is refused before anything is loaded
    recorded, where = recorded_plan(args)
    ins = inputs(args, recorded, where)
    check_input_shape(recorded, where, ins.data)
    pruned, plan = load_pruned_arg(args)
    spec = str(plan.model.get("spec", "")) if plan.model else None
    base = baseline(args, ins, spec or None, recorded, where)
    if plan.model and base.spec.to_dict() != plan.model:
        raise EdgepruneError(
            f"--pruned {args.pruned}: plan.json names model {plan.model}, but --model/--data give {base.spec.to_dict()}"
        )
    out = Path(args.out or "build/compare")
    result = compare_formats(base.model, pruned, args.pruned, base.spec.spec, ins.data, ins.task, request, out,
                             args.force)  # fmt: skip
    _print(result)
    say(f"wrote {out / 'compare.json'} and {out / 'compare.md'} in {result.wall_s:.0f} s")
    return 0
