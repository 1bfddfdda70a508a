"""schemathesis settings for testing the mock against its own contracts, built from the APIs'
declarations (`ApiService.schemathesis`): `make schemathesis` (the CLI against a live server)
and the suite's in-process run read the same settings.

`python -m mockserver.schemathesis_config` writes them as a schemathesis.toml.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from mockserver import apis

# Every check runs, except where a comment says why it cannot hold for this mock.
SHARED: dict[str, Any] = {
    # The mock accepts any non-empty key: a key names a tenant (its own jobs), it is not
    # looked up in a list of issued keys. A key schemathesis makes up is therefore a valid key,
    # and another tenant's IDs are 404 by design; only keys the server config marks are refused.
    "checks": {"ignored_auth": {"enabled": False}},
}


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """`{"checks.x.enabled": False}` as the nested tables TOML's dotted keys stand for."""
    result: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, last = dotted.split(".")
        table = result
        for part in parents:
            table = table.setdefault(part, {})
        table[last] = value
    return result


def config(names: Iterable[str] | None = None) -> dict[str, Any]:
    """The settings of the named APIs (all installed ones by default), one project each, named
    by its document's `info.title` as schemathesis matches them."""
    from mockserver import contracts

    projects = []
    for name in apis.names() if names is None else names:
        service = apis.service_class(name)
        title = contracts.load(name).document["info"]["title"]
        operations = [nested(entry) for entry in service.schemathesis]
        projects.append({"title": title, "operations": operations})
    return {**SHARED, "project": projects}


def to_toml(settings: dict[str, Any]) -> str:
    """`config()` as TOML: tables of plain values, and the `[[project]]` array."""
    lines: list[str] = []

    def table(header: str, data: dict[str, Any], prefix: str = "") -> None:
        plain = {k: v for k, v in data.items() if not isinstance(v, dict | list) or _scalars(v)}
        if header:
            lines.append(header)
        lines.extend(f"{prefix}{k} = {json.dumps(v)}" for k, v in plain.items())
        for key, value in data.items():
            if isinstance(value, dict):
                table("", value, f"{prefix}{key}.")

    for key, value in settings.items():
        if isinstance(value, dict):
            table(f"[{key}]", value)
            lines.append("")
    for project in settings.get("project", []):
        table("[[project]]", {"title": project["title"]})
        lines.append("")
        for operation in project["operations"]:
            table("[[project.operations]]", operation)
            lines.append("")
    return "\n".join(lines)


def _scalars(value: list[Any] | dict[str, Any]) -> bool:
    return isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)


def main() -> None:
    sys.stdout.write(to_toml(config()))


if __name__ == "__main__":
    main()
