"""One request and its answer as they pass through the app: what the journal keeps of them."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import Message, Receive, Send

from mockserver.engine.journal import BODY_LIMIT, Entry, Journal
from mockserver.engine.parts import PartsReader, is_multipart

log = logging.getLogger("mockserver")
REQUEST_ID_HEADER = b"x-request-id"


class Exchange:
    """Wraps `receive` and `send` of one request: keeps the first `BODY_LIMIT` bytes of each
    body, stamps the answer with the request ID, and journals the exchange once, before the
    client can see the end of the answer (a test reading the journal right after its call
    finds it there)."""

    __slots__ = (
        "entry",
        "_on_answer",
        "_journal",
        "_receive",
        "_send",
        "_request",
        "_response",
        "_recorded",
        "_parts",
        "_body_known",
    )

    def __init__(
        self,
        entry: Entry,
        journal: Journal | None,
        receive: Receive,
        send: Send,
        on_answer: Callable[[], None] | None = None,
    ):
        self.entry = entry
        self._on_answer = on_answer  # called as the answer begins, before the client sees it
        self._journal = journal  # None: an admin request, logged but not journalled
        self._receive = receive
        self._send = send
        self._request = _Kept()
        self._response = _Kept()
        self._recorded = False
        multipart = journal is not None and is_multipart(entry.request_type)
        self._parts = PartsReader(entry.request_type) if multipart else None
        self._body_known = False

    def body_read(self, raw: bytes) -> None:
        """The whole body, read before the app (by the body limits): kept now, whether or not
        the app reads it again through `receive`."""
        self._request.add(raw)
        if self._parts is not None:
            self._parts.feed(raw)
        self._body_known = True

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not self._body_known:
            chunk = message.get("body", b"")
            self._request.add(chunk)
            if self._parts is not None:
                self._parts.feed(chunk)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            self._response.add(message.get("body", b""))
            if not message.get("more_body", False):
                self.record()
        elif message["type"] == "http.response.start":
            self.announce()  # first: should it fail, the answer is that error
            entry = self.entry
            entry.status = message["status"]
            sent = list(message.get("headers", ()))
            named = dict(sent)  # ASGI header names are lower case; the last one of a name wins
            if b"content-type" in named:
                entry.response_type = named[b"content-type"].decode("latin-1")
            if b"retry-after" in named:
                entry.retry_after = named[b"retry-after"].decode("latin-1")
            if REQUEST_ID_HEADER in named:  # the mock's own ID is the one a log names
                sent = [header for header in sent if header[0] != REQUEST_ID_HEADER]
            sent.append((REQUEST_ID_HEADER, entry.id.encode()))
            message["headers"] = sent
        await self._send(message)

    def announce(self) -> None:
        """Call `on_answer`, once: as the answer begins, or after a request that got none (a
        dropped connection)."""
        on_answer, self._on_answer = self._on_answer, None
        if on_answer is not None:
            on_answer()

    def without_store(self) -> None:
        """The store failed this request: its answer (that failure) neither announces nor is
        journalled, each a store operation that would wait for the store as long again."""
        self._on_answer = None
        self._journal = None

    @property
    def ended(self) -> bool:
        """Whether the answer's last part went out (or the exchange was journalled as cut)."""
        return self._recorded

    def record(self) -> None:
        """Journal the exchange, once; an answer that never ended (a dropped connection) is
        journalled too, with the status it reached (0: none)."""
        if self._recorded:
            return
        self._recorded = True
        entry = self.entry
        entry.request_body = self._request.bytes()
        entry.request_size = self._request.total
        if self._parts is not None:
            entry.request_parts = self._parts.parts
        entry.response_body = self._response.bytes()
        if self._journal is not None:
            self._journal.record(entry)
        if log.isEnabledFor(logging.INFO):  # as `log.info` asks, before its arguments are made
            log.info(
                "%s %s %s -> %s (%s)",
                entry.id,
                entry.method,
                entry.path,
                entry.status,
                entry.api or "admin",
            )


class _Kept:
    """The first `BODY_LIMIT` bytes of a body that arrives in chunks."""

    __slots__ = ("chunks", "size", "total")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.total = 0  # every byte that arrived, kept or not

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if chunk and self.size < BODY_LIMIT:
            kept = chunk[: BODY_LIMIT - self.size]
            self.chunks.append(kept)
            self.size += len(kept)

    def bytes(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
