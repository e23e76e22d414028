"""The README's CLI synopses are the ones --help gives: every flag a synopsis shows exists on that command, and
every flag the command requires is shown."""

from __future__ import annotations

import re
from pathlib import Path

from edgeprune.commands import COMMANDS
from edgeprune.commands.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _synopses() -> dict[str, set[str]]:
    """Command -> the flags its synopsis lines show (continuation lines included)."""
    text = README.read_text()
    block = text[text.index("## CLI\n") :]
    block = block[block.index("```bash\n") + 8 : block.index("```\n", block.index("```bash\n") + 8)]
    shown: dict[str, set[str]] = {}
    command = None
    for line in block.splitlines():
        match = re.match(r"edgeprune (\w+)", line)
        if match:
            command = match.group(1)
        assert command is not None, line
        shown.setdefault(command, set()).update(re.findall(r"(--[a-z][a-z0-9-]*)", line.split("#")[0]))
    return shown


def _options(name: str) -> tuple[set[str], set[str]]:
    sub = build_parser([name])._subparsers._group_actions[0].choices[name]
    every = {opt for action in sub._actions for opt in action.option_strings}
    required = {action.option_strings[0] for action in sub._actions if action.required}
    return every, required


def test_every_command_has_a_synopsis() -> None:
    assert set(_synopses()) == set(COMMANDS)


def test_synopses_show_only_real_flags_and_every_required_one() -> None:
    for name, shown in _synopses().items():
        every, required = _options(name)
        assert shown <= every, f"README shows {sorted(shown - every)} for `edgeprune {name}`, which --help lacks"
        assert required <= shown, f"README omits required {sorted(required - shown)} of `edgeprune {name}`"


def test_plan_shows_checkpoint() -> None:
    """A user copying the plan synopsis must see --checkpoint, or a new baseline is trained instead of theirs."""
    assert "--checkpoint" in _synopses()["plan"]
