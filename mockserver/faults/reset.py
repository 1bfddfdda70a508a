"""Connection resets: a request answered by dropping its connection, under uvicorn or in-process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any


class InjectedReset(ConnectionResetError):
    """The reset of an in-process request, which has no connection to drop: Starlette's
    TestClient and httpx's ASGITransport raise it from the request call."""


async def drop_connection() -> None:
    """Close the client's connection with a TCP reset and no answer.

    Under uvicorn the request runs in a task of its connection's protocol; its transport is
    aborted with SO_LINGER 0, so the client reads ECONNRESET. Without a server connection
    (an in-process ASGI client), InjectedReset is raised instead.
    """
    cycle = _server_cycle()
    if cycle is None:
        raise InjectedReset("connection reset by the mock (fault injection)")
    transport: asyncio.Transport = cycle.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(100):  # connection_lost runs on the next loop turns
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)


def _server_cycle() -> Any | None:
    """uvicorn's request-response cycle running this request, found through the task that
    runs it (`cycle.run_asgi(app)`); None elsewhere."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    cycle = frame.f_locals.get("self") if frame is not None else None
    transport = getattr(cycle, "transport", None)
    # duck-typed: uvloop's transports do not derive from asyncio's classes
    if callable(getattr(transport, "abort", None)) and hasattr(cycle, "disconnected"):
        return cycle
    return None
