"""What a test's tenant leaves that would act later stops at its teardown: a later test moving
the clock delivers none of its webhook events."""

from __future__ import annotations

import pytest

from tests.test_plugin import run

pytest_plugins = ["pytester"]

LEAVES_A_WEBHOOK = """
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ND = "neuraldraft"
GOT = []  # (the test running, the event) of every delivery the receiver got
RUNNING = ["?"]


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        GOT.append((RUNNING[0], json.loads(body)["type"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


RECEIVER = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=RECEIVER.serve_forever, daemon=True).start()
URL = f"http://127.0.0.1:{RECEIVER.server_address[1]}/hook"


def subscribe_and_post(mockserver):
    client = mockserver.client(ND)
    hook = {"url": URL, "events": ["blog_post.published"]}
    assert client.post("/webhook-endpoints", json=hook).status_code == 201
    assert client.post("/blog-posts", json={"type": "ai", "topic": "x"}).status_code == 202
    return client


def test_a_subscribes_and_leaves_its_post_running(mockserver):
    RUNNING[0] = "a"
    subscribe_and_post(mockserver)


def test_b_breaks_a_contract_and_leaves_its_post_running(mockserver):
    RUNNING[0] = "b"
    client = subscribe_and_post(mockserver)
    client.post("/blog-posts", json={"type": "ai"})  # no topic: an error at its teardown


def test_c_only_moves_its_clock(mockserver):
    RUNNING[0] = "c"
    mockserver.advance(3600)  # on the manual clock, deliveries are made before it returns
    assert GOT == []


def test_d_gets_its_own(mockserver):
    RUNNING[0] = "d"
    subscribe_and_post(mockserver)
    mockserver.advance(3600)
    assert GOT == [("d", "blog_post.published")]
    deliveries = mockserver.client(ND).get("/webhook-deliveries").json()["data"]
    assert [delivery["status"] for delivery in deliveries] == ["success"]
"""


def test_a_later_test_moving_the_clock_delivers_no_earlier_tests_events(
    pytester: pytest.Pytester,
) -> None:
    """An earlier test's endpoint got `blog_post.published` while a later test moved its
    clock; with a receiver that never answers, that test's `advance(600)` spent 90 s of real
    time on three attempts of 30 s. Its teardown failing (a violation) changes nothing."""
    result = run(pytester, LEAVES_A_WEBHOOK)
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_b_breaks_a_contract*"])
