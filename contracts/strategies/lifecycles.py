"""Polling lifecycles: the sequence of status bodies a client may see while one job runs.

Each API's builder lives in its own module; this one says which status operation each object
type is polled through and picks the builder.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from hypothesis.strategies import SearchStrategy

from mockserver.contracts.strategies import camb, neuralanalog, neuraldraft, neurolinker

# One module per API: which object types it polls through which operation, and the builder.
BY_API: dict[str, ModuleType] = {
    "neuralanalog": neuralanalog,
    "camb": camb,
    "neurolinker": neurolinker,
    "neuraldraft": neuraldraft,
}
STATUS_OPERATIONS: dict[str, dict[str, str]] = {
    api: module.STATUS_OPERATIONS for api, module in BY_API.items()
}
LIFECYCLE_TYPES: dict[str, tuple[str, ...]] = {
    api: tuple(ops) for api, ops in STATUS_OPERATIONS.items()
}


def status_operation(api: str, object_type: str) -> str:
    """The operationId whose 200 answer `lifecycles(api, object_type)` draws."""
    try:
        return STATUS_OPERATIONS[api][object_type]
    except KeyError:
        known = ", ".join(f"{a}: {', '.join(t)}" for a, t in LIFECYCLE_TYPES.items())
        raise KeyError(f"no lifecycle for {api!r} {object_type!r}; known: {known}") from None


def lifecycles(api: str, object_type: str) -> SearchStrategy[list[dict[str, Any]]]:
    """Sequences of status bodies one client may see while polling one job: states only move
    forward, IDs and creation times stay put, later timestamps never go back, and exactly one
    terminal state, the last."""
    status_operation(api, object_type)
    return BY_API[api].lifecycle(object_type)
