"""A local twin of four asynchronous job APIs, on a virtual clock.

`create_app` and `ServerConfig` are imported on first use: the pytest plugin lives under this
package, so every pytest run of a project that installs the kit imports it, and the app
(its audio rendering, contracts and pages) takes a third of a second to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.app import create_app
    from mockserver.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]

_HOMES = {"create_app": "mockserver.app", "ServerConfig": "mockserver.config"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
