"""The suite's models: each architecture unpruned and pruned to a MACs budget per ``round_to``, exported and cached.

Artifacts are cached under ``build/`` keyed by what determines them: the pruned model's weights and shapes,
the input shape, the format and a fingerprint of the exporter source and converter versions. The bisected
uniform ratio is cached by the unpruned weights, ``round_to``, the budget and the torch-pruning version, and
trusted only if pruning at that ratio still gives the cached MACs (else it is bisected again). So a re-run
rebuilds nothing, while a change to the pruning outcome or the export code rebuilds what it touches: a
regression suite that kept stale artifacts would miss the regressions it exists to catch.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

import edgeprune
from edgeprune.atomic import write_json
from edgeprune.errors import EdgepruneError
from edgeprune.models import ModelSpec, build_model
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting
from edgeprune.prune import count_macs_params

SRC = Path(edgeprune.__file__).resolve().parent
EXPORT_CODE = ("export",)
EXPORT_SKIP = ("cli.py",)  # not on the export path
PRUNE_PACKAGES = ("torch", "torch-pruning")
EXPORT_PACKAGES = ("torch", "onnx", "onnxscript", "litert-torch", "ai-edge-litert", "onnxruntime")
FORMATS = {"onnxruntime": "onnx", "litert": "tflite"}  # runtime -> export format
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite"}


@dataclass(frozen=True)
class Arch:
    """One architecture of the suite: model spec, input shape, and whether it is the trained default."""

    name: str
    spec: ModelSpec
    input_shape: tuple[int, ...]
    trained: bool = False
    runs_scale: float = 1.0  # fraction of the timed runs this (slow) model gets; never below the suite minimum
    # fresh processes beyond the suite's --repeats: a 0.13 ms model at 2 threads varied up to 20% between
    # processes here (3 repeats left the gate a ~25% noise bound), and its processes take ~1 s each
    extra_repeats: int = 0


def _tv(name: str, runs_scale: float = 1.0) -> Arch:
    return Arch(
        name, ModelSpec(f"torchvision:{name}", num_classes=1000, in_channels=3), (1, 3, 224, 224), runs_scale=runs_scale
    )


ARCHS: dict[str, Arch] = {
    "default": Arch("default", ModelSpec("edgeprune:default"), (1, 1, 28, 28), trained=True, extra_repeats=4),
    "mobilenet_v2": _tv("mobilenet_v2"),
    "mobilenet_v3_small": _tv("mobilenet_v3_small"),
    "resnet18": _tv("resnet18", runs_scale=0.6),
    "efficientnet_b0": _tv("efficientnet_b0"),
}


@dataclass
class Variant:
    """One model of an architecture: ``unpruned`` or ``r<round_to>`` (pruned to the budget)."""

    name: str
    round_to: int | None
    ratio: float
    macs: int
    params: int
    artifacts: dict[str, Path] = field(default_factory=dict)  # export format -> file
    errors: dict[str, str] = field(default_factory=dict)  # export format -> why it failed

    def to_dict(self, root: Path | None = None) -> dict:
        def rel(p: Path) -> str:
            return str(p.relative_to(root)) if root and p.is_relative_to(root) else str(p)

        return {
            "round_to": self.round_to,
            "ratio": round(self.ratio, 4),
            "macs": self.macs,
            "params": self.params,
            "artifacts": {f: rel(p) for f, p in self.artifacts.items()},
            "errors": dict(self.errors),
        }


def _sha(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_fingerprint(subpackages: Iterable[str], packages: Iterable[str], skip: Iterable[str] = ()) -> str:
    """Hash of the edgeprune source under ``subpackages`` (less ``skip`` names) plus versions of ``packages``."""
    digest = hashlib.sha256()
    skip = set(skip)
    for sub in subpackages:
        for path in sorted(p for p in (SRC / sub).rglob("*.py") if p.name not in skip):
            digest.update(str(path.relative_to(SRC)).encode())
            digest.update(path.read_bytes())
    for name in packages:
        try:
            digest.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=missing".encode())
    return digest.hexdigest()[:16]


def weights_hash(model: nn.Module) -> str:
    """SHA-256 over names, full shapes, dtypes and values of the state dict."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def build_unpruned(arch: Arch) -> nn.Module:
    """The trained default (cached under build/models) or a seeded random-weight torchvision model."""
    if arch.trained:
        from edgeprune.models.pretrained import train_or_load

        from edgeprune.data import load_dataset

        model, _, _ = train_or_load(arch.spec, load_dataset("mnist5k"), 12)
        return model.eval()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(arch.spec).eval()


def example_input(arch: Arch) -> torch.Tensor:
    return torch.randn(*arch.input_shape, generator=torch.Generator().manual_seed(0))


class Cache:
    """Artifacts and bisected ratios of one architecture under ``root/<arch>``.

    An artifact is named ``<fmt>-<model key>-<export source key>``: the model key covers the pruned weights,
    input shape, format and converter versions; the source key the edgeprune export code. ``trust_cache``
    reuses an artifact of the same model key exported by older export code (fast re-runs while that code
    is being edited; a gate run should not trust).
    """

    def __init__(self, root: Path, arch: Arch, trust_cache: bool = False) -> None:
        self.dir = Path(root) / arch.name
        self.ratios_file = self.dir / "ratios.json"
        self.trust_cache = trust_cache
        self.prune_fp = code_fingerprint((), PRUNE_PACKAGES)
        self.versions_fp = code_fingerprint((), EXPORT_PACKAGES)
        self.source_fp = code_fingerprint(EXPORT_CODE, (), EXPORT_SKIP)[:8]

    def ratio_key(self, unpruned_hash: str, shape: Sequence[int], round_to: int, budget: float) -> str:
        return _sha(unpruned_hash, list(shape), round_to, budget, self.prune_fp)

    def ratios(self) -> dict:
        return json.loads(self.ratios_file.read_text()) if self.ratios_file.is_file() else {}

    def save_ratio(self, key: str, entry: dict) -> None:
        write_json(self.ratios_file, {**self.ratios(), key: entry})

    def artifact(self, model_hash: str, shape: Sequence[int], fmt: str) -> Path:
        """Where the artifact lives (or would): the exact match, else (trusting) the newest of the same model."""
        key = _sha(model_hash, list(shape), fmt, self.versions_fp)
        exact = self.dir / f"{fmt}-{key}-{self.source_fp}{SUFFIX[fmt]}"
        if exact.is_file() or not self.trust_cache:
            return exact
        older = sorted(self.dir.glob(f"{fmt}-{key}-*{SUFFIX[fmt]}"), key=lambda p: p.stat().st_mtime)
        return older[-1] if older else exact


def prune_to_budget(
    model: nn.Module, example: torch.Tensor, spec: ModelSpec, budget_macs: int, round_to: int, tol: float = 0.01
) -> tuple[float, nn.Module, int]:
    """Least uniform ratio whose pruned copy has <= ``budget_macs`` MACs: (ratio, pruned model, MACs)."""

    def prune_at(ratio: float) -> tuple[nn.Module, int]:
        pruned, _, macs = prune_uniform(model, example, ratio, round_to=round_to, spec=spec)
        return pruned, macs

    return smallest_ratio_meeting(prune_at, budget_macs, tol=tol)


def _export(model: nn.Module, example: torch.Tensor, path: Path, fmt: str) -> None:
    from edgeprune.export import export_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_model(model, example, path, fmt, "fp32", force=True)


def _export_all(
    variant: Variant,
    model: nn.Module,
    example: torch.Tensor,
    cache: Cache,
    formats: Sequence[str],
    log: Callable[[str], None],
    rebuild: bool = False,
) -> None:
    model_hash = weights_hash(model)
    for fmt in formats:
        path = cache.artifact(model_hash, example.shape, fmt)
        if rebuild or not path.is_file():
            log(f"  export {variant.name} -> {fmt}")
            try:
                _export(model, example, path, fmt)
            except EdgepruneError as exc:  # one failed export must not sink the suite: the table says why
                variant.errors[fmt] = str(exc).splitlines()[0][:300]
                continue
        variant.artifacts[fmt] = path


def build_variants(
    arch: Arch,
    cache_root: Path,
    round_tos: Sequence[int] = (1, 8, 16),
    formats: Sequence[str] = ("onnx", "tflite"),
    budget: float = 0.5,
    log: Callable[[str], None] = print,
    rebuild: bool = False,
    trust_cache: bool = False,
) -> list[Variant]:
    """``unpruned`` plus one ``r<k>`` variant per ``round_to``, each exported to ``formats`` (cached)."""
    if not 0.0 < budget < 1.0:
        raise EdgepruneError(f"MACs budget must lie in (0, 1), got {budget}")
    cache = Cache(cache_root, arch, trust_cache)
    model, example = build_unpruned(arch), example_input(arch)
    macs, params = count_macs_params(model, example)
    unpruned = Variant("unpruned", None, 0.0, macs, params)
    _export_all(unpruned, model, example, cache, formats, log, rebuild)
    variants, base_hash, known = [unpruned], weights_hash(model), {} if rebuild else cache.ratios()
    for round_to in round_tos:
        key = cache.ratio_key(base_hash, arch.input_shape, round_to, budget)
        pruned = None
        if key in known:  # trusted only while pruning at that ratio gives the same MACs as when it was bisected
            ratio = known[key]["ratio"]
            pruned, _, pruned_macs = prune_uniform(model, example, ratio, round_to=round_to, spec=arch.spec)
            if pruned_macs != known[key]["macs"]:
                log(
                    f"  {arch.name} round_to={round_to}: pruning outcome changed ({pruned_macs:,} MACs, cached "
                    f"{known[key]['macs']:,}); bisecting again"
                )
                pruned = None
        if pruned is None:
            log(f"  bisect {arch.name} round_to={round_to} to {budget:.2f}x MACs")
            ratio, pruned, pruned_macs = prune_to_budget(model, example, arch.spec, int(macs * budget), round_to)
            cache.save_ratio(key, {"round_to": round_to, "ratio": ratio, "macs": pruned_macs})
        _, pruned_params = count_macs_params(pruned, example)
        variant = Variant(f"r{round_to}", round_to, ratio, pruned_macs, pruned_params)
        _export_all(variant, pruned.eval(), example, cache, formats, log, rebuild)
        variants.append(variant)
    return variants
