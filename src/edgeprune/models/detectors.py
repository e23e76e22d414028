"""Detectors in the form they are exported in: a module whose forward returns the raw head outputs.

A detector's own forward changes what it returns with its mode and state: Ultralytics' ``Detect`` head returns a
dict of raw predictions in training, ``(decoded, raw dict)`` in eval mode and the decoded tensor alone once its
``export`` flag is set; torchvision's detectors take a list of images, resize and normalize them, and return
post-processed boxes (a different number per image). None of that is a fixed-shape graph that can be pruned,
exported and compared. edgeprune therefore works on the detector's *export form*: image tensor in, raw head
tensors out, the same in training and eval mode, with decoding and NMS outside the graph (``edgeprune.task``'s
detection task does them, with the detector's own code).

- :class:`YoloOutputs`: an Ultralytics ``DetectionModel`` (YOLOv3/5/8/9/11/12 ``Detect`` heads) returning
  ``(boxes, scores)``: box distributions ``(N, 4 * reg_max, A)`` and class logits ``(N, nc, A)`` over the ``A``
  anchor points of all levels, as ``Detect.forward_head`` computes them before decoding.
- :class:`TorchvisionHeads`: torchvision's single-stage detectors (SSD, SSDlite, RetinaNet, FCOS) returning
  their head's tensors ``(cls_logits, bbox_regression[, bbox_ctrness])``, from an already resized and normalized
  image batch.

Both keep the wrapped detector's parameter names (``model.0.conv.weight``, ``backbone.body...``), so its own
state_dict loads as it is, and hold the detector itself (not as a submodule) so that a pruned model can be given
back: :func:`to_ultralytics` returns the pruned ``DetectionModel`` sharing the pruned layers.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.errors import SpecError

TORCHVISION_HEAD_OUTPUTS = ("cls_logits", "bbox_regression", "bbox_ctrness")
SINGLE_STAGE = ("ssd300_vgg16", "ssdlite320_mobilenet_v3_large", "retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2",
                "fcos_resnet50_fpn")  # fmt: skip
CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.ya?ml$")


def _hide(module: nn.Module, name: str, value: Any) -> None:
    """Keep ``value`` on ``module`` without registering it as a submodule (no parameters, no state_dict keys)."""
    object.__setattr__(module, name, value)


def is_ultralytics_detection(model: object) -> bool:
    """An Ultralytics ``DetectionModel`` (duck-typed: no import of ultralytics needed to tell)."""
    layers = getattr(model, "model", None)
    return (
        isinstance(model, nn.Module)
        and type(model).__module__.startswith("ultralytics.")
        and isinstance(layers, nn.Sequential)
        and len(layers) > 0
        and hasattr(layers[-1], "cv2")
        and hasattr(layers[-1], "reg_max")
        and hasattr(model, "save")
    )


def is_torchvision_detector(model: object) -> bool:
    """A torchvision detector (any of ``torchvision.models.detection``)."""
    return isinstance(model, nn.Module) and type(model).__module__.startswith("torchvision.models.detection")


class YoloOutputs(nn.Module):
    """An Ultralytics ``DetectionModel`` returning its raw head outputs ``(boxes, scores)`` in every mode."""

    def __init__(self, detection_model: nn.Module) -> None:
        super().__init__()
        head = detection_model.model[-1]
        kind = type(head).__name__
        if getattr(head, "one2one_cv2", None) is not None:
            raise SpecError(
                f"Ultralytics model with an end-to-end (NMS-free, one-to-one) '{kind}' head (YOLOv10/YOLO26): not"
                " supported yet; use a YOLOv8/YOLO11-style model"
            )
        if kind != "Detect":
            raise SpecError(
                f"Ultralytics model with a '{kind}' head: edgeprune prunes detection models (a 'Detect' head);"
                " segmentation, pose, OBB and classification heads are not supported yet"
            )
        if not isinstance(getattr(head, "cv2", None), nn.ModuleList):
            raise SpecError("Ultralytics 'Detect' head without box branches (fused for inference?): not supported")
        self.model = detection_model.model
        self.save = sorted(int(i) for i in detection_model.save)
        _hide(self, "detection_model", detection_model)

    @property
    def head(self) -> nn.Module:
        """The ``Detect`` module (its ``nc``, ``reg_max`` and ``stride`` describe the outputs)."""
        return self.model[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        step = max((int(s) for s in self.head.stride.tolist()), default=0) or 32
        if x.shape[-2] % step or x.shape[-1] % step:
            raise SpecError(
                f"input {x.shape[-2]}x{x.shape[-1]}: this YOLO needs height and width that are multiples of its"
                f" largest stride ({step}), e.g. {step * max(1, round(x.shape[-2] / step))}"
            )
        saved: list[Any] = []
        layers = list(self.model)
        for layer in layers[:-1]:
            x = self._inputs(layer, x, saved)
            x = layer(x)
            saved.append(x if layer.i in self.save else None)
        head = layers[-1]
        feats = self._inputs(head, x, saved)
        n = feats[0].shape[0]
        boxes = torch.cat([head.cv2[i](f).view(n, 4 * head.reg_max, -1) for i, f in enumerate(feats)], dim=-1)
        scores = torch.cat([head.cv3[i](f).view(n, head.nc, -1) for i, f in enumerate(feats)], dim=-1)
        return boxes, scores

    @staticmethod
    def _inputs(layer: nn.Module, x: Any, saved: list[Any]) -> Any:
        """What ``layer`` reads: the previous output, or saved outputs its ``f`` index names (as Ultralytics)."""
        source = layer.f
        if source == -1:
            return x
        if isinstance(source, int):
            return saved[source]
        return [x if j == -1 else saved[j] for j in source]


class TorchvisionHeads(nn.Module):
    """A torchvision single-stage detector (SSD, SSDlite, RetinaNet, FCOS) returning its head's raw tensors
    ``(cls_logits, bbox_regression[, bbox_ctrness])`` for an already resized and normalized image batch."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        if not (hasattr(detector, "backbone") and hasattr(detector, "head") and hasattr(detector, "anchor_generator")):
            raise SpecError(
                f"torchvision detector {type(detector).__name__}: only single-stage detectors (SSD, SSDlite,"
                " RetinaNet, FCOS) have a fixed-shape head to prune; two-stage R-CNNs are not supported"
            )
        self.backbone = detector.backbone
        self.head = detector.head
        _hide(self, "detector", detector)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.head(self.features(x))
        return tuple(out[k] for k in TORCHVISION_HEAD_OUTPUTS if k in out)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's feature maps (for anchors: only their shapes are read)."""
        feats = self.backbone(x)
        return list(feats.values()) if isinstance(feats, dict) else [feats]


def export_form(model: nn.Module) -> nn.Module:
    """``model`` as edgeprune works on it: a detector wrapped in its export form, anything else unchanged."""
    if isinstance(model, (YoloOutputs, TorchvisionHeads)):
        return model
    if is_ultralytics_detection(model):
        return YoloOutputs(model)
    if is_torchvision_detector(model):
        return TorchvisionHeads(model)
    return model


def is_detector(model: nn.Module) -> bool:
    """True for a detector in its export form."""
    return isinstance(model, (YoloOutputs, TorchvisionHeads))


def to_ultralytics(model: nn.Module) -> nn.Module:
    """The Ultralytics ``DetectionModel`` behind a :class:`YoloOutputs` (pruned in place with it: same layers),
    ready for Ultralytics' ``val``, ``predict`` and exporters."""
    if not isinstance(model, YoloOutputs):
        kind = type(model).__name__
        raise SpecError(f"to_ultralytics: expected an Ultralytics detector in edgeprune's form, got {kind}")
    detection_model = model.detection_model
    detection_model.model = model.model  # the same object unless the wrapper's layers were replaced
    return detection_model


def ultralytics_config(name: str) -> str:
    """Check that ``name`` is one of the model configs bundled with Ultralytics (``yolo11n.yaml``, ``yolov8s.yaml``)
    and return it. A path is refused: an Ultralytics yaml can name an activation evaluated as Python."""
    if not name.endswith((".yaml", ".yml")):
        if name.endswith((".pt", ".pth")):
            raise SpecError(
                f"model spec 'ultralytics:{name}': a .pt checkpoint is a pickle, which edgeprune never loads; give"
                f" the architecture ('ultralytics:{name.rsplit('.', 1)[0]}.yaml') and the weights as --checkpoint"
                " (a state_dict or safetensors file; see README 'Detectors')"
            )
        name += ".yaml"
    if not CONFIG_NAME.match(name):
        raise SpecError(
            f"model spec 'ultralytics:{name}': name one of Ultralytics' bundled model configs (e.g. yolo11n.yaml);"
            " for your own yaml, write a factory (file.py:make) that builds it"
        )
    return name


def build_ultralytics(name: str, num_classes: int | None = None, in_channels: int = 3) -> nn.Module:
    """An Ultralytics detection model from a bundled config, random weights, no network, in its export form."""
    cfg = ultralytics_config(name)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics.nn.tasks import DetectionModel
    except ImportError:
        raise SpecError(
            f"model spec 'ultralytics:{name}': ultralytics is not installed (pip install ultralytics; AGPL-3.0)"
        ) from None
    from edgeprune import logs

    try:
        with logs.quiet():
            model = DetectionModel(cfg, ch=in_channels, nc=num_classes, verbose=False)
    except (FileNotFoundError, KeyError, ValueError, TypeError) as exc:
        raise SpecError(f"model spec 'ultralytics:{name}': Ultralytics cannot build it: {exc}"[:300]) from None
    return YoloOutputs(model)


def build_torchvision_detector(name: str, num_classes: int | None = None) -> nn.Module:
    """A torchvision single-stage detector with random weights (no download), in its export form. SSD models
    count the background as class 0, so ``num_classes`` object classes become ``num_classes + 1`` outputs."""
    import torchvision.models.detection as detection

    if name not in SINGLE_STAGE:
        known = ", ".join(SINGLE_STAGE)
        raise SpecError(f"model spec 'torchvision:{name}': detectors supported: {known} (single-stage heads)")
    classes = (num_classes or 90) + 1
    model = detection.__dict__[name](weights=None, weights_backbone=None, num_classes=classes)
    return TorchvisionHeads(model)


def save_for_ultralytics(
    model: nn.Module, path: str | os.PathLike[str], names: dict[int, str] | None = None, imgsz: int | None = None
) -> Path:
    """Write a (pruned) YOLO in edgeprune's form as an Ultralytics checkpoint that ``YOLO(path)`` loads, so its
    ``val``, ``predict`` and exporters run on the pruned model. Like Ultralytics' own ``.pt`` files it is a pickle
    of the module (edgeprune writes it; it never reads one back)."""
    import datetime

    from edgeprune.atomic import write_with

    detection_model = copy.deepcopy(to_ultralytics(model)).float().eval()
    for name, module in list(detection_model.named_modules()):
        if type(module).__module__.startswith("edgeprune"):
            if not isinstance(module, nn.Identity):
                raise SpecError(f"save_for_ultralytics: module '{name}' is edgeprune's {type(module).__name__}")
            detection_model.set_submodule(name, nn.Identity())  # a removed block: plain torch for Ultralytics
    train_args = {"task": "detect", **({"imgsz": imgsz} if imgsz else {})}
    detection_model.args = dict(train_args)
    if names is not None:
        detection_model.names = dict(names)
    version = getattr(sys.modules.get("ultralytics"), "__version__", "")
    checkpoint = {
        "date": datetime.datetime.now().isoformat(),
        "version": version,
        "license": "AGPL-3.0 (Ultralytics)",
        "epoch": -1,
        "best_fitness": None,
        "model": detection_model,
        "ema": None,
        "updates": None,
        "optimizer": None,
        "train_args": train_args,
        "train_metrics": None,
        "train_results": None,
        "edgeprune": "pruned by edgeprune",
    }
    target = Path(path)
    write_with(target, lambda tmp: torch.save(checkpoint, tmp))
    return target


def read_ultralytics_checkpoint(path: str | os.PathLike[str], allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The state_dict of an Ultralytics ``.pt`` checkpoint (``best.pt``), for ``--checkpoint``.

    Ultralytics' checkpoints are pickled modules. edgeprune never unpickles by default; with ``allow_pickle`` (your
    own file, your explicit choice) it reads it through Ultralytics' restricted loader (``torch.load`` with
    ``weights_only=True`` and Ultralytics' allow-list of its own classes) and returns the float weights."""
    if not allow_pickle:
        raise SpecError(
            f"{path}: an Ultralytics .pt checkpoint is a pickle, which edgeprune does not load by default; save"
            " its weights once (YOLO('best.pt').model.float().state_dict() with safetensors or torch.save) and"
            " pass that file, or call read_ultralytics_checkpoint(path, allow_pickle=True) for your own file"
        )
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics.nn.tasks import torch_safe_load

    checkpoint, _ = torch_safe_load(str(path), safe_only=True)
    module = checkpoint.get("ema") or checkpoint.get("model")
    if not isinstance(module, nn.Module):
        raise SpecError(f"{path}: no model in this Ultralytics checkpoint")
    return {k: v.float() if v.is_floating_point() else v for k, v in module.state_dict().items()}
