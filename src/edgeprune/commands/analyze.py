"""``edgeprune analyze``: a model's prunable groups and removable blocks, with MACs shares; JSON on request."""

from __future__ import annotations

import argparse

from edgeprune.errors import EdgepruneError

HELP = "show every prunable channel/neuron/head group and removable block of a model, with MACs shares"
FLAGS = ("model", "ignore", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-shape", help="e.g. 1,3,224,224 (default: 1,1,28,28 for edgeprune:, else 1,3,224,224)")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the forward passes that verify groups and blocks"
    )


def parse_shape(text: str) -> list[int]:
    """``"1,3,224,224"`` -> ``[1, 3, 224, 224]``; errors name the flag."""
    try:
        shape = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        raise EdgepruneError(f"--input-shape '{text}': expected comma-separated integers like 1,3,224,224") from None
    if len(shape) < 2 or any(d < 1 for d in shape):
        raise EdgepruneError(f"--input-shape '{text}': need at least 2 positive dimensions")
    return shape


def run(args: argparse.Namespace) -> int:
    import torch

    from edgeprune.atomic import write_json
    from edgeprune.commands.context import DEFAULT_MODEL, out_folder
    from edgeprune.graph.analyze import analyze
    from edgeprune.graph.render import render
    from edgeprune.models import ModelSpec, build_model, load_checkpoint
    from edgeprune.pipeline.outputs import writing

    out = out_folder(args, "", "analyze", replace=False, writes=("analysis.json",)) if args.out else None
    spec = args.model or DEFAULT_MODEL
    if args.num_classes is not None and args.num_classes < 1:
        raise EdgepruneError(f"--num-classes must be >= 1, got {args.num_classes}")
    builtin_small = spec.startswith("edgeprune:")
    shape = parse_shape(args.input_shape) if args.input_shape else [1, 1 if builtin_small else 3, *(
        [28, 28] if builtin_small else [224, 224])]  # fmt: skip
    model = build_model(ModelSpec(spec, num_classes=args.num_classes or 10, in_channels=shape[1]))
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint)
    torch.manual_seed(0)
    result = analyze(
        model, torch.randn(*shape), ignored_layers=args.ignore or [], verify_blocks=not args.no_verify, name=spec
    )
    render(result)
    if out is not None:
        with writing(out) as staging:
            write_json(staging / "analysis.json", result.to_dict())
        print(f"wrote {out.given / 'analysis.json'}")
    return 0
