"""Benchmarks: scripts that measure, run as `python -m bench.<name>`; not tests."""
