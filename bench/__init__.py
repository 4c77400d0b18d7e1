"""Benchmarks: each `bench/bench_*.py` has `run() -> list[dict]`; `make bench` prints them as one table."""
