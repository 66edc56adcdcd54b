"""The benchmark harness: `python -m benchmarks` (or `fastproc bench`)."""
