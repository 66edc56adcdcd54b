"""Competitors run side by side with fastproc (`python -m benchmarks --compare NAME`)."""
