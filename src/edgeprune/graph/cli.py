"""``edgeprune analyze``: print a model's prunable groups and removable blocks; optionally write JSON."""

from __future__ import annotations

import argparse

from edgeprune.errors import EdgepruneError

HELP = "Show every prunable channel/neuron/head group and removable block of a model, with MACs shares."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="edgeprune:default", help="model spec (default: edgeprune:default)")
    parser.add_argument("--input-shape", default=None, help="e.g. 1,3,224,224 (default: 1,C,28,28 or 1,3,224,224)")
    parser.add_argument("--num-classes", type=int, default=10, help="classifier outputs the model is built with")
    parser.add_argument("--in-channels", type=int, default=None, help="input channels (default: from input shape)")
    parser.add_argument("--ignore", action="append", default=[], help="layer path to leave unpruned (repeatable)")
    parser.add_argument("--no-verify", action="store_true", help="skip the forward pass that verifies each block")
    parser.add_argument("--json", default=None, help="also write the analysis as JSON to this file")


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
    from edgeprune.graph.analyze import analyze
    from edgeprune.graph.render import render
    from edgeprune.models import ModelSpec, build_model

    if args.input_shape:
        shape = parse_shape(args.input_shape)
    else:
        channels = args.in_channels or (1 if args.model.startswith("edgeprune:") else 3)
        side = 28 if args.model.startswith("edgeprune:") else 224
        shape = [1, channels, side, side]
    in_channels = args.in_channels or shape[1]
    model = build_model(ModelSpec(args.model, num_classes=args.num_classes, in_channels=in_channels))
    torch.manual_seed(0)
    result = analyze(
        model, torch.randn(*shape), ignored_layers=args.ignore, verify_blocks=not args.no_verify, name=args.model
    )
    render(result)
    if args.json:
        write_json(args.json, result.to_dict())
        print(f"wrote {args.json}")
    return 0
