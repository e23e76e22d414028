import subprocess
import sys

import pytest

import edgeprune


def test_import_is_light():
    code = "import sys, edgeprune; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("name", edgeprune.__all__)
def test_public_names_resolve(name: str):
    assert getattr(edgeprune, name) is not None


def test_unknown_name():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        edgeprune.nope  # noqa: B018


def test_cli_loads_only_the_chosen_command():
    code = (
        "import sys; from edgeprune.commands.main import main;"
        " rc = main(['deploy', '--target', 'nope']); print(rc, 'torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["2", "False"]
    assert "unknown target 'nope'" in proc.stderr
