"""Model specs: ``edgeprune:default``, ``torchvision:<name>``, ``timm:<name>``, ``ultralytics:<config>.yaml``
(built-in registries), and the user's ``module:factory`` or ``path/to/file.py:factory``. Detectors (Ultralytics
YOLO, torchvision's single-stage detectors, from a spec or a factory) are built in their export form
(:mod:`edgeprune.models.detectors`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass

from torch import nn

from edgeprune.errors import SpecError
from edgeprune.models.detectors import build_torchvision_detector, build_ultralytics, export_form, ultralytics_config
from edgeprune.userload import call_user, resolve_user_object

BUILTIN_PREFIXES = ("edgeprune", "torchvision", "timm", "ultralytics")
MAX_CLASSES = 1 << 20  # a record asking for more would allocate a classifier of absurd size before any check
MAX_CHANNELS = 4096


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _edgeprune_zoo() -> dict[str, Callable[..., nn.Module]]:
    from edgeprune.models.edgenet import EdgeNet
    from edgeprune.models.tiny import DSCNN, ResNet8, mobilenet_v1_025

    return {
        "default": EdgeNet,
        "edgenet": EdgeNet,
        "resnet8": ResNet8,
        "dscnn": DSCNN,
        "mobilenet_v1_025": mobilenet_v1_025,
    }


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild the unpruned architecture: the spec string plus the data-dependent sizes."""

    spec: str
    num_classes: int | None = 10
    in_channels: int = 1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> ModelSpec:
        if not isinstance(data, dict) or not isinstance(data.get("spec"), str):
            raise SpecError(f"model spec record must be an object with a string 'spec', got {data!r}"[:200])
        num_classes, in_channels = data.get("num_classes", 10), data.get("in_channels", 1)
        if num_classes is not None and (not _count(num_classes) or num_classes > MAX_CLASSES):
            raise SpecError(
                f"model spec record: 'num_classes' must be an integer in 1..{MAX_CLASSES}, got {num_classes!r}"
            )
        if not _count(in_channels) or in_channels > MAX_CHANNELS:
            raise SpecError(
                f"model spec record: 'in_channels' must be an integer in 1..{MAX_CHANNELS}, got {in_channels!r}"
            )
        return cls(data["spec"], num_classes, in_channels)

    @property
    def builtin(self) -> bool:
        """True for specs resolved from edgeprune's own registries (never by importing a user's code)."""
        return is_builtin(self.spec)


def is_builtin(spec: str) -> bool:
    prefix, sep, name = spec.partition(":")
    return bool(sep and name) and prefix in BUILTIN_PREFIXES


def known_model_kinds() -> list[str]:
    """Accepted spec forms, for error messages."""
    return [
        "edgeprune:default",
        "torchvision:<name>",
        "timm:<name>",
        "ultralytics:<config>.yaml",
        "module:factory",
        "path/to/file.py:factory",
    ]


def _call_factory(factory: Callable[..., nn.Module], spec: ModelSpec) -> nn.Module:
    """Pass ``num_classes``/``in_channels`` only where the factory accepts them."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs: dict[str, int] = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if spec.num_classes is not None and ("num_classes" in params or accepts_any):
        kwargs["num_classes"] = spec.num_classes
    if "in_channels" in params:
        kwargs["in_channels"] = spec.in_channels
    elif "in_chans" in params:  # timm's name
        kwargs["in_chans"] = spec.in_channels
    if is_builtin(spec.spec):
        return factory(**kwargs)
    return call_user(factory, spec.spec, "model factory", **kwargs)


def _torchvision_factory(name: str) -> Callable[..., nn.Module]:
    import torchvision.models as tvm

    names = tvm.list_models(module=tvm)
    if name in tvm.list_models(module=tvm.detection):

        def detector(num_classes: int = 90) -> nn.Module:
            return build_torchvision_detector(name, num_classes)

        return detector
    if name not in names:
        close = [n for n in names if name.split("_")[0] in n][:8]
        hint = f"; did you mean one of {close}" if close else ""
        raise SpecError(f"model spec 'torchvision:{name}': torchvision has no classification model '{name}'{hint}")

    def build(num_classes: int = 1000) -> nn.Module:
        return tvm.get_model(name, weights=None, num_classes=num_classes)

    return build


def _timm_factory(name: str) -> Callable[..., nn.Module]:
    try:
        import timm
    except ImportError:
        raise SpecError(f"model spec 'timm:{name}': timm is not installed (pip install timm)") from None
    if name not in timm.list_models():
        raise SpecError(f"model spec 'timm:{name}': timm has no model '{name}'")

    def build(num_classes: int = 1000, in_chans: int = 3) -> nn.Module:
        return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_chans)

    return build


def _ultralytics_factory(name: str) -> Callable[..., nn.Module]:
    ultralytics_config(name)  # a bad name fails here, before anything is built

    def build(num_classes: int | None = None, in_channels: int = 3) -> nn.Module:
        return build_ultralytics(name, num_classes, in_channels)

    return build


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
    if prefix == "timm":
        return _timm_factory(name)
    if prefix == "ultralytics":
        return _ultralytics_factory(name)
    factory = resolve_user_object(spec, "model spec")
    if not callable(factory):
        raise SpecError(f"model spec '{spec}' names a {type(factory).__name__}, not a factory function or class")
    return factory


def build_model(spec: ModelSpec) -> nn.Module:
    """Build the unpruned architecture in eval mode (a detector in its export form)."""
    model = _call_factory(resolve_factory(spec.spec), spec)
    if not isinstance(model, nn.Module):
        if type(model).__name__ == "YOLO" and isinstance(getattr(model, "model", None), nn.Module):
            raise SpecError(
                f"model spec '{spec.spec}': factory returned an Ultralytics YOLO object; return its .model"
                " (the DetectionModel), e.g. YOLO('yolo11n.yaml').model"
            )
        raise SpecError(f"model spec '{spec.spec}': factory returned {type(model).__name__}, not a torch.nn.Module")
    return export_form(model).eval()
