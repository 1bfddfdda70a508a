"""A webhook receiver for the tests: a tiny HTTP server on a free port that records each
delivery and answers it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# writes the whole answer to a delivery, given the status `statuses` chose for it
Respond = Callable[[BaseHTTPRequestHandler, int], None]


@dataclass
class Receiver:
    """Records each delivery, answers the next of `statuses` (200 once they run out), each
    after `delay` seconds (a receiver slower than its caller's timeout), or as `respond`
    writes it (a receiver that hangs, trickles, or never ends its answer). `arrived` is set
    once a delivery has been recorded."""

    statuses: list[int]
    delay: float = 0.0
    respond: Respond | None = None
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.arrived.set()
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.respond is not None:
                    receiver.respond(self, status)
                    return
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
