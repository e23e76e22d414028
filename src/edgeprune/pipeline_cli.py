"""``edgeprune deploy``: the whole chain on a target."""

from __future__ import annotations

import argparse

HELP = "train-or-load, prune to the target's budget, fine-tune, export, verify, benchmark and report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="target name in targets/ (e.g. tflite) or a .toml path")
    parser.add_argument("--model", help="edgeprune:default | torchvision:<name> | pkg.module:factory")
    parser.add_argument("--checkpoint", help="weights for --model (.safetensors or a torch state_dict file)")
    parser.add_argument("--data", help="mnist5k | digits | npz:FILE | synthetic[:CxHxW]")
    parser.add_argument("--out", help="output folder (default build/deploy/<target>)")


def run(args: argparse.Namespace) -> int:
    from edgeprune.config import load_target

    target = load_target(args.target)  # a bad target fails before torch is imported
    from edgeprune.pipeline import DeployRequest, deploy

    deploy(DeployRequest(target=target, model=args.model, checkpoint=args.checkpoint, data=args.data, out=args.out))
    return 0
