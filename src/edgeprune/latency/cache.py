"""On-disk cache of micro-model latencies: one JSON file per target fingerprint, micro-model signature -> ms.

The file is data (JSON), validated on load; a wrong fingerprint or a malformed entry raises an error naming the
file. Writes merge with what is on disk (another process may have added entries) and replace it atomically.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgeprune.atomic import read_json, write_json
from edgeprune.cache import cache_dir
from edgeprune.errors import EdgepruneError

SCHEMA = "edgeprune.latency.table/1"


class LatencyCache:
    """Measured micro-model latencies for one target, in ``directory`` (None: ``$EDGEPRUNE_CACHE/latency``, or in
    memory only when caching is off)."""

    def __init__(self, directory: str | Path | None, fingerprint: dict[str, Any], key: str) -> None:
        directory = directory if directory is not None else cache_dir("latency")
        self.path = Path(directory) / f"{key}.json" if directory is not None else None
        self.fingerprint = fingerprint
        self.entries: dict[str, float] = self._read() if self.path is not None and self.path.is_file() else {}

    def _read(self) -> dict[str, float]:
        assert self.path is not None
        data = read_json(self.path, "latency cache")
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise EdgepruneError(f"latency cache {self.path}: field 'schema' is not {SCHEMA!r}")
        if data.get("fingerprint") != self.fingerprint:
            raise EdgepruneError(f"latency cache {self.path}: field 'fingerprint' does not match this target")
        entries = data.get("entries")
        if not isinstance(entries, dict):
            raise EdgepruneError(f"latency cache {self.path}: field 'entries' is not an object")
        for sig, ms in entries.items():
            if not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms < 0:
                raise EdgepruneError(f"latency cache {self.path}: entry {sig[:80]!r} is not a latency in ms")
        return {str(k): float(v) for k, v in entries.items()}

    def get(self, signature: str) -> float | None:
        return self.entries.get(signature)

    def __contains__(self, signature: str) -> bool:
        return signature in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def update(self, measured: dict[str, float]) -> None:
        """Add ``measured`` and write the file (merged with entries another process stored meanwhile)."""
        self.entries.update(measured)
        if self.path is None:
            return
        on_disk = self._read() if self.path.is_file() else {}
        self.entries = {**on_disk, **self.entries}
        write_json(self.path, {"schema": SCHEMA, "fingerprint": self.fingerprint, "entries": self.entries})
