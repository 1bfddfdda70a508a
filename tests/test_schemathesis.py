"""schemathesis against the mock in-process: each API's served document, every phase, bounded.

The settings are `schemathesis.toml`'s, as for `make schemathesis`; here the examples are
fewer and the run is seeded and derandomized. The app runs on a manual clock where jobs end at
once and a share of them fail, so the contract's links reach success and conflict answers
alike. Every answer also goes through the suite's own conformance check.

A second look per API: every status code its contract documents was answered during the run,
or by replaying a request of the run with a key the server refuses (403) or a scenario header
it does not know (400), or carries `x-mock-reachable` (false: only as an injected fault; a
string: how to reach it).
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import contracts
from mockserver import ServerConfig, create_app
from mockserver.apis import SERVICES
from tests.conftest import ConformanceCheck

SETTINGS = Path(__file__).parent.parent / "schemathesis.toml"
MAX_EXAMPLES = 25  # per operation and phase: the whole file stays well under a minute
KEY = "schemathesis-key"
REFUSED = "refused-key"
AUTH = {  # the `-H` of `make schemathesis`, with the key left open
    "neuralanalog": ("X-API-Key", "{key}"),
    "camb": ("x-api-key", "{key}"),
    "neurolinker": ("Authorization", "Bearer nl_{key}"),
    "neuraldraft": ("Authorization", "Bearer ndsk_test_{key}"),
}
DOCUMENTS = {
    "neuralanalog": "/neuralanalog/openapi.json",
    "camb": "/camb/apis/openapi.json",
    "neurolinker": "/neurolinker/openapi.json",
    "neuraldraft": "/neuraldraft/openapi.json",
}


def auth(api: str, key: str) -> dict[str, str]:
    name, value = AUTH[api]
    return {name: value.format(key=key)}


def token(api: str, key: str) -> str:
    """The key as the server's config names it (a bearer token without `Bearer `)."""
    return next(iter(auth(api, key).values())).removeprefix("Bearer ")


@dataclass
class Sent:
    """One request of the run, kept to be sent again with one thing changed."""

    method: str
    path: str
    query: bytes
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Traffic:
    """ASGI wrapper: which status each operation answered, and one request per operation."""

    app: ASGIApp
    contract: contracts.Contract
    answered: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    example: dict[str, Sent] = field(default_factory=dict)  # a 2xx one when there is one

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        status = 0

        async def keep_body() -> Message:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def keep_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, keep_body, keep_status)
        found = self.contract.operation(scope["method"], scope.get("state", {}).get("api_path", ""))
        if found is None:
            return
        operation_id = found[0].id
        self.answered[operation_id].add(str(status))
        kept = self.example.get(operation_id)
        if kept is None or (_success(status) and not _success(kept.status)):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.example[operation_id] = Sent(
                scope["method"], scope["path"], scope["query_string"], headers, bytes(body), status
            )


def _success(status: int) -> bool:
    return 200 <= status < 300


def settings(api: str) -> SchemathesisConfig:
    with open(SETTINGS, "rb") as handle:
        data = tomllib.load(handle)
    data["seed"] = 20_240_601
    data["headers"] = auth(api, KEY)
    data["generation"] = {
        **data.get("generation", {}),
        "max-examples": MAX_EXAMPLES,
        "database": "none",  # no examples carried over from earlier runs: same run every time
        "deterministic": True,
    }
    return SchemathesisConfig.from_dict(data)


def failures_of(stream: Any) -> list[str]:
    """Every failed check and engine error of a run, with a curl line to reproduce it."""
    found: list[str] = []
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.status == Status.FAILURE and node.failure_info is not None:
                        failure = node.failure_info.failure
                        found.append(
                            f"{event.recorder.label}: {node.name}: {failure.title}\n"
                            f"    {failure.message.strip()[:600]}\n"
                            f"    {node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            found.append(f"error in {event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal error: {event.exception!r}")
    return sorted(set(found))


def replay(client: TestClient, sent: Sent, **headers: str) -> None:
    wanted = {k: v for k, v in sent.headers.items() if k != "content-length"}
    wanted.update({name.lower(): value for name, value in headers.items()})  # ASGI names: lower
    client.request(
        sent.method,
        sent.path + (f"?{sent.query.decode('latin-1')}" if sent.query else ""),
        headers=wanted,
        content=sent.body,
    )


def unreached(contract: contracts.Contract, answered: dict[str, set[str]]) -> list[str]:
    missing = []
    for operation in contract.operations:
        for code, response in operation.spec["responses"].items():
            marked = "x-mock-reachable" in contract.resolve(response)
            if code not in answered[operation.id] and not marked and code != "default":
                missing.append(f"{operation.id} {code}")
    return missing


@pytest.mark.parametrize("api", contracts.APIS)
def test_schemathesis_finds_nothing_and_every_status_is_reached(api: str) -> None:
    if api not in SERVICES:
        pytest.skip(f"the {api} service is not registered in mockserver.apis yet")
    config = ServerConfig(
        clock="manual",
        seed=7,
        duration_scale=0,  # jobs end at once: links reach results and downloads
        failure_rate=0.3,  # and some fail: links reach the conflicts of a failed source
        keys={token(api, REFUSED): {"status": 403}},
    )
    app = create_app(config)
    check = ConformanceCheck(app)
    traffic = Traffic(check, contracts.load(api))

    schema = schemathesis.openapi.from_asgi(DOCUMENTS[api], traffic, config=settings(api))
    found = failures_of(from_schema(schema).execute())
    assert not found, f"schemathesis found {len(found)} problems:\n" + "\n".join(found)

    with TestClient(traffic) as client:  # the answers a plain request alone does not get
        for sent in traffic.example.values():
            replay(client, sent, **auth(api, REFUSED))
            if _success(sent.status):
                replay(client, sent, **{"X-Mock-Scenario": "no-such-outcome"})
    check.assert_clean()
    missing = unreached(traffic.contract, traffic.answered)
    assert not missing, (
        "documented answers nothing reached; reach them or mark them `x-mock-reachable` "
        "(false: injected faults only; a string: how to reach it):\n  " + "\n  ".join(missing)
    )
