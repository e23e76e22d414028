"""``edgeprune export``: a pruned model (``--pruned DIR``) or an unpruned one (``--model`` + ``--checkpoint``) to
ONNX or TFLite fp32/fp16/int8, verified on validation samples; writes ``<artifact>.json`` beside it."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.errors import EdgepruneError

HELP = "export a pruned (--pruned DIR) or unpruned (--model/--checkpoint) model to ONNX or TFLite and verify it"
FLAGS = ("pruned", "model", "data", "task", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edgeprune.formats import PRECISIONS, known_formats

    parser.add_argument("--format", required=True, choices=known_formats(), help="artifact format")
    parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS), help="default fp32")
    parser.add_argument("--calibration-samples", type=int, default=200, help="int8: samples of the select split")
    parser.add_argument("--io-dtype", default="float", choices=["float", "int8"], help="int8: input/output type")
    parser.add_argument("--nhwc", action="store_true", help="tflite: channels-last (N,H,W,C) input for mobile apps")
    parser.add_argument("--opset", type=int, default=18, help="onnx: opset version (default 18)")
    parser.add_argument("--dynamic-batch", action="store_true", help="onnx: dynamic batch dimension")
    parser.add_argument("--parity-samples", type=int, default=1000, help="validation samples of the parity check")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from edgeprune.commands.context import (
        baseline,
        check_input_shape,
        inputs,
        load_pruned_arg,
        out_folder,
        recorded_plan,
        say,
    )
    from edgeprune.config import ExportConfig
    from edgeprune.export import export_verified
    from edgeprune.export.metadata import metadata_path
    from edgeprune.formats import artifact_name
    from edgeprune.hashing import sha256_file
    from edgeprune.pipeline.outputs import writing

    cfg = ExportConfig(
        format=args.format, precision=args.precision, calibration_samples=args.calibration_samples,
        io_dtype=args.io_dtype, nhwc=args.nhwc, opset=args.opset, dynamic_batch=args.dynamic_batch,
        parity_samples=args.parity_samples,
    )  # fmt: skip
    name = artifact_name("pruned" if args.pruned else "unpruned", args.precision, args.format)
    out = out_folder(args, "build/export", "export", replace=False, writes=(name, metadata_path(Path(name)).name))
    with writing(out) as staging:
        plan, where = recorded_plan(args)
        ins = inputs(args, plan, where)
        if plan is not None:
            check_input_shape(plan, where, ins.data)  # before the model is rebuilt
            model, plan = load_pruned_arg(args)
            role, plan_hash = "pruned", sha256_file(where)
        else:
            if not args.checkpoint and not (args.model or "edgeprune:").startswith("edgeprune:"):
                raise EdgepruneError("give --checkpoint with the weights of --model (or --pruned DIR)")
            model, role, plan_hash = baseline(args, ins).model, "unpruned", None
        _, staged = export_verified(role, model, staging, cfg, args.precision, ins.data, ins.task, plan_hash)
    record = dataclasses.replace(staged, path=str(out.given / Path(staged.path).name))
    p = record.parity
    bound = f" (bound {p.bound:.0e})" if p.bound is not None else ""
    say(f"wrote {record.path} ({record.size_bytes / 1024:.1f} KB, gzip {record.gzip_size_bytes / 1024:.1f} KB,"
        f" {record.runtime}, {record.precision}): rel. err {p.rel_err:.2e}{bound}, arg-max agreement"
        f" {p.top1_agreement:.1f}% on {p.samples} samples")  # fmt: skip
    say(f"val {ins.task.metric_name} of the artifact: {ins.task.format(record.metric)}")
    say(f"metadata {record.metadata_path}")
    return 0
