"""The detection task: mAP50-95 (and mAP50) over a whole split, each detector family's own loss and decoding.

Targets are padded rows ``[class, cx, cy, w, h]`` (normalized, -1 rows pad; :mod:`edgeprune.data.detection`).
Outputs are a detector's raw head tensors (:mod:`edgeprune.models.detectors`). The task reads what it needs from
the detector the first time it sees one (:meth:`DetectorBinding.prepare`): the head's strides, classes and DFL
bins, or a torchvision detector's anchors, box coder and matcher. Heads are never pruned, so any copy of the
detector (pruned or not) gives the same binding.

- Ultralytics YOLO: loss = Ultralytics' ``v8DetectionLoss`` (box IoU + DFL + BCE with task-aligned assignment,
  default gains box 7.5, cls 0.5, dfl 1.5), decoding = the ``Detect`` head's own ``_inference``, then Ultralytics'
  ``non_max_suppression`` and metrics (``match_predictions``, ``ap_per_class``) with its validator's defaults
  (confidence 0.001, IoU 0.7, multi-label, 300 detections), so the figure is the one ``YOLO(...).val()`` prints.
- torchvision SSD / RetinaNet / FCOS: loss = the detector's ``compute_loss``, decoding = its
  ``postprocess_detections``, mAP from pycocotools' ``COCOeval`` (COCO's 101-point interpolated AP).

mAP is not a batch mean: :class:`MeanAveragePrecision` accumulates predictions over the split and computes once.
Values are in points (percent).
"""

from __future__ import annotations

import contextlib
import io
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgeprune.errors import EdgepruneError
from edgeprune.models.detectors import TorchvisionHeads, YoloOutputs

IOU_THRESHOLDS = torch.linspace(0.5, 0.95, 10)
CONFIDENT = 0.25  # the score a deployed detector keeps a box at (Ultralytics' predict default)
YOLO_VAL = {"conf": 0.001, "iou": 0.7, "max_det": 300}  # Ultralytics' DetectionValidator defaults


@dataclass(frozen=True)
class Detections:
    """One image's detections (pixels, xyxy) or ground truth (``scores`` empty)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


def ground_truth(targets: torch.Tensor, height: int, width: int) -> list[Detections]:
    """Padded normalized ``[class, cx, cy, w, h]`` rows -> per-image xyxy pixel boxes and classes."""
    found = []
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    for rows in targets:
        keep = rows[:, 0] >= 0
        cxcywh = rows[keep, 1:5].float() * scale
        xyxy = torch.cat([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], dim=1)
        found.append(Detections(xyxy, torch.empty(0), rows[keep, 0].long()))
    return found


# -- YOLO -----------------------------------------------------------------------------------------------------
def _ultralytics_loss(detection_model: nn.Module) -> Any:
    from ultralytics.cfg import get_cfg
    from ultralytics.utils.loss import v8DetectionLoss

    if not hasattr(detection_model, "args") or isinstance(detection_model.args, dict):
        hyp = get_cfg()
        for key, value in (getattr(detection_model, "args", None) or {}).items():
            setattr(hyp, key, value)
        detection_model.args = hyp
    return v8DetectionLoss(detection_model)


class YoloBinding:
    """What the task needs from an Ultralytics ``Detect`` head."""

    def __init__(self, model: YoloOutputs, image_size: tuple[int, int]) -> None:
        self.head = model.head
        self.image_size = image_size
        strides = [int(s) for s in self.head.stride.tolist()]
        self.levels = [(image_size[0] // s, image_size[1] // s) for s in strides]
        self.criterion = _ultralytics_loss(model.detection_model)
        self.key = ("yolo", self.head.nc, self.head.reg_max, tuple(strides), image_size)

    def _feats(self, like: torch.Tensor) -> list[torch.Tensor]:
        """Empty feature maps of each level's shape: the loss and decoder read only their shapes."""
        return [like.new_zeros(like.shape[0], 0, h, w) for h, w in self.levels]

    def loss(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        boxes, scores = outputs
        self.criterion.device = boxes.device
        keep = targets[..., 0] >= 0
        image, _ = keep.nonzero(as_tuple=True)
        batch = {"batch_idx": image.float(), "cls": targets[keep][:, 0:1], "bboxes": targets[keep][:, 1:5]}
        total, _ = self.criterion({"boxes": boxes, "scores": scores, "feats": self._feats(boxes)}, batch)
        return total.sum() / boxes.shape[0]

    def decode(self, outputs: Any) -> list[Detections]:
        from ultralytics.utils.nms import non_max_suppression

        boxes, scores = outputs
        with torch.no_grad():
            decoded = self.head._inference({"boxes": boxes, "scores": scores, "feats": self._feats(boxes)})
            kept = non_max_suppression(
                decoded, YOLO_VAL["conf"], YOLO_VAL["iou"], multi_label=True, max_det=YOLO_VAL["max_det"],
                max_time_img=10.0,
            )  # fmt: skip
        return [Detections(k[:, :4], k[:, 4], k[:, 5].long()) for k in kept]

    def distill(self, student: Any, teacher: Any, temperature: float) -> torch.Tensor:
        """KL between the box distributions (per side, over the DFL bins) plus BCE of the class logits against
        the teacher's probabilities."""
        (sb, ss), (tb, ts) = student, teacher
        n, r = sb.shape[0], self.head.reg_max
        log_s = F.log_softmax(sb.view(n, 4, r, -1) / temperature, dim=2)
        log_t = F.log_softmax(tb.view(n, 4, r, -1) / temperature, dim=2)
        box = (log_t.exp() * (log_t - log_s)).sum(2).mean() * temperature**2
        return box + F.binary_cross_entropy_with_logits(ss, ts.sigmoid())


# -- torchvision ----------------------------------------------------------------------------------------------
class TorchvisionBinding:
    """What the task needs from a torchvision single-stage detector: anchors at the data's image size, its
    matcher, box coder, loss and post-processing."""

    def __init__(self, model: TorchvisionHeads, example: torch.Tensor) -> None:
        from torchvision.models.detection.image_list import ImageList

        self.detector = model.detector
        self.image_size = (int(example.shape[-2]), int(example.shape[-1]))
        was = model.training
        model.eval()
        with torch.no_grad():
            feats = model.features(example[:1])
        model.train(was)
        images = ImageList(example[:1], [self.image_size])
        self.anchors = self.detector.anchor_generator(images, feats)[0].detach()
        per_location = self.anchors.shape[0] // sum(f.shape[-2] * f.shape[-1] for f in feats)
        self.per_level = [f.shape[-2] * f.shape[-1] * per_location for f in feats]
        self.kind = type(self.detector).__name__
        self.key = ("torchvision", self.kind, self.image_size, tuple(self.per_level))

    def _heads(self, outputs: Any) -> dict[str, torch.Tensor]:
        names = ("cls_logits", "bbox_regression", "bbox_ctrness")
        return dict(zip(names, outputs, strict=False))

    def _targets(self, targets: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        truth = ground_truth(targets.cpu(), *self.image_size)
        device = targets.device
        return [{"boxes": t.boxes.to(device), "labels": (t.labels + 1).to(device)} for t in truth]  # 0: background

    def loss(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import boxes as box_ops

        heads, truth = self._heads(outputs), self._targets(targets)
        anchors = [self.anchors.to(outputs[0].device)] * len(truth)
        if self.kind == "SSD":
            matched = []
            for t, a in zip(truth, anchors, strict=True):
                if t["boxes"].numel() == 0:
                    matched.append(torch.full((a.shape[0],), -1, dtype=torch.int64, device=a.device))
                else:
                    matched.append(self.detector.proposal_matcher(box_ops.box_iou(t["boxes"], a)))
            losses = self.detector.compute_loss(truth, heads, anchors, matched)
        elif self.kind == "FCOS":
            losses = self.detector.compute_loss(truth, heads, anchors, self.per_level)
        else:
            losses = self.detector.compute_loss(truth, heads, anchors)
        return sum(losses.values())

    def decode(self, outputs: Any) -> list[Detections]:
        heads = {k: v.detach() for k, v in self._heads(outputs).items()}
        n = outputs[0].shape[0]
        anchors = [self.anchors.to(outputs[0].device)] * n
        sizes = [self.image_size] * n
        with torch.no_grad():
            if self.kind == "SSD":
                found = self.detector.postprocess_detections(heads, anchors, sizes)
            else:
                split = {k: list(v.split(self.per_level, dim=1)) for k, v in heads.items()}
                found = self.detector.postprocess_detections(
                    split, [list(a.split(self.per_level)) for a in anchors], sizes
                )
        return [Detections(d["boxes"], d["scores"], d["labels"] - 1) for d in found]

    def distill(self, student: Any, teacher: Any, temperature: float) -> torch.Tensor:
        return sum(F.mse_loss(s, t) for s, t in zip(student, teacher, strict=True))


def bind(model: nn.Module, example: torch.Tensor) -> YoloBinding | TorchvisionBinding:
    """The binding of a detector in its export form; an error naming the model for anything else."""
    size = (int(example.shape[-2]), int(example.shape[-1]))
    if isinstance(model, YoloOutputs):
        return YoloBinding(model, size)
    if isinstance(model, TorchvisionHeads):
        return TorchvisionBinding(model, example)
    raise EdgepruneError(
        f"the detection task needs a detector (Ultralytics YOLO or a torchvision SSD/RetinaNet/FCOS), got"
        f" {type(model).__name__}: give --model ultralytics:<config>.yaml, torchvision:<detector> or a factory"
        " returning one"
    )


# -- mAP ------------------------------------------------------------------------------------------------------
def _ultralytics_map(preds: list[Detections], truth: list[Detections]) -> tuple[float, float]:
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    matcher = types.SimpleNamespace(iouv=IOU_THRESHOLDS)
    tp, conf, pred_cls, target_cls = [], [], [], []
    for p, t in zip(preds, truth, strict=True):
        correct = np.zeros((len(p.labels), len(IOU_THRESHOLDS)), dtype=bool)
        if len(p.labels) and len(t.labels):
            iou = box_iou(t.boxes.float(), p.boxes.float())
            correct = BaseValidator.match_predictions(matcher, p.labels, t.labels, iou).numpy()
        tp.append(correct)
        conf.append(p.scores.numpy())
        pred_cls.append(p.labels.numpy())
        target_cls.append(t.labels.numpy())
    if not len(np.concatenate(target_cls)):
        return 0.0, 0.0
    result = ap_per_class(
        np.concatenate(tp), np.concatenate(conf), np.concatenate(pred_cls), np.concatenate(target_cls)
    )
    ap = result[5]  # (classes, 10 IoU thresholds)
    if not len(ap):
        return 0.0, 0.0
    return float(ap.mean()) * 100.0, float(ap[:, 0].mean()) * 100.0


def _coco_map(preds: list[Detections], truth: list[Detections]) -> tuple[float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b: torch.Tensor) -> list[float]:
        x1, y1, x2, y2 = (float(v) for v in b)
        return [x1, y1, x2 - x1, y2 - y1]

    classes = sorted({int(c) for t in truth for c in t.labels} | {int(c) for p in preds for c in p.labels})
    annotations = []
    for i, t in enumerate(truth):
        for b, c in zip(t.boxes, t.labels, strict=True):
            box = xywh(b)
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i, "category_id": int(c), "bbox": box,
                 "area": box[2] * box[3], "iscrowd": 0}
            )  # fmt: skip
    results = [
        {"image_id": i, "category_id": int(c), "bbox": xywh(b), "score": float(s)}
        for i, p in enumerate(preds)
        for b, s, c in zip(p.boxes, p.scores, p.labels, strict=True)
    ]
    if not annotations or not results:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i} for i in range(len(truth))],
            "annotations": annotations,
            "categories": [{"id": c} for c in classes],
        }
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return max(float(evaluation.stats[0]), 0.0) * 100.0, max(float(evaluation.stats[1]), 0.0) * 100.0


@dataclass
class MeanAveragePrecision:
    """Accumulates one split's detections and ground truth; :meth:`compute` gives mAP50-95 in points
    (:attr:`map50` holds mAP50 after it)."""

    binding: Any
    preds: list[Detections] = field(default_factory=list)
    truth: list[Detections] = field(default_factory=list)
    map50: float = 0.0

    def update(self, outputs: Any, targets: torch.Tensor) -> None:
        outputs = tuple(o.detach().float().cpu() for o in outputs)
        self.preds += [Detections(p.boxes.cpu(), p.scores.cpu(), p.labels.cpu()) for p in self.binding.decode(outputs)]
        self.truth += ground_truth(targets.cpu(), *self.binding.image_size)

    def compute(self) -> float:
        score = _ultralytics_map if isinstance(self.binding, YoloBinding) else _coco_map
        value, self.map50 = score(self.preds, self.truth)
        return value


def _cpu(outputs: Any) -> tuple[torch.Tensor, ...]:
    return tuple(torch.as_tensor(o).detach().float().cpu() for o in outputs)


def _confident(found: list[Detections]) -> list[Detections]:
    return [Detections(d.boxes[d.scores >= CONFIDENT].cpu(), d.scores[d.scores >= CONFIDENT].cpu(),
                       d.labels[d.scores >= CONFIDENT].cpu()) for d in found]  # fmt: skip


class DetectorBinding:
    """The detection task's link to the detector it scores: set by :meth:`prepare` the first time the task sees a
    detector (and again when it sees a different head); every loss, metric and distillation call reads it."""

    def __init__(self) -> None:
        self.current: YoloBinding | TorchvisionBinding | None = None

    def prepare(self, model: nn.Module, example: torch.Tensor) -> None:
        if self.current is not None and self._same(model, example):
            return
        self.current = bind(model, example)

    def _same(self, model: nn.Module, example: torch.Tensor) -> bool:
        size = (int(example.shape[-2]), int(example.shape[-1]))
        current = self.current
        if isinstance(model, YoloOutputs) and isinstance(current, YoloBinding):
            head = model.head
            strides = tuple(int(s) for s in head.stride.tolist())
            return current.key == ("yolo", head.nc, head.reg_max, strides, size)
        if isinstance(model, TorchvisionHeads) and isinstance(current, TorchvisionBinding):
            return current.detector is model.detector and current.image_size == size
        return False

    def bound(self) -> YoloBinding | TorchvisionBinding:
        if self.current is None:
            raise EdgepruneError(
                "the detection task has not seen its detector yet (edgeprune binds it when the model is loaded)"
            )
        return self.current

    def loss(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        return self.bound().loss(outputs, targets)

    def metric(self, outputs: Any, targets: torch.Tensor) -> float:
        """mAP50-95 of one batch alone (whole-split figures come from :meth:`accumulator`)."""
        acc = self.accumulator()
        acc.update(outputs, targets)
        return acc.compute()

    def accumulator(self) -> MeanAveragePrecision:
        return MeanAveragePrecision(self.bound())

    def agreement(self, reference: Any, outputs: Any) -> float:
        """Box-level agreement of ``outputs`` with ``reference`` (say int8 with fp32) after the same decoding and
        NMS: the mAP50 of ``outputs``' boxes scored against ``reference``'s confident boxes (score >= 0.25) as
        ground truth, in points (100: every confident box found again, same class, IoU >= 0.5, ranked first)."""
        binding = self.bound()
        ref = [Detections(d.boxes, torch.empty(0), d.labels) for d in _confident(binding.decode(_cpu(reference)))]
        got = [Detections(d.boxes.cpu(), d.scores.cpu(), d.labels.cpu()) for d in binding.decode(_cpu(outputs))]
        score = _ultralytics_map if isinstance(binding, YoloBinding) else _coco_map
        if not sum(len(r.labels) for r in ref):
            return 100.0 if not sum(len(g.labels) for g in _confident(got)) else 0.0
        return score(got, ref)[1]

    def distill(self, student: Any, teacher: Any, temperature: float) -> torch.Tensor:
        return self.bound().distill(student, teacher, temperature)
