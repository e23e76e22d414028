"""The house: every module imports only its own layer or the layers below it (docs/DESIGN.md draws them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "edgeprune"

# bottom to top; a top-level module or package of edgeprune belongs to exactly one layer
LAYERS: list[tuple[str, set[str]]] = [
    ("core", {"errors", "atomic", "manifest", "logs", "progress", "formats", "hashing", "cache", "paths", "userload",
              "config", "versions"}),
    ("data & models & task", {"data", "models", "task"}),
    ("graph & importance", {"graph", "importance"}),
    ("prune", {"prune", "sparsity"}),
    ("sensitivity", {"sensitivity"}),
    ("finetune", {"finetune"}),
    ("baseline", {"baseline"}),
    ("planning", {"planning"}),
    ("export", {"export"}),
    ("bench", {"bench"}),
    ("latency", {"latency"}),
    ("embedded", {"embedded"}),
    ("report", {"report"}),
    ("pipeline", {"pipeline"}),
    ("commands", {"commands", "cli", "__main__", "__init__"}),
]  # fmt: skip
RANK = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}


def _top(module: str) -> str:
    """``edgeprune.prune.apply`` -> ``prune``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every edgeprune import in ``path``, function-level imports included."""
    tree = ast.parse(path.read_text())
    package = ".".join(("edgeprune", *path.relative_to(SRC).with_suffix("").parts))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("edgeprune")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.split(".")[: -node.level] if path.name != "__init__.py" else package.split(".")
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module.startswith("edgeprune"):
                found.append((node.lineno, module))
    return found


def _source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    tops = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in _source_files()}
    assert tops - set(RANK) == set(), "add new top-level modules to LAYERS (and to docs/DESIGN.md)"


@pytest.mark.parametrize("path", _source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_look_down(path: Path) -> None:
    own = path.relative_to(SRC).parts[0].removesuffix(".py")
    upward = [
        f"line {line}: {module} ({LAYERS[RANK[_top(module)]][0]} is above {LAYERS[RANK[own]][0]})"
        for line, module in _imports(path)
        if module != "edgeprune" and RANK[_top(module)] > RANK[own]
    ]
    assert not upward, f"{path.relative_to(SRC)} imports upward: {upward}"


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = SRC / "graph" / "_layer_probe_tmp.py"
    bad.write_text("from edgeprune.export import export_model\n")
    try:
        with pytest.raises(AssertionError, match="imports upward"):
            test_imports_look_down(bad)
    finally:
        bad.unlink()
