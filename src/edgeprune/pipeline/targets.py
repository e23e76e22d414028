"""Target files: ``targets/<name>.toml`` (or any TOML path) -> a validated :class:`edgeprune.config.Target`.

Types and ranges are checked by the config dataclasses; the names that registries own (the importance criterion,
the pruning strategy) are checked here against those registries, so a bad target fails before any work starts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from edgeprune.config import SECTIONS, Target, section_from_dict
from edgeprune.errors import ConfigError

TARGETS_DIR = Path(__file__).resolve().parents[3] / "targets"


def known_targets(directory: Path = TARGETS_DIR) -> list[str]:
    """Names of the target files shipped in ``targets/``."""
    return sorted(p.stem for p in directory.glob("*.toml"))


def _find(name_or_path: str, directory: Path) -> Path:
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConfigError(f"target file {path} does not exist")
        return path
    found = directory / f"{name_or_path}.toml"
    if "/" in name_or_path or not found.is_file():
        raise ConfigError(f"unknown target '{name_or_path}'; known targets: {', '.join(known_targets(directory))}")
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"target file {path}: invalid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"target file {path}: cannot be read ({exc})") from None


def check_names(target: Target, where: str = "target") -> Target:
    """Ask the registries whether the target's criterion and strategy exist."""
    from edgeprune.importance import known_importances
    from edgeprune.pipeline.strategies import known_strategies

    if target.prune.importance not in known_importances():
        raise ConfigError(
            f"{where}: prune.importance '{target.prune.importance}' is unknown (known: {known_importances()})"
        )
    if target.prune.method not in known_strategies():
        raise ConfigError(f"{where}: prune.method '{target.prune.method}' is unknown (known: {known_strategies()})")
    from edgeprune.pipeline.connections import sparsity_options
    from edgeprune.pipeline.embedded import check_embedded
    from edgeprune.pipeline.latency_budget import check_latency
    from edgeprune.pipeline.prepruned import check_before

    try:
        sparsity_options(target.prune)  # pattern and sparsity agree
        check_latency(target)
        check_embedded(target)
        if target.prune.when == "before":
            check_before(target)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return target


def load_target(name_or_path: str, directory: Path = TARGETS_DIR, check: bool = True) -> Target:
    """Load ``targets/<name>.toml`` or a TOML file path into a validated :class:`Target`."""
    path = _find(str(name_or_path), directory)
    raw = _read(path)
    model = raw.get("model")
    if isinstance(model, dict) and "data" in model:  # earlier target files kept the data spec under [model]
        if isinstance(raw.get("data"), dict) and "spec" in raw["data"]:
            raise ConfigError(f"{path}: model.data and data.spec both name the data; keep data.spec")
        raw = {**raw, "model": {k: v for k, v in model.items() if k != "data"}}
        raw["data"] = {**(raw.get("data") or {}), "spec": model["data"]}
    top = {k: v for k, v in raw.items() if k not in SECTIONS}
    unknown = sorted(set(top) - {"name", "description"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level field(s) {unknown}; sections: {sorted(SECTIONS)}")
    for key in ("name", "description"):
        if key in top and not isinstance(top[key], str):
            raise ConfigError(f"{path}: field '{key}' must be a string, got {top[key]!r}")
    sections = {key: section_from_dict(cls, raw.get(key, {}), f"{path}:{key}") for key, cls in SECTIONS.items()}
    try:
        target = Target(name=str(top.get("name", path.stem)), description=str(top.get("description", "")), **sections)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return check_names(target, str(path)) if check else target
