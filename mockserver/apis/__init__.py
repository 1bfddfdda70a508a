"""The emulated APIs, found through the `mockserver.apis` entry-point group.

An API is one `ApiService` subclass: its class attributes declare everything the kit needs
(name, mount, hosts, base path, auth header and key format, outcome words, contract file,
strategies module, schemathesis settings), and everything else reads them from here. The four
built-in APIs are registered in this distribution's own metadata exactly as a user's package
registers its own (see docs/adding-an-api.md):

    [project.entry-points."mockserver.apis"]
    myapi = "myapi.service:MyApi"
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockserver.service import ApiService

GROUP = "mockserver.apis"


class UnknownApi(KeyError):
    """No installed distribution registers an API of that name."""

    def __str__(self) -> str:
        return str(self.args[0])


@cache
def _registered() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        found.setdefault(point.name, point)  # the first on sys.path wins, as for imports
    if not found:
        raise RuntimeError(
            f"no API is registered in the {GROUP!r} entry-point group: install the package "
            "(pip install -e .) so that its metadata is on the path"
        )
    return found


def names() -> tuple[str, ...]:
    """The names of the installed APIs, in the order their distributions list them."""
    return tuple(_registered())


@cache
def service_class(name: str) -> type[ApiService]:
    """The `ApiService` subclass registered as `name` (imported on first use)."""
    from mockserver.service import ApiService

    point = _registered().get(name)
    if point is None:
        raise UnknownApi(f"unknown API {name!r}; known: {', '.join(names())}")
    found = point.load()
    if not (isinstance(found, type) and issubclass(found, ApiService)):
        raise TypeError(f"entry point {point.value!r} ({GROUP}) is not an ApiService subclass")
    if found.name != name:
        raise TypeError(f"{point.value} declares name {found.name!r}, registered as {name!r}")
    return found


def services() -> dict[str, type[ApiService]]:
    """Every installed API's class, by name."""
    return {name: service_class(name) for name in names()}
