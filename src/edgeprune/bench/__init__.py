"""Latency measurement: a standalone runner script, a local subprocess harness, statistics."""
