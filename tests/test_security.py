"""Hardening: no request crashes the server, exhausts its memory or reaches another tenant.

One test (or a few) per hole an audit found; docs/security-and-limits.md says what holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, create_app, limits
from mockserver.admin_guard import targets_admin
from mockserver.cli import build_app, build_parser, config_from
from mockserver.contracts.validate import MAX_VIOLATIONS
from mockserver.engine.artifacts import AudioInfo, render_audio, render_budget
from mockserver.engine.jobs import NEWEST_CHUNK, Job, JobStore
from mockserver.engine.journal import VIOLATIONS_KEPT, Journal, mask
from mockserver.engine.plan import Outcome, Phase, Plan
from mockserver.errors import ApiError, echoed
from mockserver.limits import has_digit_run, json_problem
from mockserver.live import LiveServer
from mockserver.service import Ctx
from mockserver.stores import MemoryStore
from tests.conftest import Mock, make_mock, wav
from tests.pdfs import written_pdf

NA = "/neuralanalog"
NL = "/neurolinker/api/v1"
CAMB = "/camb/apis"
ND = "/neuraldraft/v1"
LINK = {"url": "https://example.com/take.wav"}


@pytest.fixture
def small() -> Iterator[Mock]:
    """A server with small limits, so a test can pass them cheaply."""
    yield from make_mock(
        max_upload_bytes=64_000,
        max_json_bytes=4_000,
        max_render_bytes=200_000,
        max_queued_scenarios=3,
        journal_bytes=20_000,
    )


# --- 1. queued scenarios are bounded ------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "method", "path", "body"),
    [
        ("neuralanalog", "POST", f"{NA}/from-link", {"url": "https://x/a.wav"}),
        ("neuraldraft", "POST", f"{ND}/blog-posts", {"type": "ai", "topic": "Tea"}),
        ("camb", "GET", "/camb/apis/audio-separation/5", None),
        ("neurolinker", "GET", "/neurolinker/api/v1/request-status/abc", None),
    ],
)
def test_a_key_past_4096_characters_is_a_401_in_the_apis_format(
    mock: Mock, api: str, method: str, path: str, body: dict[str, str] | None
) -> None:
    """A key is a tenant, named in the store, its caches and the journal: a megabyte one
    (httptools takes it) would be kept as many times."""
    service = apis.service_class(api)
    answers = []
    for length in (4096, 4097):
        key = service.api_key("k" * (length - len(service.api_key(""))))
        assert len(key) == length
        headers = service.auth_headers(key)
        answers.append(mock.client.request(method, path, headers=headers, json=body))
    accepted, refused = answers
    assert accepted.status_code != 401 and refused.status_code == 401
    # Camb's every 401 says what its authentication page shows, and nothing more
    words = "Invalid API key" if api == "camb" else "Invalid API key: longer than 4096 characters"
    assert words in refused.text
    if body is not None:  # one job, the accepted key's
        assert len(mock.client.get("/__mock__/jobs").json()["jobs"]) == 1


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    "body",
    [
        {"type": "ai", "topic": "Tea", "secondary_keywords": [1] * 100_000},  # wrong items
        {"type": "ai", "topic": "Tea", **{f"{i:x}": 1 for i in range(50_000)}},  # unknown fields
    ],
    ids=["wrong-items", "unknown-fields"],
)
def test_one_body_lists_at_most_100_violations(strict: bool, body: dict[str, Any]) -> None:
    """A 600 KB list of wrong items made 300,000 violations: a 36 MB answer after seconds of
    work, and as many kept in the journal, outside its byte budget. The journal keeps 20."""
    for mock in make_mock(strict=strict):
        answer = mock.client.post(
            f"{ND}/blog-posts", headers=mock.headers("neuraldraft"), json=body
        )
        (entry,) = mock.state.journal.entries()
        assert len(entry.violations) == VIOLATIONS_KEPT  # the first ones: a test names them
        assert entry.cost <= Journal.MOST
        if answer.status_code == 422:
            assert len(answer.json()["errors"]) <= MAX_VIOLATIONS
        else:  # unknown fields are ignored, as the real service ignores them
            assert (strict, answer.status_code) == (False, 202)


LONG_FORM = {"form": "{" + "x" * 999_999}  # no JSON, within 1 MiB: a 422 `json_invalid` echoing it
PDF_PART = [("documents", ("a.pdf", b"%PDF-1.4", "application/pdf"))]


@pytest.mark.parametrize(
    ("api", "path", "send", "echo"),
    [
        ("neurolinker", f"{NL}/extract", {"data": LONG_FORM, "files": PDF_PART}, "{" + "x" * 999),
        ("neuralanalog", f"{NA}/from-link", {"json": {"url": "y" * 900_000}}, "y" * 1000),
        ("neuralanalog", f"{NA}/from-link", {"json": {"url": ["z" * 5000] * 150}}, ["z" * 1000]),
    ],
    ids=["form-text", "long-string", "list-of-long-strings"],
)
def test_a_422_echoes_its_input_cut_short(
    mock: Mock, api: str, path: str, send: dict[str, Any], echo: Any
) -> None:
    """FastAPI echoes the whole input; a 60 MB NeuroLinker `form` came back as 60 MB. A
    string is cut at 1,000 characters, a list or object at 100 items, 10,000 in all."""
    answer = mock.client.post(path, headers=mock.headers(api), **send)
    assert answer.status_code == 422, answer.text[:200]
    assert len(answer.content) < 12_000
    (problem,) = answer.json()["detail"]
    if isinstance(echo, str):
        assert problem["input"] == echo + "..."
    else:
        assert problem["input"][:1] == [echo[0] + "..."] and problem["input"][-1] == "..."


def test_an_echo_keeps_the_shape_of_what_it_cuts() -> None:
    assert echoed({"a": [1, "b"], "c": None}) == {"a": [1, "b"], "c": None}  # small: whole
    assert echoed(list(range(150))) == [*range(100), "..."]
    assert echoed({str(n): n for n in range(150)}) == {
        **{str(n): n for n in range(100)},
        "...": "...",
    }
    nested = echoed([["x" * 2000] * 20] * 20)  # 800,000 characters, 10,000 kept
    assert 10_000 <= len(json.dumps(nested)) < 12_000
    assert nested[-1] == "..." and nested[0][0] == "x" * 1000 + "..."


def test_a_huge_scenario_count_is_refused_and_the_queue_stays_bounded(small: Mock) -> None:
    admin = small.client
    body = {"api": "neuralanalog", "outcome": "failed"}
    refused = admin.post("/__mock__/scenarios", json={**body, "count": 100_000_000})
    assert refused.status_code == 422 and "'count' must be at most 3" in refused.json()["error"]
    assert admin.post("/__mock__/scenarios", json={**body, "count": 2}).status_code == 201
    full = admin.post("/__mock__/scenarios", json={**body, "count": 2})
    assert full.status_code == 422 and "holds 2 of at most 3" in full.json()["error"]
    assert len(admin.get("/__mock__/scenarios").json()["queued"]) == 2
    for option in ("after=nan", "after=1e308", "failing=inf"):
        bad = admin.post("/__mock__/scenarios", json={**body, "outcome": f"failed; {option}"})
        assert bad.status_code == 422, option


# --- 2. a WAV header cannot make the server render more than its limit ----------------------------


def lying_wav(claimed_bytes: int, rate: int = 48_000, channels: int = 2) -> bytes:
    """A 44-byte WAV header whose data chunk claims `claimed_bytes` of audio it does not hold."""
    block = channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + claimed_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
        + b"data"
        + struct.pack("<I", claimed_bytes)
    )


def test_a_lying_wav_header_renders_no_more_than_the_limit(small: Mock) -> None:
    """A header claiming 40 MB of audio in a few bytes is not audio a decoder reads: the import
    fails cleanly. What a real upload may hold (a long, well-compressed FLAC) is rendered
    within the budget, in every format."""
    headers = small.headers("neuralanalog")
    files = {"audio": ("big.wav", lying_wav(40_000_000), "audio/wav")}
    created = small.client.post(f"{NA}/from-file", headers=headers, files=files)
    assert created.status_code == 200, created.text
    small.advance(3600)
    status = small.client.get(f"{NA}/status/audio/{created.json()['audio_id']}", headers=headers)
    assert status.json()["is_failed"] is True
    long_track = AudioInfo(10_000.0, 16_000, 1)  # 320 MB of samples, claimed
    for fmt in ("wav", "flac"):
        with render_budget(200_000):
            rendered = render_audio(long_track, 440, fmt)
        assert len(rendered) <= 200_000 + 44, fmt


# --- 3. uploads are limited, refused before they are read, key first -----------------------------


def test_an_upload_past_the_limit_is_a_413_in_the_apis_format(small: Mock) -> None:
    files = {"audio": ("a.wav", wav(10, rate=8000), "audio/wav")}  # 160 kB > 64 kB
    answer = small.client.post(
        f"{NA}/from-file", headers=small.headers("neuralanalog"), files=files
    )
    assert answer.status_code == 413
    assert answer.json() == {"detail": "Request body too large: the limit is 64000 bytes"}
    assert list(small.state.store.jobs()) == []


def test_the_key_is_checked_before_the_size(small: Mock) -> None:
    files = {"media_file": ("a.wav", b"\0" * 100_000, "audio/wav")}
    answer = small.client.post("/camb/apis/audio-separation", files=files)
    assert answer.status_code == 401


def test_upload_limits_are_per_api() -> None:
    for mock in make_mock(upload_limits={"neurolinker": 1_000}):
        files = {"documents": ("a.pdf", b"%PDF-1.7 " + b"x" * 2_000, "application/pdf")}
        headers = mock.headers("neurolinker")
        answer = mock.client.post(
            f"{NL}/extract", headers=headers, files=files, data={"form": "{}"}
        )
        assert answer.status_code == 413
        camb = mock.client.post(
            "/camb/apis/audio-separation",
            headers=mock.headers("camb"),
            files={"media_file": ("a.wav", wav(1), "audio/wav")},
        )
        assert camb.status_code == 200


async def _upload(
    app: Any, chunks: int, chunk: bytes, key: bool = True, declared: int | None = None
) -> tuple[int, int]:
    """An upload in chunks, with `declared` as Content-Length or chunked: (status, chunks the
    server read)."""
    boundary = b"x1x"
    head = (
        b'--x1x\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n"
    )
    parts = [head, *[chunk] * chunks, b"\r\n--x1x--\r\n"]
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        body = parts[read - 1] if read <= len(parts) else b""
        return {"type": "http.request", "body": body, "more_body": read < len(parts)}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"multipart/form-data; boundary=" + boundary),
        (b"x-api-key", b"chunky" if key else b""),
        (b"content-length", str(declared).encode())
        if declared is not None
        else (b"transfer-encoding", b"chunked"),
    ]
    await app(post_scope(f"{NA}/from-file", headers), receive, send)
    return status, read


def post_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a POST to `path`, as uvicorn makes it."""
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "root_path": "",
    }


@pytest.mark.anyio
async def test_a_chunked_upload_is_cut_off_at_the_limit() -> None:
    app = create_app(ServerConfig(clock="manual", max_upload_bytes=50_000))
    status, read = await _upload(app, chunks=1_000, chunk=b"\0" * 10_000)
    assert status == 413
    assert read <= 8  # 10 MB offered, about 50 kB read


@pytest.mark.anyio
async def test_a_declared_oversize_upload_is_refused_unread_key_first() -> None:
    app = create_app(ServerConfig(clock="manual", max_upload_bytes=50_000))
    size = 200 * 1024 * 1024
    assert await _upload(app, 20_000, b"\0" * 10_000, declared=size) == (413, 0)
    assert await _upload(app, 20_000, b"\0" * 10_000, key=False, declared=size) == (401, 0)


CUT_SHORT = {  # a body sent whole but for its end, then the client goes away
    "json": (
        "/neuralanalog/from-link",
        [(b"x-api-key", b"gone"), (b"content-type", b"application/json")],
        b'{"url": "https://example.com/a.wav"}',
    ),
    "form": (
        "/camb/apis/audio-separation",
        [(b"x-api-key", b"gone"), (b"content-type", b"multipart/form-data; boundary=B")],
        b'--B\r\nContent-Disposition: form-data; name="media_file"; filename="a.wav"\r\n\r\n'
        b"RIFF\r\n--B--\r\n",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("body", CUT_SHORT.values(), ids=CUT_SHORT.keys())
async def test_a_request_whose_client_went_away_mid_body_is_not_served(
    body: tuple[str, list[tuple[bytes, bytes]], bytes],
) -> None:
    """The body read so far was handed to the handler as whole: a job was made for a request
    never sent whole (a bare Starlette app runs no handler), or its cut JSON journalled as the
    client's violation."""
    path, headers, content = body
    app = create_app(ServerConfig(clock="manual"))
    messages = [
        {"type": "http.request", "body": content, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    length = (b"content-length", str(len(content) + 1000).encode())
    await app(post_scope(path, [(b"host", b"127.0.0.1"), *headers, length]), receive, send)
    state = app.state.mock
    assert sent == []
    assert list(state.store.jobs()) == []
    assert not [entry for entry in state.journal.entries() if entry.violations]


# --- 4. the admin API: local only, or behind a token; never cross-site ----------------------------


def test_the_admin_api_refuses_cross_site_and_foreign_hosts(mock: Mock) -> None:
    reset = "/__mock__/reset"
    evil = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    assert mock.client.post(reset, headers=evil).status_code == 403
    assert mock.client.post(reset, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    rebound = mock.client.post(reset, headers={"Host": "attacker.example:8000"})
    assert rebound.status_code == 403 and "local Host" in rebound.json()["error"]
    same = {"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000"}
    assert mock.client.post(reset, headers=same).status_code == 200
    assert mock.client.get("/__mock__/health", headers={"Host": "localhost"}).status_code == 200


def test_bound_beyond_loopback_the_admin_api_needs_a_token() -> None:
    app = create_app(ServerConfig(host="0.0.0.0", clock="manual"))
    token = app.state.admin_token
    assert token and len(token) >= 24
    with TestClient(app) as client:
        assert client.get("/__mock__/health").status_code == 401
        wrong = client.get("/__mock__/health", headers={"X-Mock-Admin-Token": "guess"})
        assert wrong.status_code == 401
        for way in (
            {"headers": {"X-Mock-Admin-Token": token}},
            {"headers": {"Authorization": f"Bearer {token}"}},
            {"params": {"token": token}},
        ):
            assert client.get("/__mock__/health", **way).status_code == 200
        given = create_app(ServerConfig(host="0.0.0.0", admin_token="s3cret"))
        assert given.state.admin_token == "s3cret"
        assert create_app(ServerConfig()).state.admin_token is None  # loopback: none


# --- 5. webhooks never target the admin API ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/__mock__/reset",
        "http://localhost/%5F%5Fmock%5F%5F/reset",
        "http://x/neuraldraft/../__mock__/reset",
        "http://x//__MOCK__/clock/advance",
        "http://x/%255F%255Fmock%255F%255F/reset",
    ],
)
def test_admin_urls_are_recognised_however_spelled(url: str) -> None:
    assert targets_admin(url)


def test_a_webhook_cannot_reset_the_server() -> None:
    app = create_app(ServerConfig(clock="manual"))
    with LiveServer(app) as live:
        bystander = {"X-API-Key": "bystander"}
        assert httpx.post(f"{live.url}{NA}/from-link", headers=bystander, json=LINK).is_success
        attacker = {"Authorization": "Bearer ndsk_test_attacker"}
        hook = {"url": f"{live.url}/__mock__/reset", "events": ["image.generated"]}
        assert httpx.post(f"{live.url}{ND}/webhook-endpoints", headers=attacker, json=hook)
        made = httpx.post(
            f"{live.url}{ND}/images",
            headers={**attacker, "X-Mock-Scenario": "completed; after=5"},
            json={"prompt": "x"},
        )
        assert made.status_code == 202, made.text
        moved = httpx.post(f"{live.url}/__mock__/clock/advance", json={"seconds": 10}, timeout=30)
        assert moved.status_code == 200
        assert len(list(app.state.mock.store.jobs("neuralanalog", "bystander"))) == 1
        listed = httpx.get(f"{live.url}{ND}/webhook-endpoints", headers=attacker).json()
        assert listed["data"][0]["last_delivery_status"] == "failed"


# --- 6. the clock is the admin API's alone; SIGTERM is obeyed -------------------------------------
# (latency faults: tests/test_faults.py)


def test_serve_prints_its_token_and_obeys_sigterm_whatever_hangs() -> None:
    """A real `mockserver serve` (about 5 s: the only way to see its banner and signals)."""
    port = _free_port()
    with _serve("--host", "0.0.0.0", "--port", str(port)) as server:
        banner = _banner(server)
        token = banner.split("admin API token: ")[1].split()[0]
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/__mock__/health").status_code == 401
        health = httpx.get(f"{base}/__mock__/health", headers={"X-Mock-Admin-Token": token})
        assert health.status_code == 200
        admin = {"X-Mock-Admin-Token": token}
        rule = {"fault": "latency", "delay": 3600, "tenant": "k"}
        assert httpx.post(f"{base}/__mock__/faults", headers=admin, json=rule).status_code == 201
        worker = threading.Thread(
            target=_quietly,
            args=(
                lambda: httpx.post(
                    f"{base}{NA}/from-link", headers={"X-API-Key": "k"}, json=LINK, timeout=120
                ),
            ),
            daemon=True,
        )
        worker.start()
        _until(lambda: _fired(base, admin) == 1)  # the request is in, held by its latency
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        assert time.monotonic() - began < 5


def _fired(base: str, admin: dict[str, str]) -> int:
    """How often the server's one fault rule fired (for the key `k`)."""
    [rule] = httpx.get(f"{base}/__mock__/faults", headers=admin).json()["faults"]
    return int(rule["fired"].get(mask("k"), 0))  # listed masked


def _until(reached: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for what a real server shows (it has no clock to advance), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not reached():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.01)


def _quietly(call: Any) -> None:
    """`call()`, cut off by the shutdown as it should be: the server resets the connection, and
    how the client reports that (httpx's error, or httpcore's from a daemon thread still
    reading as the test ends) is no matter of the test's."""
    with contextlib.suppress(Exception):
        call()


# --- 7. poison: nothing a client sends breaks a shared view --------------------------------------


@pytest.mark.parametrize(
    "scenario", ["completed; after=nan", "completed; after=inf", "failed; after=1e308"]
)
def test_bad_scenario_numbers_are_400s_and_the_job_list_stays_readable(
    mock: Mock, scenario: str
) -> None:
    headers = {**mock.headers("neuralanalog"), "X-Mock-Scenario": scenario}
    answer = mock.client.post(f"{NA}/from-link", headers=headers, json=LINK)
    assert answer.status_code == 400 and "after" in answer.json()["detail"]
    assert mock.client.get("/__mock__/jobs").status_code == 200
    assert mock.client.get("/__mock__/health").status_code == 200


def test_a_bad_failing_count_is_a_400(mock: Mock) -> None:
    headers = {**mock.headers("neurolinker"), "X-Mock-Scenario": "partial; failing=nan"}
    form = {"form": json.dumps({"documents_url": ["https://x.io/a.pdf", "https://x.io/b.pdf"]})}
    answer = mock.client.post(f"{NL}/extract", headers=headers, data=form)
    assert answer.status_code == 400
    assert mock.client.get("/__mock__/jobs").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/__mock__/clock/advance", '{"seconds": Infinity}'),
        ("/__mock__/clock/advance", '{"seconds": 1e400}'),
        ("/__mock__/clock/advance", '{"seconds": 1' + "0" * 400 + "}"),
        ("/__mock__/clock/advance", '{"seconds": 1e12}'),
        ("/__mock__/clock/set", '{"time": 1e20}'),
        ("/__mock__/clock/set", '{"time": -1}'),
        ("/__mock__/clock/set", '{"time": "0001-01-01T00:00:00Z"}'),
    ],
)
def test_the_clock_cannot_be_broken(mock: Mock, path: str, body: str) -> None:
    before = mock.state.now()
    answer = mock.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500
    assert mock.state.now() == before
    assert mock.client.get("/__mock__/health").status_code == 200
    assert mock.client.get("/__mock__/dashboard").status_code == 200


def test_deep_json_is_refused_everywhere_and_the_journal_stays_readable(mock: Mock) -> None:
    deep = "[" * 5_000 + "]" * 5_000
    for path, headers in [
        (f"{ND}/blog-posts", mock.headers("neuraldraft")),
        (f"{NA}/upscale", mock.headers("neuralanalog")),
        (f"{NL}/documents/markdown", mock.headers("neurolinker")),
        ("/__mock__/faults", {}),
    ]:
        headers = {**headers, "Content-Type": "application/json"}
        answer = mock.client.post(path, content=deep, headers=headers)
        assert answer.status_code in (400, 422), path
        assert "nested deeper than 64" in answer.text
    assert mock.client.get("/__mock__/journal").status_code == 200
    assert mock.client.get("/__mock__/violations").status_code == 200


def test_nan_in_a_body_is_refused_and_never_stored(mock: Mock) -> None:
    headers = {**mock.headers("neuraldraft"), "Content-Type": "application/json"}
    for body in ('{"type": "ai", "topic": NaN}', '{"topic": 1e999}', "[-Infinity]"):
        answer = mock.client.post(f"{ND}/blog-posts", content=body, headers=headers)
        assert answer.status_code == 400, body
    assert list(mock.state.store.jobs()) == []
    journal = mock.client.get("/__mock__/journal")
    assert journal.status_code == 200
    entries = journal.json()["entries"]
    assert [(e["status"], e["request"]) for e in entries] == [(400, None)] * 3  # refused unread
    assert mock.client.get("/__mock__/violations").status_code == 200
    assert json_problem(b'{"text": "NaN [[[[ Infinity"}', 2) is None  # inside strings: text


def test_an_integer_past_a_float_is_refused_like_1e999(mock: Mock) -> None:
    """The docs refuse "a number too large for a float": a 400-digit integer is one, and a
    5,000-digit one (which `int()` itself refuses) is refused the same way, not as bad JSON."""
    headers = {**mock.headers("neuraldraft"), "Content-Type": "application/json"}
    for digits in (400, 5_000):
        body = '{"type": "ai", "topic": "x", "tags": [-%s]}' % ("9" * digits)
        answer = mock.client.post(f"{ND}/blog-posts", content=body, headers=headers)
        assert answer.status_code == 400 and "too large for a float" in answer.text, digits
    largest = str(int(sys.float_info.max))
    assert json_problem(f"[{largest}]".encode(), 2) is None
    assert json_problem(f"[{largest[:-1]}9]".encode(), 2) is not None
    assert list(mock.state.store.jobs()) == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"title": "Hello \\ud800"}', "title"),
        ('{"title": "x", "tags": ["ok", "\\udfff"]}', "tags.1"),
        ('{"title": "x", "\\udc00": 1}', "\\udc00"),  # a key: named, escaped
    ],
)
def test_a_lone_surrogate_is_refused_naming_its_field(mock: Mock, body: str, where: str) -> None:
    """`json.loads` reads `"\\ud800"`, but no answer holding it can be written as UTF-8: the
    post was made, then its create and every later read of it were a 500."""
    headers = {**mock.headers("neuraldraft"), "Content-Type": "application/json"}
    answer = mock.client.post(f"{ND}/blog-posts", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert f"{where} holds a lone UTF-16 surrogate" in answer.json()["detail"]
    listed = mock.client.get(f"{ND}/blog-posts", headers=mock.headers("neuraldraft"))
    assert listed.status_code == 200 and listed.json()["data"] == []  # nothing was made
    pair = '{"title": "Cold brew \\ud83d\\ude00"}'  # a pair is one character: fine
    made = mock.client.post(f"{ND}/blog-posts", content=pair, headers=headers)
    assert made.status_code == 201 and made.json()["data"]["title"] == "Cold brew \U0001f600"


def test_the_admin_api_refuses_a_lone_surrogate_before_any_change(mock: Mock) -> None:
    body = '{"api": "neuralanalog", "outcome": "failed", "message": "ok \\ud800"}'
    answer = mock.client.post(
        "/__mock__/scenarios", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code in (400, 422) and "message holds a lone" in answer.text
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


AUDIO = ("a.wav", wav(1.0), "audio/wav")
TEXT_FILE = ("s.txt", b"x", "text/plain")


@pytest.mark.parametrize(
    ("api", "path", "parts", "expected"),
    [  # a file part where the contract takes text: FastAPI's string_type, nothing stored
        ("camb", "/camb/apis/audio-separation", [("project_name", TEXT_FILE)], "string_type"),
        (
            "camb",
            "/camb/apis/audio-separation",
            [("project_name", (None, "n")), ("project_name", TEXT_FILE)],
            "string_type",
        ),
        ("neuralanalog", f"{NA}/from-file", [("file_source", TEXT_FILE)], "string_type"),
        # the file field sent twice: the last part counts, as FastAPI reads it
        ("neuralanalog", f"{NA}/from-file", [("audio", (None, "n"))], "value_error"),
        ("neuralanalog", f"{NA}/from-file", [("audio", AUDIO)], None),
        ("camb", "/camb/apis/audio-separation", [("media_file", AUDIO)], None),
    ],
)
def test_a_form_field_sent_as_the_wrong_kind_of_part(
    mock: Mock, api: str, path: str, parts: list[Any], expected: str | None
) -> None:
    """A file part for a text field reached the handler as the upload itself: the job kept it
    (in memory; a shared store could not write it: a 500), and a 422 holding it could not be
    written (a 500). A file field sent twice reached the handler as a list (a 500)."""
    first = "media_file" if api == "camb" else "audio"
    answer = mock.client.post(path, files=[(first, AUDIO), *parts], headers=mock.headers(api))
    if expected is None:
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert problem["type"] == expected and problem["loc"][:2] == ["body", parts[-1][0]]
    assert list(mock.state.store.jobs()) == []


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("Disk full; fault=503; times=3", "cannot hold ';'"),  # it became a fault of the job
        (None, "not null"),  # it became the text "None"
        (True, "not bool"),
        ({"nested": [1]}, "not dict"),
    ],
)
def test_a_scenario_option_is_text_or_a_number(mock: Mock, message: Any, problem: str) -> None:
    queued = {"api": "neuralanalog", "outcome": "failed", "message": message}
    answer = mock.client.post("/__mock__/scenarios", json=queued)
    assert answer.status_code == 422 and problem in answer.text, answer.text
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


def test_a_forced_end_refuses_options_it_cannot_apply(mock: Mock) -> None:
    """A job forced to end now has no `after=` to wait for nor a fault to fire: such options
    were ignored (the queue refuses an unknown fault; the transition answered 200)."""
    made = mock.client.post(
        f"{NA}/from-link", headers=mock.headers("neuralanalog"), json={"url": "https://x/a.wav"}
    )
    path = f"/__mock__/jobs/{made.json()['audio_id']}/transition"
    for options in ({"fault": "bogus"}, {"after": "100"}, {"fault": "503", "times": 2}):
        answer = mock.client.post(path, json={"outcome": "failed", **options})
        assert answer.status_code == 422 and "does not apply to a forced end" in answer.text
    [job] = mock.client.get("/__mock__/jobs").json()["jobs"]
    assert job["terminal"] is False
    forced = mock.client.post(path, json={"outcome": "failed", "message": "Disk full"})
    assert forced.status_code == 200, forced.text


def test_a_marker_naming_no_outcome_is_text(mock: Mock) -> None:
    """`mock-ups` in a link names no outcome of Neural Analog: an ordinary link (it was a 400
    blaming an X-Mock-Scenario header nobody sent); the first marker naming one counts."""
    headers = mock.headers("neuralanalog")
    for url, scenario in [
        ("https://cdn.example.com/mock-ups/song.wav", "completed"),
        ("https://cdn.example.com/mock-ups/song.mock-failed.wav", "failed"),
    ]:
        made = mock.client.post(f"{NA}/from-link", headers=headers, json={"url": url})
        assert made.status_code == 200, made.text
        job = mock.client.get(f"/__mock__/jobs/{made.json()['audio_id']}").json()
        assert job["scenario"] == scenario


# bytes near the patterns: digits, exponent letters and signs, the words and their pieces
NEAR_NUMBERS = st.binary(max_size=60) | st.lists(
    st.sampled_from([b"0", b"7", b"9", b"e", b"E", b"+", b"-", b"NaN", b"Na", b"Infinity", b"x"]),
    max_size=40,
).map(b"".join)


@given(NEAR_NUMBERS, st.integers(1, 20))
def test_the_digit_run_check_finds_what_the_regex_finds(raw: bytes, length: int) -> None:
    assert has_digit_run(raw, length) == bool(re.search(rb"\d{%d}" % length, raw))


@given(NEAR_NUMBERS)
def test_the_suspect_number_check_finds_what_the_regex_finds(raw: bytes) -> None:
    assert limits._suspect(raw) == bool(limits._SUSPECT.search(raw))


def test_the_journal_is_bounded_in_bytes(small: Mock) -> None:
    headers = small.headers("neuralanalog")
    for _ in range(40):
        small.client.post(
            f"{NA}/from-link", headers=headers, json={"url": "https://x/" + "a" * 900}
        )
    assert small.state.journal.bytes <= 20_000
    assert 5 < len(small.state.journal.entries()) < 40
    assert small.client.get("/__mock__/journal").status_code == 200


# --- 8. a failed create stores nothing ------------------------------------------------------------


def test_a_create_that_fails_late_stores_nothing(mock: Mock) -> None:
    headers = {**mock.headers("neurolinker"), "X-Mock-Scenario": "failed; after=-1"}
    form = {"form": json.dumps({"documents_url": ["https://x.io/a.pdf", "https://x.io/b.pdf"]})}
    answer = mock.client.post(f"{NL}/extract", headers=headers, data=form)
    assert answer.status_code == 400 and "after" in answer.json()["detail"]
    assert list(mock.state.store.jobs()) == []


def _queue(mock: Mock, api: str, outcome: str, **options: Any) -> None:
    tenant = apis.service_class(api).api_key(mock.key)
    queued = {"api": api, "outcome": outcome, "tenant": tenant, **options}
    assert mock.client.post("/__mock__/scenarios", json=queued).status_code == 201


def _queued(mock: Mock) -> list[str]:
    return [q["scenario"] for q in mock.client.get("/__mock__/scenarios").json()["queued"]]


ONE_PDF = [("documents", ("a.pdf", written_pdf("a"), "application/pdf"))]
UNFILLABLE = {  # found out only as each document's fields are drawn
    "type": "object",
    "required": ["a"],
    "properties": {"a": {"type": "string", "pattern": "^a$", "minLength": 2}},
}


@pytest.mark.parametrize(
    ("queued", "path", "form", "status"),
    [
        ({"outcome": "partial", "failing": 2}, "extract", {}, 400),  # 2 of 1 document
        ({"outcome": "failed"}, "extract-fields", {"json_schema": UNFILLABLE}, 422),
    ],
    ids=["400", "422"],
)
def test_a_refused_create_leaves_the_queued_scenario_for_the_next(
    mock: Mock, queued: dict[str, Any], path: str, form: dict[str, Any], status: int
) -> None:
    """The create took the scenario, then was refused: the scenario was gone, used up by a
    create that made nothing."""
    _queue(mock, "neurolinker", **queued)
    scenario = _queued(mock)
    headers, sent = mock.headers("neurolinker"), {"form": json.dumps(form)}
    refused = mock.client.post(f"{NL}/{path}", headers=headers, files=ONE_PDF, data=sent)
    assert refused.status_code == status, refused.text
    assert _queued(mock) == scenario
    sent = {"form": json.dumps({**form, "json_schema": {"type": "object"}})}
    three = ONE_PDF * 3
    made = mock.client.post(f"{NL}/{path}", headers=headers, files=three, data=sent)
    assert made.is_success, made.text
    assert _queued(mock) == []


def test_a_create_failing_late_gives_its_scenario_back_at_the_head(
    mock: Mock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Camb's create fails here after it took the first of two queued scenarios: that one
    goes back before the second, and the next create takes it."""
    _queue(mock, "camb", "ERROR")
    _queue(mock, "camb", "TIMEOUT")
    real = Ctx.create_job

    def unavailable(*args: Any, **kwargs: Any) -> Job:
        monkeypatch.setattr(Ctx, "create_job", real)  # this once
        raise ApiError(503, "the store is away")

    monkeypatch.setattr(Ctx, "create_job", unavailable)
    headers, files = mock.headers("camb"), {"media_file": ("a.wav", wav(), "audio/x-wav")}
    create = f"{CAMB}/audio-separation"
    assert mock.client.post(create, headers=headers, files=files).status_code == 503
    assert _queued(mock) == ["error", "timeout"]
    task = mock.client.post(create, headers=headers, files=files).json()["task_id"]
    assert _queued(mock) == ["timeout"]
    assert mock.state.store.get("camb", mock.key, task).scenario == "error"


def test_a_scenario_that_refuses_the_create_itself_is_used_up(mock: Mock) -> None:
    """A 402 is the refusal the scenario makes (`out_of_credits`): it is not given back."""
    _queue(mock, "neuraldraft", "out_of_credits")
    headers, body = mock.headers("neuraldraft"), {"type": "ai", "topic": "Tea"}
    assert mock.client.post(f"{ND}/blog-posts", headers=headers, json=body).status_code == 402
    assert _queued(mock) == []
    assert mock.client.post(f"{ND}/blog-posts", headers=headers, json=body).status_code == 202


def test_the_store_rolls_back_what_a_failing_block_added() -> None:
    store = JobStore(lambda: 0.0)
    kept = store.add(_job("kept", None))
    with pytest.raises(RuntimeError), store.all_or_nothing():
        store.add(_job("one", None), "alias-of-one")
        store.add(_job("two", None))
        raise RuntimeError("the answer could not be made")
    assert list(store.jobs()) == [kept]
    assert store.lookup("alias-of-one") is None


# --- 9. eviction stays O(1) whatever runs ---------------------------------------------------------


def _job(job_id: str, outcome: Outcome | None, created: float = 0.0) -> Job:
    plan = Plan((Phase("running", 10.0, ""),), outcome)
    return Job("neuralanalog", "t", job_id, "audio", created, plan)


def test_creates_stay_cheap_in_a_store_full_of_stalled_jobs() -> None:
    now = 100.0
    store = JobStore(lambda: now, capacity=2_000)
    for index in range(12_000):
        store.add(_job(f"stalled-{index}", None))  # never finish
    looked = store.looked_at
    for index in range(1_000):
        store.add(_job(f"done-{index}", Outcome("completed")))
    assert store.looked_at - looked <= 1_000 * 20  # not 1,000 x 12,000
    assert len(store) <= 12_000 + 1_000


def test_a_create_on_a_stopped_clock_past_capacity_looks_at_one_running_job() -> None:
    clock = [5.0]  # every job runs until 10.0
    store = JobStore(lambda: clock[0], capacity=100)
    for index in range(200):
        store.add(_job(f"running-{index}", Outcome("completed")))
    looked = store.looked_at
    for index in range(1_000):
        store.add(_job(f"more-{index}", Outcome("completed")))
    assert store.looked_at - looked <= 1_000  # one per create, not eight
    assert len(store) == 1_200
    clock[0] = 20.0  # the clock moved past their end: eight looks per create again
    for index in range(200):
        store.add(_job(f"after-{index}", Outcome("completed"), created=20.0))
    assert [job.id for job in store.jobs()] == [f"after-{index}" for index in range(200)]


def test_a_job_finished_on_a_stopped_clock_is_still_evicted() -> None:
    clock = [5.0]
    store = JobStore(lambda: clock[0], capacity=10)
    for index in range(30):
        store.add(_job(f"running-{index}", None))  # never finish by the clock
    for job in list(store.jobs()):
        job.force(clock[0], Outcome("cancelled"))  # cancelled, the clock still stopped
    for index in range(30):
        store.add(_job(f"more-{index}", None))
    assert len(store) == 30  # the 30 cancelled gone, the new ones over capacity kept
    assert all(job.id.startswith("more-") for job in store.jobs())


def test_eviction_takes_finished_jobs_oldest_first_past_running_ones() -> None:
    now = 100.0
    store = JobStore(lambda: now, capacity=3)
    store.add(_job("running", None))
    store.add(_job("old", Outcome("completed")))
    store.add(_job("newer", Outcome("completed")))
    store.add(_job("newest", Outcome("completed")))
    assert [j.id for j in store.jobs()] == ["running", "newer", "newest"]


class _CountingStore(MemoryStore):
    """Counts the values `get_many` reads."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        self.read += len(keys)
        return super().get_many(keys)


def test_a_page_of_the_newest_jobs_reads_what_it_shows_not_every_job() -> None:
    counting = _CountingStore()
    store = JobStore(lambda: 0.0, store=counting)
    for index in range(3 * NEWEST_CHUNK):
        store.add(_job(f"job-{index}", None))
    page, more = store.newest(5, offset=2)
    assert [job.id for job in page] == [f"job-{3 * NEWEST_CHUNK - n}" for n in range(3, 8)]
    assert more and counting.read <= NEWEST_CHUNK
    everything, more = store.newest(None, "neuralanalog")
    assert len(everything) == 3 * NEWEST_CHUNK and not more


class _EvictingStore(MemoryStore):
    """Another worker evicts the oldest `evicted` jobs between the first and second chunk read."""

    def __init__(self, evicted: int) -> None:
        super().__init__()
        self.evicted = evicted
        self.reads = 0

    def items(self, key: str, start: int = 0, stop: int = -1) -> list[Any]:
        self.reads += 1
        if self.reads == 2:
            for name in super().items(key, 0, self.evicted - 1):
                self.remove(key, name)
        return super().items(key, start, stop)


def test_a_listing_shows_each_job_once_when_another_worker_evicts_while_it_reads() -> None:
    evicting = _EvictingStore(evicted=10)
    store = JobStore(lambda: 0.0, store=evicting)
    for index in range(2 * NEWEST_CHUNK):
        store.add(_job(f"job-{index}", None))
    listed, _ = store.newest(None)
    ids = [job.id for job in listed]
    assert evicting.reads >= 2 and len(ids) == len(set(ids))
    # the newest chunk as it was, then what the eviction left of the older one
    assert ids == [f"job-{n}" for n in range(2 * NEWEST_CHUNK - 1, 9, -1)]


# --- 10. API keys are masked in admin views -------------------------------------------------------


def test_admin_views_mask_api_keys(mock: Mock) -> None:
    key = "sk-live-0123456789abcdef"
    assert mock.client.post(f"{NA}/from-link", headers={"X-API-Key": key}, json=LINK).is_success
    journal = mock.client.get("/__mock__/journal").text
    dashboard = mock.client.get("/__mock__/dashboard").text
    for view in (journal, dashboard):
        assert key not in view
        assert "sk-l…cdef" in view
    filtered = mock.client.get("/__mock__/journal", params={"tenant": key}).json()["entries"]
    assert len(filtered) == 1  # the filter takes the real key


# --- 11. job IDs are never reused, across restarts either -----------------------------------------


def _first_id(app: Any) -> str:
    with TestClient(app) as client:
        answer = client.post(f"{NA}/from-link", headers={"X-API-Key": "k"}, json=LINK)
        return answer.json()["audio_id"]


def test_a_restarted_server_does_not_reuse_job_ids() -> None:
    config = {"clock": "manual", "seed": 1}
    in_process = [_first_id(create_app(ServerConfig(**config))) for _ in range(2)]
    assert in_process[0] == in_process[1]  # in-process: the seed alone, reproducible
    served = [_first_id(build_app(ServerConfig(**config))) for _ in range(2)]
    assert served[0] != served[1]  # each start of `serve` salts its IDs


# --- helpers: a real `mockserver serve` ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _serve:
    """`mockserver serve ARGS` in a subprocess, killed if still running at the end."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "mockserver.cli", "serve", "--clock", "system", *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )

    def __enter__(self) -> subprocess.Popen[str]:
        return self.process

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


def _banner(server: subprocess.Popen[str]) -> str:
    """The lines `serve` prints up to uvicorn's ready line."""
    assert server.stdout is not None
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Uvicorn running" in line or "Application startup complete" in line:
            return "".join(lines)
    raise AssertionError("the server did not start:\n" + "".join(lines))


# --- the documented settings ---------------------------------------------------------------------


def test_the_documented_config_file_and_flags_set_the_limits(tmp_path: Any) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "security-and-limits.md").read_text()
    toml = doc.split("```toml\n")[1].split("```")[0]
    (tmp_path / "limits.toml").write_text(toml)
    config = ServerConfig.from_file(tmp_path / "limits.toml")
    assert (config.max_upload_bytes, config.upload_limits) == (524_288_000, {"camb": 50_000_000})
    assert (config.admin_token, config.admin_hosts) == ("team-secret", ["mock.internal"])
    args = build_parser().parse_args(
        ["serve", "--max-upload-bytes", "1000", "--admin-token", "t0ken"]
    )
    flagged = config_from(args)
    assert (flagged.max_upload_bytes, flagged.admin_token) == (1000, "t0ken")
    with TestClient(create_app(config)) as client:
        local = client.get("/__mock__/health", headers={"Host": "mock.internal"})
        assert local.status_code == 401  # a given token is required on loopback too
        assert client.get("/__mock__/health", params={"token": "team-secret"}).status_code == 200
    tokenless = ServerConfig(admin_hosts=["mock.internal"])
    with TestClient(create_app(tokenless)) as client:
        assert client.get("/__mock__/health", headers={"Host": "mock.internal"}).is_success
        assert client.get("/__mock__/health", headers={"Host": "mock.example"}).status_code == 403


def test_the_dashboard_passes_its_token_to_its_buttons() -> None:
    with TestClient(create_app(ServerConfig(admin_token="t0ken"))) as client:
        page = client.get("/__mock__/dashboard", params={"token": "t0ken"}).text
        assert 'get("token")' in page and '"X-Mock-Admin-Token"' in page
        moved = client.post(
            "/__mock__/clock/advance", json={"seconds": 10}, headers={"X-Mock-Admin-Token": "t0ken"}
        )
        assert moved.status_code == 200


def test_deep_json_inside_a_form_field_is_a_422(mock: Mock) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    answer = mock.client.post(
        f"{NL}/extract", headers=mock.headers("neurolinker"), data={"form": deep}
    )
    assert answer.status_code == 422
    assert mock.client.get("/__mock__/journal").status_code == 200


def test_eviction_tells_of_each_ended_job_before_it_forgets_it() -> None:
    clock = [20.0]  # the finished jobs ended at 10.0; the stalled ones never do
    store = JobStore(lambda: clock[0], capacity=2)
    told: list[tuple[str, float, bool]] = []
    store.on_evict = lambda job, now: told.append((job.id, now, store.lookup(job.id) is not None))
    store.add(_job("stalled", None))
    for index in range(3):
        store.add(_job(f"done-{index}", Outcome("completed")))
    assert told == [("done-0", 20.0, True), ("done-1", 20.0, True)]  # still there when told
    assert [job.id for job in store.jobs()] == ["stalled", "done-2"]


def test_the_app_asks_an_evicted_jobs_own_api_what_it_still_owes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Neural Draft makes the webhook events of a job the clock ended before a tick could:
    eviction reaches it through the app, for its own jobs alone."""
    app = create_app(ServerConfig(clock="manual", store_capacity=1))
    told: list[tuple[str, str]] = []
    for name, service in app.state.services.items():
        monkeypatch.setattr(
            service, "evicting", lambda job, now, name=name: told.append((name, job.api))
        )
    state = app.state.mock
    state.store.add(_job("first", Outcome("completed")))
    state.clock.advance(60)
    state.store.add(_job("second", Outcome("completed")))
    assert told == [("neuralanalog", "neuralanalog")]
