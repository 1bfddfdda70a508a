"""Connection resets: a request answered by dropping its connection, under uvicorn or in-process.

A reset needs the request's connection, which ASGI does not hand to an app. The server runs
uvicorn with `ResettableH11Protocol` (given through uvicorn's public `Config(http=...)`):
uvicorn's own h11 protocol, whose app sees its connection in the scope's extensions. Only
the public protocol interface is used: `connection_made`, `connection_lost` and the `app`
the protocol runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from typing import cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

EXTENSION = "mockserver.connection"  # scope["extensions"] key of the request's Connection


class InjectedReset(ConnectionResetError):
    """The reset of a request that has no connection to drop (an in-process client, or a
    server started without `ResettableH11Protocol`): Starlette's TestClient and httpx's
    ASGITransport raise it from the request call."""


@dataclass
class Connection:
    """One client connection: its transport, and whether the server has seen it close."""

    transport: asyncio.Transport
    lost: asyncio.Event = field(default_factory=asyncio.Event)


class _Resettable:
    """Mixed into one of uvicorn's HTTP protocols: the app sees the connection under
    `scope["extensions"]`."""

    app: ASGIApp

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        # uvloop's transports are not asyncio.Transport subclasses, but they abort alike
        self.connection = Connection(cast(asyncio.Transport, transport))
        app, connection = self.app, self.connection

        async def with_connection(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[EXTENSION] = connection
            await app(scope, receive, send)

        self.app = with_connection

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)  # type: ignore[misc]
        self.connection.lost.set()


class ResettableH11Protocol(_Resettable, H11Protocol):
    """uvicorn's h11 protocol, resettable."""


def resettable_protocol(http: str) -> type[asyncio.Protocol]:
    """The resettable twin of uvicorn's `http` implementation ("httptools" or "h11")."""
    if http == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        class ResettableHttpToolsProtocol(_Resettable, HttpToolsProtocol):
            """uvicorn's httptools protocol, resettable."""

        return ResettableHttpToolsProtocol
    return ResettableH11Protocol


def __getattr__(name: str) -> type[asyncio.Protocol]:
    """`ResettableHttpToolsProtocol` made on first use (httptools may not be installed): worker
    processes name their protocol by import string."""
    if name == "ResettableHttpToolsProtocol":
        return resettable_protocol("httptools")
    raise AttributeError(name)


def protocol_path(http: str) -> str:
    """The import string of `resettable_protocol(http)`, for uvicorn's worker processes."""
    name = "ResettableHttpToolsProtocol" if http == "httptools" else "ResettableH11Protocol"
    return f"{__name__}:{name}"


def connection_of(scope: Scope) -> Connection | None:
    found = (scope.get("extensions") or {}).get(EXTENSION)
    return found if isinstance(found, Connection) else None


async def drop_connection(scope: Scope) -> None:
    """Close the client's connection with a TCP reset and no answer.

    The transport is aborted with SO_LINGER 0, so the client reads ECONNRESET; the request
    returns once the server has seen the connection go (nothing more is sent on it). Without
    a connection, InjectedReset is raised instead.
    """
    connection = connection_of(scope)
    if connection is None:
        raise InjectedReset("connection reset by the mock (fault injection)")
    sock = connection.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.transport.abort()
    await connection.lost.wait()
