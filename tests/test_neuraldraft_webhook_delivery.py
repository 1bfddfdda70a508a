"""Neural Draft's webhook attempts: one endpoint's trouble stays its own.

A URL no request can be sent to is refused; an attempt that breaks off fails alone; a
receiver's answer is read no further than its first kilobyte and within the attempt's time in
all; a receiver that hangs holds up neither other endpoints nor the clock's other listeners;
closing cuts the attempts under way short. Receivers hang on an Event the test releases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, create_app
from mockserver.apis.neuraldraft.webhooks import RESPONSE_BODY_LIMIT, Delivery, Webhooks
from tests.conftest import Mock
from tests.test_neuraldraft import BASE, create, register
from tests.webhook_receiver import Receiver, Respond

EVENTS = ["image.generated"]
SOON = {"X-Mock-Scenario": "completed; after=5"}
# keys sorted as the dispatcher takes them: the first's delivery is made first (before, in
# a tick that stopped at its failure, or one that waited for it)
FIRST, SECOND = "a-first", "b-second"
WAIT = 5.0  # real seconds a test waits for what happens at once, at most
REFUSAL = (
    "must be an absolute http or https URL with a host, and a port from 1 to 65535 if one is given"
)


def webhooks(mock: Mock) -> Webhooks:
    checked: Any = mock.client.app  # the conformance check around the app
    dispatcher: Webhooks = checked.app.state.services["neuraldraft"].webhooks
    return dispatcher


def tenant(key: str) -> str:
    return apis.service_class("neuraldraft").api_key(key)


def hooked(client: TestClient, key: str, url: str) -> None:
    """`key` gets `image.generated` at `url`, and makes an image that is generated in 5 s."""
    auth = {"Authorization": f"Bearer {tenant(key)}"}
    body = {"url": url, "events": EVENTS}
    made = client.post(f"{BASE}/webhook-endpoints", headers=auth, json=body)
    assert made.status_code == 201, made.text
    image = client.post(f"{BASE}/images", headers={**auth, **SOON}, json={"prompt": "x"})
    assert image.status_code == 202, image.text


def only_delivery(dispatcher: Webhooks, key: str) -> Delivery:
    [delivery] = dispatcher.deliveries(tenant(key))
    return delivery


def hanging(release: threading.Event) -> Respond:
    """A receiver that answers once `release` is set (or the test gave up)."""

    def respond(handler: BaseHTTPRequestHandler, status: int) -> None:
        release.wait(4 * WAIT)
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:  # the attempt was cut short
            pass

    return respond


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets the hanging receivers answer, at the latest when the test ends."""
    event = threading.Event()
    yield event
    event.set()


def in_background(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


# --- a URL no request can be sent to -----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b/hook",
        "http://.example/x",
        "http://xn--zz.example/x",
        f"http://{'a' * 64}.example/",
        "http://1.2.3.999/",
    ],
)
def test_a_url_no_request_could_be_sent_to_is_refused_at_create_and_update(
    mock: Mock, url: str
) -> None:
    """Their attempts raised inside the dispatcher. The contract's pattern now refuses all
    but the `xn--` label that is no punycode (no pattern can tell), which the server does."""
    refused = create(mock, "/webhook-endpoints", {"url": url, "events": EVENTS})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == {"url": [REFUSAL]}
    endpoint = register(mock, "http://127.0.0.1:9/", EVENTS)
    path = f"{BASE}/webhook-endpoints/{endpoint['id']}"
    patched = mock.client.patch(path, headers=mock.headers("neuraldraft"), json={"url": url})
    assert patched.status_code == 422, patched.text
    assert patched.json()["errors"] == {"url": [REFUSAL]}
    listed = mock.client.get(f"{BASE}/webhook-endpoints", headers=mock.headers("neuraldraft"))
    assert [e["url"] for e in listed.json()["data"]] == ["http://127.0.0.1:9/"]


@pytest.mark.parametrize("url", ["http://xn--zz.example/x", "http://a..b/hook"])
def test_an_attempt_that_breaks_off_fails_alone_and_is_retried(mock: Mock, url: str) -> None:
    """An endpoint kept before such URLs were refused: its attempt fails (an IDNA error
    stopped the whole tick, every other key's deliveries left waiting), and is retried."""
    with Receiver([]) as other:
        hooked(mock.client, FIRST, other.url)
        hooked(mock.client, SECOND, other.url)
        dispatcher = webhooks(mock)
        [broken] = dispatcher.endpoints(tenant(FIRST))
        dispatcher.backend.set(
            dispatcher._endpoint_key(broken.tenant, broken.id), replace(broken, url=url)
        )
        mock.advance(5)
        assert len(other.received) == 1  # the second key's, on the same tick
        failed = only_delivery(webhooks(mock), FIRST)
        assert (failed.status, failed.attempts, failed.response_status) == ("failed", 1, None)
        assert failed.due == failed.created_at + 30
        mock.advance(30)
        assert only_delivery(webhooks(mock), FIRST).attempts == 2
        assert only_delivery(webhooks(mock), SECOND).status == "success"


# --- what an attempt reads, and for how long ---------------------------------------------


def test_an_answer_is_read_no_further_than_its_first_kilobyte(mock: Mock) -> None:
    """A receiver answering 64 MB: the whole of it was read (2 GB took the mock to 4 GB)."""
    size, written, done = 64 << 20, [0], threading.Event()

    def endless(handler: BaseHTTPRequestHandler, status: int) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", str(size))
            handler.end_headers()
            while written[0] < size:
                handler.wfile.write(b"x" * 65_536)
                written[0] += 65_536
        except OSError:  # the mock read what it keeps and hung up
            pass
        finally:
            done.set()

    with Receiver([], respond=endless) as receiver:
        hooked(mock.client, mock.key, receiver.url)
        mock.advance(5)
        assert done.wait(WAIT)
    delivery = only_delivery(webhooks(mock), mock.key)
    assert (delivery.status, delivery.response_body) == ("success", "x" * RESPONSE_BODY_LIMIT)
    assert written[0] < size // 4  # what the socket's buffers took before the mock hung up


def test_an_attempt_fails_once_its_time_is_up_however_its_answer_trickles(mock: Mock) -> None:
    """A byte at a time, each within the read timeout: the attempt went on for as long as
    the answer took, and was a success. Its time is the whole attempt's (here half a second)."""
    webhooks(mock).timeout = 0.5
    stop = threading.Event()

    def trickle(handler: BaseHTTPRequestHandler, status: int) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "40")
            handler.end_headers()
            for _ in range(40):  # two seconds in all
                handler.wfile.write(b"x")
                handler.wfile.flush()
                stop.wait(0.05)
        except OSError:
            pass

    try:
        with Receiver([], respond=trickle) as receiver:
            hooked(mock.client, mock.key, receiver.url)
            mock.advance(5)
    finally:
        stop.set()
    delivery = only_delivery(webhooks(mock), mock.key)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 1, None)


# --- a receiver that hangs -----------------------------------------------------------------


def test_a_hanging_receiver_holds_up_no_other_endpoint(
    mock: Mock, release: threading.Event
) -> None:
    """The attempts of one clock move went one after another: the second key's waited for
    the first key's receiver to answer."""
    with Receiver([], respond=hanging(release)) as slow, Receiver([]) as quick:
        hooked(mock.client, FIRST, slow.url)
        hooked(mock.client, SECOND, quick.url)
        moving = in_background(lambda: mock.advance(5))
        assert slow.arrived.wait(WAIT)
        assert quick.arrived.wait(WAIT)  # while the first key's receiver still hangs
        assert moving.is_alive()  # the move returns once its deliveries are made
        release.set()
        moving.join(WAIT)
        assert not moving.is_alive()
    for key in (FIRST, SECOND):
        assert only_delivery(webhooks(mock), key).status == "success"


def test_a_clock_move_wakes_its_other_listeners_before_the_webhooks_go_out(
    mock: Mock, release: threading.Event
) -> None:
    """The dispatcher was the clock's first listener: an open event stream heard of a move
    only once every attempt it made was over."""
    heard = threading.Event()
    with Receiver([], respond=hanging(release)) as slow:
        hooked(mock.client, mock.key, slow.url)
        stop = mock.state.clock.on_change(heard.set)  # as an event stream listens
        try:
            moving = in_background(lambda: mock.advance(5))
            assert slow.arrived.wait(WAIT)
            assert heard.wait(WAIT)  # while the receiver hangs
        finally:
            stop()
            release.set()
        moving.join(WAIT)
    assert only_delivery(webhooks(mock), mock.key).status == "success"


def test_on_the_system_clock_a_hanging_receiver_holds_up_no_other_key(
    release: threading.Event,
) -> None:
    """The background thread made one attempt after another: another key's delivery waited
    for every hanging one before it."""
    app = create_app(ServerConfig(clock="system", time_scale=1000.0))
    dispatcher: Webhooks = app.state.services["neuraldraft"].webhooks
    with (
        TestClient(app) as client,
        Receiver([], respond=hanging(release)) as slow,
        Receiver([]) as quick,
    ):
        try:
            hooked(client, FIRST, slow.url)
            hooked(client, SECOND, quick.url)
            assert slow.arrived.wait(WAIT)
            assert quick.arrived.wait(WAIT)  # while the first key's receiver still hangs
        finally:
            release.set()
            dispatcher.close()


def test_closing_cuts_an_attempt_short_and_the_clock_move_waiting_for_it_returns(
    mock: Mock, release: threading.Event
) -> None:
    """An interrupted server waited for its attempts: 30 s for one, three minutes for an
    8-hour move to a receiver that hangs. Cut short, an attempt failed (it is no success),
    and the move makes no more."""
    with Receiver([], respond=hanging(release)) as slow:
        hooked(mock.client, mock.key, slow.url)
        moving = in_background(lambda: mock.advance(8 * 3600))
        assert slow.arrived.wait(WAIT)
        webhooks(mock).close()
        moving.join(WAIT)
        assert not moving.is_alive()
        delivery = only_delivery(webhooks(mock), mock.key)
        assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 1, None)
        assert len(slow.received) == 1
