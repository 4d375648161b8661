"""Benchmarks: each module runs as ``python -m bench NAME`` and writes its results to docs/benchmarks.md."""
