"""API requests an app answers, counted in-process by the key they carry.

A bound on requests made while the clock stands still (`VirtualTime.max_still`) must count
the requests of the client it watches, and only those: not the requests of a thread an
earlier test (or client-check row) left behind polling with its own key, and without reading
the shared store, whose client may read the clock that is virtual for the watched thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection
from typing import TYPE_CHECKING

from mockserver.request import ApiRequest

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Requests:
    """The app, counting the API requests it answers by the key they carry, each before its
    client sees the end of the answer (as the journal records it). Serve this instead of the
    app: requests that reach the app another way are not counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.total = 0
        self.by_key: Counter[str | None] = Counter()
        self._lock = threading.Lock()  # servers and in-process transports count from threads

    def made(self, excluding: Collection[str]) -> int:
        """The requests made so far with no key of `excluding` (the earlier rows')."""
        return self.total - sum(self.by_key[key] for key in set(excluding))

    def made_with(self, keys: Collection[str]) -> int:
        """The requests made so far with one of `keys` (one test's, one per API)."""
        return sum(self.by_key[key] for key in set(keys))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                request = ApiRequest.of(scope)
                if request is not None and request.api is not None:  # not the admin API
                    with self._lock:
                        self.by_key[request.tenant] += 1
                        self.total += 1
            await send(message)

        await self.app(scope, receive, counted)
