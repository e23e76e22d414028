"""The peers edgeprune is measured against in benchmarks/compression.py, each pruned to a MACs budget:

- torch-pruning uniform: what users do today (their README recipe): ``MetaPruner`` with L2 magnitude importance,
  one ratio for every layer, the classifier left alone; the ratio is bisected until the model meets the budget.
- NVIDIA ModelOpt FastNAS (``mtp.prune(mode="fastnas")``): a sensitivity map over every prunable width (score of
  the model with that width alone at each choice), then a binary search on a degradation threshold to the FLOPs
  constraint. Its default search space (``channels_ratio`` 0.05-1.0 in steps of 0.05, ``channel_divisor`` 32)
  cannot go below 0.755x MACs on these 16-64-wide models (no width divisible by 32 below 32 exists), so it is set
  to its finest: ratios 0.01-1.00 in steps of 0.01 and divisor 1 for every Conv2d, Linear and BatchNorm (every
  width can take any integer value). FastNAS counts FLOPs with ``torchprofile``, which is not installed here; its
  counter is replaced by edgeprune's (2 x MACs of conv, linear and matmul), the one every method is judged by.
  Its score function is top-1 on the select split, its BatchNorm calibration loader train samples.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from edgeprune.data import Data, take
from edgeprune.graph import output_layers
from edgeprune.planning.uniform import smallest_ratio_meeting
from edgeprune.prune import count_macs_params
from edgeprune.task import evaluate

FASTNAS_RATIOS = tuple(round(0.01 * i, 2) for i in range(1, 101))


def _grouped(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups > 1


def tp_uniform(model: nn.Module, example: torch.Tensor, budget_macs: int) -> nn.Module:
    """torch-pruning MetaPruner, uniform L2 magnitude, the least ratio meeting ``budget_macs``."""
    import torch_pruning as tp

    def prune_at(ratio: float) -> tuple[nn.Module, int]:
        pruned = copy.deepcopy(model).eval()
        heads = [pruned.get_submodule(n) for n in output_layers(pruned, example)]
        importance = tp.importance.MagnitudeImportance(p=2)
        tp.pruner.MetaPruner(pruned, example, importance=importance, pruning_ratio=ratio, ignored_layers=heads).step()
        return pruned, count_macs_params(pruned, example)[0]

    return smallest_ratio_meeting(prune_at, budget_macs, max_ratio=0.9)[1]  # above 0.9 it skips whole groups


def _flops(network: nn.Module, dummy_input: object = None, unit: float = 1.0, **_: object) -> float:
    """Stand-in for modelopt's ``inference_flops`` (torchprofile): 2 x edgeprune's MACs of the active subnet."""
    was = network.training
    network.eval()
    x = dummy_input if isinstance(dummy_input, torch.Tensor) else dummy_input[0]
    with torch.no_grad():
        macs = count_macs_params(network, x)[0]
    network.train(was)
    return 2.0 * macs / unit


@contextlib.contextmanager
def _edgeprune_flops() -> Iterator[None]:
    import modelopt.torch.nas.algorithms as algorithms

    original = algorithms.inference_flops
    algorithms.inference_flops = _flops
    try:
        yield
    finally:
        algorithms.inference_flops = original


def fastnas_rules(model: nn.Module | None = None) -> dict[str, dict]:
    """FastNAS's finest search space: any integer width for every Conv2d, Linear and BatchNorm.

    ModelOpt 0.47 fails on a grouped (depthwise) conv searched down to 1 channel: its groups collapse to 1 and the
    kept-channel indices are applied to the weight's size-1 input dimension (IndexError, measured on DS-CNN). On a
    model with grouped convs the ratios therefore start where the narrowest one keeps 2 channels."""
    grouped = [m.out_channels for m in (model.modules() if model is not None else ()) if _grouped(m)]
    low = math.ceil(200 / min(grouped)) / 100 if grouped else 0.01
    ratios = [r for r in FASTNAS_RATIOS if r >= low]
    conv = {"channels_ratio": ratios, "channel_divisor": 1, "kernel_size": []}
    feats = {"features_ratio": ratios, "feature_divisor": 1}
    return {
        "nn.Conv2d": {"*": conv},
        "nn.Linear": {"*": feats},
        "nn.BatchNorm1d": {"*": feats},
        "nn.BatchNorm2d": {"*": feats},
    }


def fastnas(
    model: nn.Module,
    example: torch.Tensor,
    budget: float,
    data: Data,
    checkpoint: str | None = None,
    score_samples: int = 1000,
) -> nn.Module:
    """ModelOpt FastNAS to ``budget`` of the MACs (FLOPs constraint as a percentage), scored on select samples.

    ``checkpoint``: FastNAS's own search checkpoint; its sensitivity map (the costly part: one score per width
    choice) is read back by later searches of the same model (other budgets and seeds)."""
    import modelopt.torch.prune as mtp

    xs, ys = take(data.select, score_samples)
    xt, _ = take(data.train, 512)
    loader = [xt[i : i + 128] for i in range(0, len(xt), 128)]
    pruned = copy.deepcopy(model).eval()
    config = {
        "data_loader": loader,
        "collect_func": lambda batch: batch,
        "score_func": lambda m: evaluate(m, xs, ys)[0],
        "checkpoint": checkpoint,
        "verbose": False,
    }
    with _edgeprune_flops(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        subnet, _ = mtp.prune(
            pruned, mode=[("fastnas", fastnas_rules(model))], constraints={"flops": f"{100 * budget:.4f}%"},
            dummy_input=example, config=config,
        )  # fmt: skip
    return subnet.eval()
