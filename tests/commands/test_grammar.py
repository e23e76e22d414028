"""One CLI grammar: every command takes the shared flags from the one set of parent parsers, with one meaning."""

from __future__ import annotations

import importlib

import pytest

from edgeprune.commands import COMMANDS
from edgeprune.commands.flags import GROUPS
from edgeprune.commands.main import build_parser

SHARED = {opt for group in GROUPS.values() for action in group._actions for opt in action.option_strings}


def _sub(name: str):
    parser = build_parser([name])
    return parser._subparsers._group_actions[0].choices[name]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_takes_shared_flags_from_the_one_parser(name: str) -> None:
    module = importlib.import_module(COMMANDS[name])
    sub = _sub(name)
    groups = ["common", *module.FLAGS]
    for group in groups:
        for action in GROUPS[group]._actions:
            assert action in sub._actions, f"{name}: shared flag {action.option_strings} is not the shared action"
    own = {opt for action in sub._actions for opt in action.option_strings if not any(
        action in GROUPS[g]._actions for g in groups)} - {"-h", "--help"}  # fmt: skip
    assert not own & SHARED, f"{name} redefines shared flag(s) {sorted(own & SHARED)}"


def test_meanings_are_the_same_everywhere() -> None:
    """--model, --checkpoint, --out, --importance come from one parent each (help text included)."""
    seen: dict[str, set[str]] = {}
    for name in COMMANDS:
        for action in _sub(name)._actions:
            for opt in action.option_strings:
                seen.setdefault(opt, set()).add(action.help or "")
    for opt in ("--model", "--checkpoint", "--out", "--data", "--importance", "--plan", "--pruned", "--device"):
        assert len(seen.get(opt, set())) == 1, f"{opt} means different things: {seen.get(opt)}"


def test_out_is_a_folder_everywhere() -> None:
    assert "folder" in GROUPS["out"]._actions[0].help or "folder" in GROUPS["out"]._actions[-2].help
    assert all("--json" not in a.option_strings for n in COMMANDS for a in _sub(n)._actions)
