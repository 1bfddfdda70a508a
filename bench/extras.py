"""The figures `make bench` reports without asserting them (targets in parentheses)."""

from __future__ import annotations


def run_all() -> None:
    pass
