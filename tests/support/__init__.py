"""Helpers the tests share that are not pytest fixtures (those are in tests/conftest.py): the
repository's paths, a private Ray cluster, fresh interpreters, MLflow read-backs, float
tolerances, a local asset server, and the tests' touches of Ray's private API."""
