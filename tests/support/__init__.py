"""Helpers the tests share that are not pytest fixtures (those are in tests/conftest.py)."""
