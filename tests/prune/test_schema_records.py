"""plan.json's informational ``planning`` section holds what every strategy records: auto's candidates, the default
method's recovery recipe, Vela-planned latency and device-memory budgets; each is read back (``prune --plan``)."""

from __future__ import annotations

import math

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.prune.schema import RECORD_DEPTH, check_plan

ATTEMPT = {
    "search_fraction": 0.5,
    "predicted_fraction": 0.498,
    "measured_ms": 0.197,
    "measured_fraction": 0.498,
    "macs": 5584640,
    "miss": -0.003,
}
NPU_LATENCY = {
    "budget": {"kind": "latency", "latency_ms": None, "speedup": 2.0, "tolerance": 0.03, "fraction": 0.5},
    "source": "vela",
    "target": {
        "accelerator": "Ethos_U55_128",
        "system_config": "Ethos_U55_High_End_Embedded",
        "memory_mode": "Shared_Sram",
        "vela": "5.2.0",
    },
    "base_ms": 0.395,
    "predicted_ms": 0.197,
    "measured_ms": 0.197,
    "measured_fraction": 0.498,
    "measured_speedup": 2.005,
    "within_tolerance": True,
    "macs": 5584640,
    "base_macs": 10013312,
    "macs_reduction": 1.793,
    "params": 1000,
    "base_params": 2000,
    "damage": "magnitude x MACs share (no scan)",
    "probes": 70,
    "converted": 0,
    "table_error": 0.0001,
    "attempts": [ATTEMPT],
}
MEMORY = {
    "budget": {"kind": "memory", "field": "arena_kib", "kib": 8.0},
    "tool": "TFLM arena",
    "base_kib": 37.0,
    "predicted_kib": 7.9,
    "measured_kib": 7.95,
    "fraction": 0.2149,
    "met": True,
    "attempts": [{"search_fraction": 0.4, "predicted_bytes": 8100.0, "measured_bytes": 8140.0, "macs": 1}],
}


def _plan(planning: dict) -> dict:
    return {"version": 1, "input_shape": [1, 1, 28, 28], "groups": [], "planning": planning}


@pytest.mark.parametrize(
    "planning",
    [
        {
            "method": "sensitivity",
            "auto": {"uniform": 91.2, "sensitivity": 93.4},
            "recovery": {"lr": 0.0028, "batch_size": 32, "rule": "lr / sqrt(kept)"},
        },
        {"method": "uniform", "reached": {"kind": "latency", "fraction": 0.498}, "latency": NPU_LATENCY},
        {"method": "auto", "reached": {"kind": "memory", "fraction": 0.2149}, "memory": MEMORY},
        {"when": "before", "ratio": 0.3, "init_score": "snip", "epochs": 14, "recipe": {"lr": 0.002}},
    ],
    ids=["auto-recovery", "npu-latency", "memory", "before"],
)
def test_every_strategy_record_reads_back(planning: dict) -> None:
    check_plan(_plan(planning))


def test_records_stay_plain_data() -> None:
    deep: dict = {}
    node = deep
    for _ in range(RECORD_DEPTH + 1):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(EdgepruneError, match=r"planning\.memory\.x\.x"):
        check_plan(_plan({"memory": deep}))
    with pytest.raises(EdgepruneError, match=r"planning\.auto\.uniform"):
        check_plan(_plan({"auto": {"uniform": math.inf}}))
