"""Benchmark harness for the 8x8 provider: ``python -m benchmarks.run`` (``make bench``); see README.md."""
