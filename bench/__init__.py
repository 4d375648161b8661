"""Benchmarks: each module is runnable (`python -m bench.NAME`) and writes its results to docs/benchmarks.md."""
