"""Polling lifecycles: the sequence of status bodies a client may see while one job runs.

Each API's builder lives in the strategies module its declaration names
(`ApiService.strategies`): which object types it polls through which operation
(`STATUS_OPERATIONS`), and `lifecycle(object_type)`. This one finds and picks them.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

from hypothesis.strategies import SearchStrategy

from mockserver import apis


@cache
def strategies_of(api: str) -> ModuleType | None:
    """The lifecycle module `api` declares (None for an API that declares none)."""
    module = apis.service_class(api).strategies
    return importlib.import_module(module) if module else None


def status_operations() -> dict[str, dict[str, str]]:
    """For each API with lifecycles: object type -> the operationId that polls it."""
    return {
        api: dict(module.STATUS_OPERATIONS)
        for api in apis.names()
        if (module := strategies_of(api)) is not None
    }


def lifecycle_types() -> dict[str, tuple[str, ...]]:
    """For each API with lifecycles: the object types `lifecycles` draws."""
    return {api: tuple(ops) for api, ops in status_operations().items()}


def status_operation(api: str, object_type: str) -> str:
    """The operationId whose 200 answer `lifecycles(api, object_type)` draws."""
    try:
        return status_operations()[api][object_type]
    except KeyError:
        known = ", ".join(f"{a}: {', '.join(t)}" for a, t in lifecycle_types().items())
        raise KeyError(f"no lifecycle for {api!r} {object_type!r}; known: {known}") from None


def lifecycles(api: str, object_type: str) -> SearchStrategy[list[dict[str, Any]]]:
    """Sequences of status bodies one client may see while polling one job: states only move
    forward, IDs and creation times stay put, later timestamps never go back, and exactly one
    terminal state, the last."""
    status_operation(api, object_type)
    module = strategies_of(api)
    assert module is not None
    strategy: SearchStrategy[list[dict[str, Any]]] = module.lifecycle(object_type)
    return strategy
