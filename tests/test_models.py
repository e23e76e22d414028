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


@pytest.mark.parametrize(
    ("spec", "shape", "classes", "macs", "params"),
    [  # MLPerf Tiny v1.0 reference sizes: ResNet-8 12.5 M MACs / 78 k params, DS-CNN 2.7 M MACs at 25x5 after
        # its strided stem, MobileNetV1-0.25 at 96x96 7.5 M MACs / 0.21 M params
        ("edgeprune:resnet8", (1, 3, 32, 32), 10, 12_501_632, 77_850),
        ("edgeprune:dscnn", (1, 1, 49, 10), 12, 2_656_768, 23_180),
        ("edgeprune:mobilenet_v1_025", (1, 3, 96, 96), 2, 7_489_664, 213_586),
    ],
)
def test_mlperf_tiny_shaped_models(spec, shape, classes, macs, params):
    from edgeprune.prune import count_macs_params

    model = build_model(ModelSpec(spec, num_classes=classes, in_channels=shape[1]))
    x = torch.randn(*shape)
    assert model(x).shape == (1, classes)
    assert count_macs_params(model, x) == (macs, params)


def test_torchvision_spec_builds_with_num_classes():
    model = build_model(ModelSpec("torchvision:resnet18", num_classes=7, in_channels=3))
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonsense", "must look like one of"),
        ("edgeprune:giant", "edgeprune has no built-in model 'giant'"),
        ("torchvision:resnet19", "torchvision has no classification model 'resnet19'"),
        ("no_such_pkg.mod:make", "no module 'no_such_pkg.mod' in the working directory"),
        ("collections:nothing_here", "collections has no attribute 'nothing_here'"),
        ("missing_file.py:make", r"file missing_file\.py does not exist"),
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


USER_MODEL = """
from torch import nn


def make(num_classes=10, in_channels=1):
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.Flatten(), nn.LazyLinear(num_classes))


def broken(num_classes=10):
    raise RuntimeError("factory exploded")
"""


def test_model_from_a_file_path_and_from_the_working_directory(tmp_path: Path, monkeypatch):
    (tmp_path / "mynet.py").write_text(USER_MODEL)
    model = build_model(ModelSpec(f"{tmp_path / 'mynet.py'}:make", num_classes=3, in_channels=2))
    assert model[0].in_channels == 2
    monkeypatch.chdir(tmp_path)  # module:factory resolves from the working directory, no PYTHONPATH needed
    assert build_model(ModelSpec("mynet:make")) is not None
    with pytest.raises(SpecError, match=r"mynet.py:\d+: RuntimeError: factory exploded"):
        build_model(ModelSpec(f"{tmp_path / 'mynet.py'}:broken"))
    (tmp_path / "syntax.py").write_text("def make(:\n")
    with pytest.raises(SpecError, match=r"importing .*syntax.py failed at .*syntax.py:1: SyntaxError"):
        build_model(ModelSpec(f"{tmp_path / 'syntax.py'}:make"))


def test_wrapped_checkpoints_load_with_a_note(tmp_path: Path, edgenet, capsys):
    state = edgenet.state_dict()
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "ddp.pt")
    torch.save({"state_dict": {f"model.{k}": v for k, v in state.items()}, "epoch": 3}, tmp_path / "lightning.ckpt")
    for name in ("ddp.pt", "lightning.ckpt"):
        fresh = type(edgenet)(num_classes=10, in_channels=1, width=8)
        load_checkpoint(fresh, tmp_path / name)
        assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())
    assert "dropped the 'module.' prefix" in capsys.readouterr().err


def test_a_pickled_model_is_refused_with_how_to_save_weights(tmp_path: Path, edgenet):
    torch.save(edgenet, tmp_path / "whole.pt")
    with pytest.raises(
        EdgepruneError, match=r"never unpickles; save the weights with torch.save\(model.state_dict\(\)"
    ) as err:
        load_checkpoint(edgenet, tmp_path / "whole.pt")
    assert "weights_only=False" not in str(err.value)


def test_corrupt_safetensors_is_one_line(tmp_path: Path, edgenet):
    path = tmp_path / "w.safetensors"
    save_weights(edgenet, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(EdgepruneError, match=r"w.safetensors: not a readable .safetensors file"):
        load_checkpoint(edgenet, path)
