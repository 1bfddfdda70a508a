"""Payload variety: a 2xx JSON answer replaced by another payload the contract allows, drawn
from the contract's Hypothesis strategies with a seed, so a client meets what the contract
permits and not only what the mock happens to say."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio
from starlette.types import Message, Send

from mockserver.contracts.document import Contract
from mockserver.contracts.validate import check
from mockserver.faults.rules import Call, FaultRule

if TYPE_CHECKING:
    from mockserver.service import ApiService
    from mockserver.state import MockState

log = logging.getLogger("mockserver")

MESSAGE_KEY = re.compile(r"(^|_)(message|details?|description|reason|error|note)s?$")


class Variety:
    """Replaces the 2xx JSON answer of one request with a contract-valid variant.

    `faithful` (the default) keeps everything a correct client may rely on: IDs, links,
    timestamps, numbers, flags, nested objects, which keys are present and any terminal state
    word. It varies what the contract leaves open: a running state word becomes another
    running word of the same enum (Neural Analog `in_progress` -> `processing`), messages
    become other strings, and the key order changes. `replace` serves any payload the contract
    allows. The n-th varied answer of a tenant comes from seed (rule seed or server seed,
    API, operation, n), so the same seed and requests give the same answers.
    """

    def __init__(self, state: MockState, service: ApiService, call: Call, rule: FaultRule):
        self.state = state
        self.service = service
        self.call = call
        self.rule = rule

    def wrap(self, send: Send) -> Send:
        start: Message | None = None
        chunks = bytearray()

        async def varied(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and self._eligible(message):
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            # a draw may take seconds (Hypothesis's first builds its Unicode table): the event
            # loop serves other requests meanwhile
            body = await anyio.to_thread.run_sync(self.vary, start["status"], bytes(chunks))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return varied

    def _eligible(self, start: Message) -> bool:
        status = start["status"]
        content_type = dict(start.get("headers", [])).get(b"content-type", b"").decode("latin-1")
        media = self.call.operation.response_media(status, content_type)
        return 200 <= status < 300 and media is not None and "json" in media[0]

    def vary(self, status: int, raw: bytes) -> bytes:
        """The variant of `raw`, or `raw` itself when the rule is used up or no variant fits."""
        call, rule = self.call, self.rule
        try:
            real = json.loads(raw)
        except ValueError:
            return raw
        if rule.payload == "faithful" and not isinstance(real, dict):
            return raw
        count = self.state.faults.fire(rule, call.api, call.tenant, self.state.now())
        if count is None:
            return raw
        base = rule.seed if rule.seed is not None else self.state.faults.seed
        seed = _seed(base, call.api, call.operation.id, count)
        media = call.operation.response_media(status, "application/json")
        assert media is not None
        schema = media[1].get("schema", {})
        try:
            value = self._draw(schema, status, real, seed)
            if check(call.operation, schema, value, "body"):
                return raw  # never serve what the contract refuses
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        except Exception:  # a schema the strategies cannot draw from: serve the real answer
            log.warning("no payload variety for %s %s", call.api, call.operation.id, exc_info=True)
            return raw

    def _draw(self, schema: dict[str, Any], status: int, real: Any, seed: int) -> Any:
        from mockserver.contracts import (
            strategies,  # Hypothesis is loaded only when a variety fires
        )

        api, operation = self.call.api, self.call.operation
        if self.rule.payload == "replace":
            strategy = strategies.responses(api, operation.id, status)
        else:
            pinned = faithful_schema(self.service.contract, schema, real, self.service.outcomes)
            strategy = strategies.from_schema(api, pinned)
        return strategies.example(strategy, seed)


def faithful_schema(
    contract: Contract, schema: dict[str, Any], real: dict[str, Any], outcomes: Iterable[str]
) -> dict[str, Any]:
    """`schema` narrowed to the variants of `real` a correct client must handle alike."""
    terminal = set(outcomes)
    declared = _properties(contract, schema)
    pins: dict[str, Any] = {name: False for name in declared if name not in real}
    for name, value in real.items():
        prop = declared.get(name, {})
        words = [w for w in prop.get("enum", []) if isinstance(w, str)]
        if isinstance(value, str) and terminal & set(words) and value not in terminal:
            others = [w for w in words if w not in terminal and w != value]
            pins[name] = {"enum": others or [value]}
        elif isinstance(value, str) and MESSAGE_KEY.search(name) and _free_text(prop):
            pins[name] = {"type": "string"}
        else:
            pins[name] = {"const": value}
    narrowing = {"type": "object", "properties": pins, "required": list(real)}
    return {"allOf": [schema, narrowing]}


def _properties(contract: Contract, schema: Any) -> dict[str, dict[str, Any]]:
    """Top-level property schemas, resolved, from the schema and its allOf/oneOf/anyOf."""
    schema = contract.resolve(schema)
    if not isinstance(schema, dict):
        return {}
    found = {name: contract.resolve(prop) for name, prop in schema.get("properties", {}).items()}
    for keyword in ("allOf", "oneOf", "anyOf"):
        for branch in schema.get(keyword, []):
            for name, prop in _properties(contract, branch).items():
                found.setdefault(name, prop)
    return found


def _free_text(prop: dict[str, Any]) -> bool:
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    return "string" in types and not {"enum", "const", "format", "pattern"} & set(prop)


def _seed(base: int, *parts: Any) -> int:
    digest = hashlib.sha256(":".join(map(str, (base, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big")
