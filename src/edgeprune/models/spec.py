"""Model specs: ``edgeprune:default``, ``torchvision:<name>``, ``pkg.module:factory``."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass

from torch import nn

from edgeprune.errors import SpecError


def _edgeprune_zoo() -> dict[str, Callable[..., nn.Module]]:
    from edgeprune.models.edgenet import EdgeNet

    return {"default": EdgeNet, "edgenet": EdgeNet}


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild the unpruned architecture: the spec string plus the data-dependent sizes."""

    spec: str
    num_classes: int = 10
    in_channels: int = 1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ModelSpec:
        return cls(**data)  # type: ignore[arg-type]


def known_model_kinds() -> list[str]:
    """Accepted spec forms, for error messages."""
    return ["edgeprune:default", "torchvision:<name>", "pkg.module:factory"]


def _call_factory(factory: Callable[..., nn.Module], spec: ModelSpec) -> nn.Module:
    """Pass ``num_classes``/``in_channels`` only where the factory accepts them."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs: dict[str, int] = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "num_classes" in params or accepts_any:
        kwargs["num_classes"] = spec.num_classes
    if "in_channels" in params:
        kwargs["in_channels"] = spec.in_channels
    return factory(**kwargs)


def _torchvision_factory(name: str) -> Callable[..., nn.Module]:
    import torchvision.models as tvm

    names = tvm.list_models(module=tvm)
    if name not in names:
        close = [n for n in names if name.split("_")[0] in n][:8]
        hint = f"; did you mean one of {close}" if close else ""
        raise SpecError(f"model spec 'torchvision:{name}': torchvision has no classification model '{name}'{hint}")

    def build(num_classes: int = 1000) -> nn.Module:
        return tvm.get_model(name, weights=None, num_classes=num_classes)

    return build


def _user_factory(module_name: str, attr: str) -> Callable[..., nn.Module]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(f"model spec '{module_name}:{attr}': cannot import module '{module_name}' ({exc})") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise SpecError(f"model spec '{module_name}:{attr}': module '{module_name}' has no callable '{attr}'")
    return factory


def resolve_factory(spec: str) -> Callable[..., nn.Module]:
    """Return the callable a spec names, with a clear error naming the wrong part."""
    prefix, sep, name = spec.partition(":")
    if not sep or not prefix or not name:
        raise SpecError(f"model spec '{spec}' must look like one of {known_model_kinds()}")
    if prefix == "edgeprune":
        zoo = _edgeprune_zoo()
        if name not in zoo:
            raise SpecError(f"model spec '{spec}': edgeprune has no built-in model '{name}' (known: {sorted(zoo)})")
        return zoo[name]
    if prefix == "torchvision":
        return _torchvision_factory(name)
    return _user_factory(prefix, name)


def build_model(spec: ModelSpec) -> nn.Module:
    """Build the unpruned architecture in eval mode."""
    model = _call_factory(resolve_factory(spec.spec), spec)
    if not isinstance(model, nn.Module):
        raise SpecError(f"model spec '{spec.spec}': factory returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()
