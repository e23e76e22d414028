"""run_script: the exit codes and the one-line message of the benchmark scripts."""

from __future__ import annotations

import pytest

from edgeprune.errors import ConfigError, run_script


def test_run_script_passes_the_exit_code() -> None:
    with pytest.raises(SystemExit) as exc:
        run_script(lambda: 1)
    assert exc.value.code == 1


def test_run_script_turns_a_user_error_into_one_line_and_exit_2(capsys) -> None:
    def main() -> int:
        raise ConfigError("targets/x.toml [bench] runs: must be >= 1")

    with pytest.raises(SystemExit) as exc:
        run_script(main)
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: targets/x.toml [bench] runs: must be >= 1\n"
