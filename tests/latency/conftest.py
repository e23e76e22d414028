"""The real loopback OpenSSH server of the bench tests, reused for tables measured on a 'remote board'."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_conftest", Path(__file__).parents[1] / "bench" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_bench = sys.modules.setdefault("bench_conftest", importlib.util.module_from_spec(_spec))
if not hasattr(_bench, "sshd"):
    _spec.loader.exec_module(_bench)
sshd = _bench.sshd
