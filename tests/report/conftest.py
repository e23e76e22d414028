"""Fixtures of the report tests: a deploy record built here (see sample_report.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # so the tests import sample_report

from sample_report import make_report  # noqa: E402

from edgeprune.report import DeployReport  # noqa: E402


@pytest.fixture()
def report() -> DeployReport:
    return make_report()
