"""The detection task: mAP from maintained implementations over a whole split, the detector's own loss through
the task, box agreement, and the model specs that build detectors (or refuse, saying why)."""

from __future__ import annotations

import pytest
import torch

from edgeprune.errors import SpecError
from edgeprune.models import ModelSpec, build_model
from edgeprune.task import TaskSpec, resolve_task
from edgeprune.task.detection import Detections, _coco_map, _ultralytics_map


def _truth() -> list[Detections]:
    boxes = torch.tensor([[10.0, 10.0, 30.0, 40.0], [40.0, 5.0, 60.0, 25.0]])
    return [Detections(boxes, torch.empty(0), torch.tensor([3, 7])), Detections(boxes[:1] + 2, torch.empty(0),
            torch.tensor([1]))]  # fmt: skip


def _as_predictions(truth: list[Detections], shift: float = 0.0) -> list[Detections]:
    return [Detections(t.boxes + shift, torch.full((len(t.labels),), 0.9), t.labels) for t in truth]


@pytest.mark.parametrize("score", [_ultralytics_map, _coco_map])
def test_map_of_perfect_and_shifted_boxes(score) -> None:
    truth = _truth()
    assert score(_as_predictions(truth), truth) == pytest.approx((100.0, 100.0), abs=0.5)  # Ultralytics: 99.5
    map_, map50 = score(_as_predictions(truth, shift=2.0), truth)  # IoU 0.68-0.72: found at 0.5-0.65 only
    assert map50 == pytest.approx(100.0, abs=0.5) and 30.0 < map_ < 50.0
    assert score([Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long))] * 2, truth) == (0, 0)


@pytest.fixture(scope="module")
def yolo():
    return build_model(ModelSpec("ultralytics:yolov8n.yaml", num_classes=10, in_channels=3))


def test_yolo_spec_builds_the_export_form(yolo) -> None:
    from edgeprune.models.detectors import YoloOutputs, to_ultralytics

    assert isinstance(yolo, YoloOutputs) and yolo.head.nc == 10
    x = torch.randn(2, 3, 64, 64)
    boxes, scores = yolo(x)
    assert boxes.shape == (2, 64, 84) and scores.shape == (2, 10, 84)  # 8x8 + 4x4 + 2x2 anchors
    yolo.train()
    assert [tuple(o.shape) for o in yolo(x)] == [(2, 64, 84), (2, 10, 84)]  # the same form in training
    yolo.eval()
    assert set(yolo.state_dict()) == set(to_ultralytics(yolo).state_dict())  # Ultralytics' own parameter names


def test_task_loss_metric_and_agreement_on_yolo(yolo) -> None:
    task = resolve_task(TaskSpec(kind="detection"))
    x = torch.rand(4, 3, 64, 64)
    targets = torch.full((4, 8, 5), -1.0)
    targets[:, 0] = torch.tensor([2.0, 0.5, 0.5, 0.3, 0.4])
    with pytest.raises(Exception, match="has not seen its detector"):
        task.loss(yolo(x), targets)
    task.see(yolo, x)
    yolo.train()
    loss = task.loss(yolo(x), targets)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0 and yolo.model[0].conv.weight.grad.abs().sum() > 0
    yolo.zero_grad(set_to_none=True)
    yolo.eval()
    with torch.no_grad():
        out = yolo(x)
    scorer = task.scorer()
    for part in (slice(0, 2), slice(2, 4)):  # one split in two batches: accumulated, computed once
        scorer.update(tuple(o[part] for o in out), targets[part])
    assert 0.0 <= scorer.compute() <= 100.0 and len(scorer.truth) == len(scorer.preds) == 4
    assert task.agreement(out, out) == pytest.approx(100.0, abs=0.5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ultralytics:yolo11n.pt", "a .pt checkpoint is a pickle"),
        ("ultralytics:../mine.yaml", "bundled model configs"),
        ("ultralytics:yolov10n.yaml", "end-to-end"),
        ("torchvision:fasterrcnn_resnet50_fpn", "single-stage heads"),
    ],
)
def test_detector_specs_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        build_model(ModelSpec(spec, num_classes=10, in_channels=3))


def test_reading_an_ultralytics_checkpoint_needs_an_explicit_opt_in(tmp_path) -> None:
    from edgeprune.models.detectors import read_ultralytics_checkpoint

    path = tmp_path / "best.pt"
    path.write_bytes(b"not read")
    with pytest.raises(SpecError, match="allow_pickle=True"):
        read_ultralytics_checkpoint(path)


def test_ultralytics_is_not_imported_by_the_product() -> None:
    """Ultralytics (AGPL-3.0) is a dev/test dependency: importing edgeprune and its detector modules and resolving
    the detection task never import it."""
    import subprocess
    import sys

    code = (
        "import sys, edgeprune, edgeprune.models.detectors, edgeprune.task.detection, edgeprune.data.detection\n"
        "from edgeprune.task import TaskSpec, resolve_task\n"
        "resolve_task(TaskSpec(kind='detection'))\n"
        "assert 'ultralytics' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-500:]
