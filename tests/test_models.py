from pathlib import Path

import pytest
import torch

from edgeprune.errors import EdgepruneError, SpecError
from edgeprune.models import ModelSpec, build_model, load_checkpoint, save_weights


def test_default_model_shape_and_kinds():
    model = build_model(ModelSpec("edgeprune:default"))
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"Conv2d", "BatchNorm2d", "Linear", "ResidualBlock", "InvertedResidual"} <= kinds
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1]
    assert depthwise, "default model must contain a depthwise conv"


def test_default_model_macs():
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(build_model(ModelSpec("edgeprune:default")), torch.randn(1, 1, 28, 28))
    assert 5e6 < macs < 2e7 and 5e4 < params < 5e5


def test_torchvision_spec_builds_with_num_classes():
    model = build_model(ModelSpec("torchvision:resnet18", num_classes=7, in_channels=3))
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonsense", "must look like one of"),
        ("edgeprune:giant", "edgeprune has no built-in model 'giant'"),
        ("torchvision:resnet19", "torchvision has no classification model 'resnet19'"),
        ("no_such_pkg.mod:make", "cannot import module 'no_such_pkg.mod'"),
        ("collections:nothing_here", "module 'collections' has no callable 'nothing_here'"),
        ("collections:OrderedDict", "not a torch.nn.Module"),
    ],
)
def test_bad_model_specs_name_the_wrong_part(spec: str, message: str):
    with pytest.raises(SpecError, match=message):
        build_model(ModelSpec(spec))


def test_checkpoint_roundtrip_and_mismatch(tmp_path: Path, edgenet):
    path = tmp_path / "w.safetensors"
    save_weights(edgenet, path)
    fresh = load_checkpoint(type(edgenet)(width=8), path)
    x = torch.randn(1, 1, 28, 28)
    assert torch.equal(fresh.eval()(x), edgenet(x))
    with pytest.raises(EdgepruneError, match=r"shape mismatch \['stem.0.weight"):
        load_checkpoint(type(edgenet)(width=16), path)
    with pytest.raises(EdgepruneError, match="does not exist"):
        load_checkpoint(edgenet, tmp_path / "missing.pt")


def test_user_factory_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "my_models.py").write_text(
        "from torch import nn\n"
        "def tiny(num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, num_classes))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model(ModelSpec("my_models:tiny", num_classes=3))
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
