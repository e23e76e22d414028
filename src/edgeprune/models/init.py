"""Non-degenerate random weights for checks on random weights (coverage, parity tests).

A freshly built model is full of constants: norms are an identity (weight 1, bias 0, running mean 0, running
variance 1), some libraries zero a residual branch's last norm on purpose (timm's ``zero_init_last``, after Goyal
et al. 2017, "Accurate, Large Minibatch SGD", section 5.1), scale it by 1e-6 (ConvNeXt's layer scale, Liu et al.
2022) or zero the classifier (torchvision's ViT head). On such weights a branch outputs (nearly) zero, a parity
check never tests the channels pruned there, and converters fold the dead branch away (measured: regnety_002's
TFLite file 0.15 MB against 5.5 MB for its ONNX file; efficientnet_b7's output was 2e-14 everywhere).
:func:`make_non_degenerate` gives every norm per-channel values and every other constant parameter random ones,
drawn from a seeded generator, so each channel of each branch carries a different, non-zero signal.

Random running statistics alone let a deep network drift: a shift of +-0.5 on activations of size 1e-3 swamps
the input (efficientnet_b7's outputs differed by 4e-6 between two inputs), or a variance far below the real one
blows them up (resnet152: 1e11). Given an example input, the statistics are therefore measured first (one
forward pass in training mode on random inputs of that shape, cumulative average) and then each channel's mean
shifted and variance scaled at random, so every layer sees inputs of about the size it was calibrated for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

SCALE_RANGE = (0.5, 1.5)  # norm weights and other 1-D scales: positive, away from 0 (a dead channel)
SHIFT_RANGE = (-0.5, 0.5)  # biases and running means
VARIANCE_RANGE = (0.5, 1.5)  # running variances (and the factor on a measured variance)
MEAN_SHIFT = 0.5  # a measured mean moves by up to this many standard deviations
CALIBRATION_BATCH = 4


@dataclass(frozen=True)
class Randomized:
    """What :func:`make_non_degenerate` changed: norms, and other constant tensors (layer scales, zeroed heads)."""

    norms: int
    constants: int
    calibrated: bool = False  # running statistics measured on random inputs, then perturbed


def is_norm(module: nn.Module) -> bool:
    """BatchNorm/LayerNorm/GroupNorm/InstanceNorm/RMSNorm and library variants (timm's ``LayerNorm2d``,
    ``RmsNorm``, ``BatchNormAct2d``, torchvision's ``FrozenBatchNorm2d``): a class in the module's MRO named
    ``*Norm*`` that carries a per-channel (1-D) ``weight``."""
    named = any("norm" in cls.__name__.lower() for cls in type(module).__mro__ if cls is not nn.Module)
    weight = getattr(module, "weight", None)
    return named and isinstance(weight, torch.Tensor) and weight.dim() == 1


def _fill(tensor: object, low: float, high: float, generator: torch.Generator) -> bool:
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        return False
    values = torch.rand(tensor.shape, generator=generator, dtype=torch.float32) * (high - low) + low
    with torch.no_grad():
        tensor.copy_(values.to(tensor.dtype))
    return True


def _constant(tensor: torch.Tensor) -> bool:
    """More than one element, all equal (zeros, ones, a 1e-6 layer scale)."""
    if not tensor.is_floating_point() or tensor.numel() < 2:
        return False
    flat = tensor.detach().reshape(-1)
    return bool((flat == flat[0]).all())


def _range_for(name: str, tensor: torch.Tensor) -> tuple[float, float]:
    if name.endswith("bias"):
        return SHIFT_RANGE
    if tensor.dim() == 1:
        return SCALE_RANGE
    bound = (tensor.numel() // tensor.shape[0]) ** -0.5  # default uniform bound of a layer with this fan-in
    return (-bound, bound)


def _has_statistics(module: nn.Module) -> bool:
    return isinstance(getattr(module, "running_mean", None), torch.Tensor) and isinstance(
        getattr(module, "running_var", None), torch.Tensor
    )


def _measure_statistics(model: nn.Module, example: torch.Tensor, generator: torch.Generator) -> bool:
    """Running statistics of every BatchNorm-like module measured on random inputs shaped like ``example``
    (training-mode forward, cumulative average); False, statistics untouched, when that forward fails."""
    stats = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and _has_statistics(m)]
    if not stats:
        return False
    saved = {id(m): (m.momentum, m.running_mean.clone(), m.running_var.clone()) for m in stats}
    modes = {id(m): m.training for m in model.modules()}
    x = torch.randn((CALIBRATION_BATCH, *example.shape[1:]), generator=generator, dtype=example.dtype)
    try:
        for m in stats:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        with torch.no_grad():
            model(x)
        ok = all(bool(torch.isfinite(m.running_var).all()) for m in stats)
    except Exception:  # a model whose training-mode forward wants more than an input (targets): random stats
        ok = False
    finally:
        for m in model.modules():
            m.training = modes[id(m)]
        for m in stats:
            m.momentum = saved[id(m)][0]
    if not ok:
        for m in stats:
            with torch.no_grad():
                m.running_mean.copy_(saved[id(m)][1])
                m.running_var.copy_(saved[id(m)][2])
    return ok


def _perturb_statistics(module: nn.Module, generator: torch.Generator) -> None:
    mean, var = module.running_mean, module.running_var
    shift = (torch.rand(mean.shape, generator=generator) * 2 - 1) * MEAN_SHIFT
    factor = torch.rand(var.shape, generator=generator) * (VARIANCE_RANGE[1] - VARIANCE_RANGE[0]) + VARIANCE_RANGE[0]
    with torch.no_grad():
        mean.add_((shift * var.clamp_min(0).sqrt()).to(mean.dtype))
        var.mul_(factor.to(var.dtype))


def make_non_degenerate(model: nn.Module, seed: int = 0, example: torch.Tensor | None = None) -> Randomized:
    """Random per-channel weight and bias for every norm of ``model``, random values for every other constant
    parameter, and random running statistics: measured on random inputs shaped like ``example`` and perturbed
    per channel when it is given (and the training-mode forward runs), drawn at random otherwise; seeded, in
    place. The model's training/eval mode is kept."""
    generator = torch.Generator().manual_seed(seed)
    norms, done = 0, set()
    for module in model.modules():
        if not is_norm(module):
            continue
        _fill(module.weight, *SCALE_RANGE, generator)
        _fill(getattr(module, "bias", None), *SHIFT_RANGE, generator)
        done.update(id(t) for t in module.parameters(recurse=False))
        norms += 1
    constants = 0
    for name, param in model.named_parameters():
        if id(param) not in done and _constant(param):
            constants += _fill(param, *_range_for(name, param), generator)
    calibrated = example is not None and _measure_statistics(model, example, generator)
    for module in model.modules():
        if is_norm(module) and _has_statistics(module):
            if calibrated and isinstance(module, nn.modules.batchnorm._BatchNorm):
                _perturb_statistics(module, generator)
            else:
                _fill(module.running_mean, *SHIFT_RANGE, generator)
                _fill(module.running_var, *VARIANCE_RANGE, generator)
    return Randomized(norms, constants, calibrated)
