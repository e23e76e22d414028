"""The architectures of the coverage run: all of torchvision's classification zoo and a fixed timm set.

Random weights, 10 classes, each at its native resolution: for torchvision the smallest crop size among the
model's published weights (vit_h_14 and regnet_y_128gf: 224, their SWAG linear-probe weights; the fixed
position embedding of a ViT sets it anyway), for timm the ``input_size`` of the default pretrained config.
"""

from __future__ import annotations

from dataclasses import dataclass

# timm set, chosen before the run, by family (the issue asks for >= 30 across these families)
TIMM: dict[str, list[str]] = {
    "mobile CNN": [
        "mobilenetv3_small_100",
        "mobilenetv3_large_100",
        "mnasnet_100",
        "ghostnet_100",
        "lcnet_100",
        "mobilenetv4_conv_small",
        "tinynet_a",
        "mixnet_s",
        "repvit_m1",
    ],
    "ResNet variant": [
        "resnet18",
        "resnet50d",
        "resnext50_32x4d",
        "seresnet50",
        "res2net50_26w_4s",
        "skresnet18",
        "ecaresnet50d",
        "cspresnet50",
        "dla34",
    ],
    "RegNet": ["regnetx_002", "regnety_004", "regnetz_b16"],
    "EfficientNet": ["efficientnet_b0", "efficientnet_lite0", "efficientnetv2_rw_t"],
    "ConvNeXt": ["convnext_atto", "convnextv2_atto"],
    "vision transformer": [
        "vit_tiny_patch16_224",
        "deit_tiny_patch16_224",
        "deit_small_patch16_224",
        "swin_tiny_patch4_window7_224",
        "cait_xxs24_224",
        "pit_ti_224",
        "xcit_nano_12_p16_224",
        "convit_tiny",
    ],
    "conv-attention hybrid": [
        "mobilevit_xxs",
        "mobilevitv2_050",
        "levit_128s",
        "efficientformer_l1",
        "edgenext_xx_small",
        "poolformer_s12",
        "fastvit_t8",
        "tiny_vit_5m_224",
        "efficientvit_b0",
        "coatnet_nano_rw_224",
        "maxvit_nano_rw_256",
    ],
}


def time_limit(arch: Arch, default: int) -> int:
    """Seconds one model may take in the coverage run: more for the largest (on a shared 2-core machine the
    ONNX and TFLite conversions of a 30-GMAC model alone take tens of minutes)."""
    if arch.gflops > 100:
        return max(default, 6 * 3600)
    if arch.gflops > 10:
        return max(default, 3 * 3600)
    return default


@dataclass(frozen=True)
class Arch:
    """One model of the run."""

    source: str  # "torchvision", "timm" or "detector"
    name: str
    family: str
    input_shape: tuple[int, ...]
    gflops: float = 2.0  # published GMACs at this resolution (torchvision's weights meta); a guess for timm
    spec: str = ""  # detectors: the edgeprune model spec that builds the export form

    @property
    def key(self) -> str:
        return f"{self.source}__{self.name}"


def _torchvision_family(name: str) -> str:
    for prefix in (
        "efficientnet",
        "mobilenet",
        "regnet",
        "resnext",
        "wide_resnet",
        "resnet",
        "convnext",
        "densenet",
        "vit",
        "swin",
        "shufflenet",
        "squeezenet",
        "mnasnet",
        "vgg",
        "maxvit",
    ):
        if name.startswith(prefix):
            return prefix
    return name


def torchvision_archs() -> list[Arch]:
    import torchvision.models as tvm

    found = []
    for name in tvm.list_models(module=tvm):
        weights = min(tvm.get_model_weights(name), key=lambda w: w.transforms().crop_size[0])
        side = weights.transforms().crop_size[0]
        ops = float(weights.meta.get("_ops", 2.0))
        found.append(Arch("torchvision", name, _torchvision_family(name), (1, 3, side, side), ops))
    return found


def timm_archs() -> list[Arch]:
    import timm

    found = []
    for family, names in TIMM.items():
        for name in names:
            cfg = timm.get_pretrained_cfg(name)
            size = tuple(cfg.input_size) if cfg is not None else (3, 224, 224)
            found.append(Arch("timm", name, family, (1, *size)))
    return found


# detectors, in edgeprune's export form (raw head outputs): Ultralytics at its native 640, SSDlite at 320, the FPN
# detector at 512 (its native 800 is ~130 GMACs, more than this 2-core machine converts in the time limit);
# GMACs measured by edgeprune's counter at these sizes
DETECTORS: list[tuple[str, str, int, float]] = [
    ("ultralytics:yolov8n.yaml", "yolov8n", 640, 4.4),
    ("ultralytics:yolo11n.yaml", "yolo11n", 640, 3.2),
    ("ultralytics:yolov8s.yaml", "yolov8s", 640, 14.3),
    ("ultralytics:yolo11s.yaml", "yolo11s", 640, 10.7),
    ("torchvision:ssdlite320_mobilenet_v3_large", "ssdlite320_mobilenet_v3_large", 320, 0.6),
    ("torchvision:fcos_resnet50_fpn", "fcos_resnet50_fpn", 512, 50.0),
]


def detector_archs() -> list[Arch]:
    family = lambda spec: spec.partition(":")[0]  # noqa: E731
    return [Arch("detector", n, family(s), (1, 3, side, side), gmacs, s) for s, n, side, gmacs in DETECTORS]


def all_archs() -> list[Arch]:
    return torchvision_archs() + timm_archs() + detector_archs()


def cheapest_first(archs: list[Arch]) -> list[Arch]:
    """Run order of the coverage: the cheapest models first, so an interrupted run has covered the most."""
    return sorted(archs, key=lambda a: (a.gflops, a.key))


def build(arch: Arch, num_classes: int = 10):
    """The model with random weights (seed set by the caller); a detector in its export form."""
    if arch.source == "detector":
        import os

        from edgeprune.models import ModelSpec, build_model

        os.environ.setdefault("YOLO_OFFLINE", "1")
        return build_model(ModelSpec(arch.spec, num_classes=num_classes, in_channels=3))
    if arch.source == "torchvision":
        import torchvision.models as tvm

        return tvm.get_model(arch.name, weights=None, num_classes=num_classes)
    import timm

    return timm.create_model(arch.name, pretrained=False, num_classes=num_classes)
