"""Ultralytics offline, with its settings file in a temporary folder (it writes one on import)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="edgeprune-test-ultralytics-"))
