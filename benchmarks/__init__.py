"""`make bench`: the benchmarks of ReflexAgent (run as `python -m benchmarks`; see docs/benchmarks.md)."""
