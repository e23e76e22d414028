"""``edgeprune export``: export a (pruned) model to ONNX or TFLite, verify it, write ``<artifact>.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeprune.errors import EdgepruneError

HELP = "Export a model (optionally pruned by a plan) to ONNX or TFLite fp32/fp16/int8 and verify it on real samples."
VERIFY_SAMPLES = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model spec, e.g. edgeprune:default (default: the plan's model)")
    parser.add_argument("--checkpoint", help="weights (.safetensors or torch state_dict) for the (pruned) model")
    parser.add_argument("--plan", help="pruned model: plan.json (with weights.safetensors beside it) or its folder")
    parser.add_argument("--format", required=True, choices=["onnx", "tflite"], help="artifact format")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"], help="default fp32")
    parser.add_argument("--data", default="mnist5k", help="data spec for verification/calibration (default mnist5k)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite an existing artifact")
    parser.add_argument("--calibration-samples", type=int, default=200, help="int8: samples of the select split")
    parser.add_argument("--io-dtype", default="float", choices=["float", "int8"], help="int8: input/output type")
    parser.add_argument("--nhwc", action="store_true", help="tflite: channels-last (N,H,W,C) input for mobile apps")
    parser.add_argument("--opset", type=int, default=18, help="onnx: opset version (default 18)")
    parser.add_argument("--dynamic-batch", action="store_true", help="onnx: dynamic batch dimension")


def _load_model(args: argparse.Namespace, data: object) -> tuple[object, str, str | None, list[int]]:
    """(model, stem, plan hash, input shape) from --plan or --model, with --checkpoint weights."""
    from edgeprune.export.metadata import sha256_file
    from edgeprune.models import ModelSpec, build_model, load_checkpoint

    shape = [1, *data.input_shape]
    if args.plan:
        from edgeprune.prune import load_pruned
        from edgeprune.prune.io import PLAN_FILE

        folder = Path(args.plan)
        folder = folder.parent if folder.suffix == ".json" else folder
        if not (folder / PLAN_FILE).is_file():
            raise EdgepruneError(f"--plan {args.plan}: no {PLAN_FILE} in {folder}")
        model, plan = load_pruned(folder)
        if args.model and plan.model and args.model != plan.model.get("spec"):
            raise EdgepruneError(f"--model {args.model} differs from the plan's model {plan.model.get('spec')!r}")
        if args.checkpoint:
            load_checkpoint(model, args.checkpoint)
        return model.eval(), "pruned", sha256_file(folder / PLAN_FILE), list(plan.input_shape)
    if not args.model:
        raise EdgepruneError("give --model SPEC (or --plan FILE)")
    spec = ModelSpec(args.model, num_classes=data.num_classes, in_channels=data.input_shape[0])
    stem = args.model.replace(":", "-").replace("/", "_")
    if args.checkpoint:
        return load_checkpoint(build_model(spec), args.checkpoint).eval(), stem, None, shape
    if args.model.startswith("edgeprune:"):
        from edgeprune.models.pretrained import train_or_load

        model, path, cached = train_or_load(spec, data, 12)
        print(f"baseline {'loaded from cache' if cached else 'trained and cached'}: {path}")
        return model.eval(), stem, None, shape
    print(f"warning: no --checkpoint; exporting {args.model} with its initial weights")
    return build_model(spec), stem, None, shape


def run(args: argparse.Namespace) -> int:
    from edgeprune.data import load_dataset
    from edgeprune.export.metadata import sha256_file, state_dict_hash
    from edgeprune.export.registry import SUFFIXES, export_model

    if args.calibration_samples < 1:
        raise EdgepruneError(f"--calibration-samples must be >= 1, got {args.calibration_samples}")
    data = load_dataset(args.data)
    model, stem, plan_hash, shape = _load_model(args, data)
    if list(shape[1:]) != list(data.input_shape):
        raise EdgepruneError(f"the model's input shape {shape} does not fit data '{args.data}' {data.input_shape}")
    options: dict[str, object] = {}
    if args.format == "onnx":
        options.update(opset=args.opset, dynamic_batch=args.dynamic_batch)
    else:
        options["nhwc"] = args.nhwc
        if args.precision == "int8":
            options.update(calibration=data.x_select[: args.calibration_samples], io_dtype=args.io_dtype)
    path = args.out / f"{stem}_{args.precision}{SUFFIXES[args.format]}"
    artifact = export_model(
        model,
        data.x_val[:1].clone(),
        path,
        args.format,
        args.precision,
        force=args.force,
        samples=data.x_val[:VERIFY_SAMPLES],
        labels=data.y_val[:VERIFY_SAMPLES],
        model_hash=sha256_file(args.checkpoint) if args.checkpoint else state_dict_hash(model),
        plan_hash=plan_hash,
        normalization={"mean": list(data.mean), "std": list(data.std)},
        **options,
    )
    v = artifact.metadata["verification"]
    line = f"rel. err {v['rel_err']:.2e}, top-1 agreement {v['top1_agreement']:.1f}% on {v['samples']} samples"
    if "int8" in v:
        i8 = v["int8"]
        line += f"; int8 top-1 {i8['accuracy']:.2f}% vs fp32 {i8['reference_accuracy']:.2f}%"
    size_kb = artifact.size_bytes / 1024
    print(f"wrote {artifact.path} ({size_kb:.1f} KB, {artifact.runtime}, {artifact.precision}): {line}")
    print(f"metadata {path}.json")
    return 0
