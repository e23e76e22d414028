"""Planning fixtures: this folder on sys.path so specs like ``planning_models:edgenet4`` resolve."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
