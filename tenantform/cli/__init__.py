"""The command line: invoke task modules (thin: parse arguments, call the orchestration, print).

The collection root is the top-level tasks.py. This package may import the orchestration (the
rest of tenantform/); nothing else in tenantform/ imports it (import-linter, pyproject.toml).
"""
