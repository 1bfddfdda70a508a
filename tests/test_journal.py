"""The journal on the memory store and on one that encodes every value (as SQLite and Redis
do): what it keeps, filters, clears, counts and bounds."""

from __future__ import annotations

import json
import math
import tracemalloc
from typing import Any

import pytest
from starlette.responses import JSONResponse

from mockserver.contracts import Violation
from mockserver.engine.journal import BODY_LIMIT, VIOLATION_TEXT, Entry, Journal
from mockserver.limits import MAX_HOST, MAX_TARGET
from mockserver.service import ApiJSONResponse, render_json
from mockserver.stores import MemoryStore, StateStore
from mockserver.stores.codec import dumps, loads
from tests.conftest import Mock
from tests.encoding_store import EncodingStore, state_store

__all__ = ["state_store"]  # the fixture: every test here runs on both stores
NA = "/neuralanalog"


def entry(tenant: str = "t", api: str = "neuralanalog", body: bytes = b"") -> Entry:
    return Entry("req_1", 1.0, api, tenant, "POST", "/from-link", "", request_body=body)


def journal_on(state_store: StateStore | None, size: int = 100, max_bytes: int = 1 << 30):
    return Journal(size, max_bytes, state_store or MemoryStore())


def test_requests_are_kept_with_their_bodies_and_violations(mock: Mock) -> None:
    headers = mock.headers("neuralanalog")
    created = mock.client.post(f"{NA}/from-link", headers=headers, json={"url": "https://x/a"})
    audio_id = created.json()["audio_id"]
    mock.client.get(f"{NA}/status/audio/{audio_id}", headers=headers, params={"v": "1"})
    mock.client.post(f"{NA}/from-link", headers=headers, json={"url": 1})  # not a URL
    mock.client.get(f"{NA}/status/audio/{audio_id}", headers=mock.headers("neuralanalog", "b"))
    mine = mock.state.journal.entries("neuralanalog", mock.key)
    assert [(e.method, e.path, e.query, e.status) for e in mine] == [
        ("POST", "/from-link", "", 200),
        ("GET", f"/status/audio/{audio_id}", "v=1", 200),
        ("POST", "/from-link", "", 422),
    ]
    shown = mine[0].as_dict()
    assert shown["request"] == {"url": "https://x/a"}
    assert shown["response"]["audio_id"] == audio_id
    assert [v["pointer"] for v in mock.state.journal.violations(tenant=mock.key)] == ["/body/url"]
    assert len(mock.state.journal.entries()) == 4
    assert [e.path for e in mock.state.journal.entries(limit=1)] == [f"/status/audio/{audio_id}"]


def test_a_body_is_kept_once_whether_or_not_the_handler_reads_it_again(mock: Mock) -> None:
    """The body limits read a JSON body before anyone else: the journal keeps it from there,
    byte for byte, and a handler reading it again (an idempotent replay reads the raw body)
    adds nothing to it."""
    sent = b'{"type": "ai", "topic": "Cold brew"}'
    headers = {**mock.headers("neuraldraft"), "Content-Type": "application/json"}
    plain = mock.client.post("/neuraldraft/v1/blog-posts", headers=headers, content=sent)
    again = {**headers, "Idempotency-Key": "once"}
    replayed = mock.client.post("/neuraldraft/v1/blog-posts", headers=again, content=sent)
    assert (plain.status_code, replayed.status_code) == (202, 202)
    kept = mock.state.journal.entries("neuraldraft")
    assert [(e.request_body, e.request_size) for e in kept] == [(sent, len(sent))] * 2


def test_the_journal_and_the_handler_read_the_same_of_a_repeated_header(mock: Mock) -> None:
    """Two API key headers: the journal's tenant is the key the job was made for (the first,
    as Starlette's `Headers` reads it), not the other one."""
    headers = [("x-api-key", "first"), ("x-api-key", "second")]
    created = mock.client.post(f"{NA}/from-link", headers=headers, json={"url": "https://x/a"})
    audio_id = created.json()["audio_id"]
    status = mock.client.get(f"{NA}/status/audio/{audio_id}", headers={"x-api-key": "first"})
    assert status.status_code == 200
    assert [e.tenant for e in mock.state.journal.entries("neuralanalog")][:1] == ["first"]


def test_a_filtered_clear_hides_only_what_it_names(mock: Mock) -> None:
    def ask(key: str) -> None:
        headers = mock.headers("neuralanalog", key)
        mock.client.post(f"{NA}/from-link", headers=headers, json={"url": "https://x/a"})

    ask("one")
    ask("two")
    journal = mock.state.journal
    assert mock.client.delete("/__mock__/journal", params={"tenant": "one"}).status_code == 200
    assert [e.tenant for e in journal.entries("neuralanalog")] == ["two"]
    ask("one")  # what comes after a clear is shown
    assert [e.tenant for e in journal.entries()] == ["two", "one"]
    journal.clear(api="neuralanalog")
    assert journal.entries() == []
    ask("two")
    journal.clear(api="camb")  # another API's clear hides none of these
    assert [e.tenant for e in journal.entries()] == ["two"]
    journal.clear()
    assert journal.entries() == [] and journal.recorded == 4


def test_recorded_counts_every_request_across_clears_and_resets(mock: Mock) -> None:
    journal = mock.state.journal
    for _ in range(3):
        mock.client.get(f"{NA}/status/audio/nope", headers=mock.headers("neuralanalog"))
    journal.clear()
    assert mock.client.post("/__mock__/reset").status_code == 200
    assert journal.recorded == 3 and journal.entries() == []
    mock.client.get(f"{NA}/status/audio/nope", headers=mock.headers("neuralanalog"))
    assert journal.recorded == 4
    assert [e.number for e in journal.entries()] == [4]


def test_the_oldest_entries_go_past_the_size(state_store: StateStore | None) -> None:
    journal = journal_on(state_store, size=3)
    for tenant in "abcde":
        journal.record(entry(tenant))
    assert [e.tenant for e in journal.entries()] == ["c", "d", "e"]


def test_the_byte_budget_is_exact_on_the_memory_store() -> None:
    cost = entry(body=b"x" * 1000).cost
    journal = journal_on(None, max_bytes=3 * cost + 10)
    for tenant in "abcde":
        journal.record(entry(tenant, body=b"x" * 1000))
    assert [e.tenant for e in journal.entries()] == ["c", "d", "e"]
    assert journal.bytes == 3 * cost
    journal.record(entry("f", body=b"x" * (4 * cost)))  # alone past the budget: kept by none
    assert journal.entries() == [] and journal.bytes == 0


def test_a_shared_store_bounds_the_journal_per_entry() -> None:
    journal = journal_on(EncodingStore(), size=4, max_bytes=1)
    for tenant in "abcde":
        journal.record(entry(tenant, body=b"x" * BODY_LIMIT))
    assert [e.tenant for e in journal.entries()] == ["b", "c", "d", "e"]
    assert all(e.cost <= Journal.MOST for e in journal.entries())


def test_a_request_target_past_16_kib_is_refused_as_h11_refuses_it(mock: Mock) -> None:
    """Path and query are keys of the route and poll caches: httptools takes them at any
    length; the mock answers as uvicorn's h11 server answers a head past its 16 KiB."""
    headers = mock.headers("neuralanalog")
    path = f"{NA}/status/audio/nope?q="
    fits = path + "x" * (MAX_TARGET - len(path) + 1)  # the `?` is neither path nor query
    assert mock.client.get(fits, headers=headers).status_code == 404
    (kept,) = mock.state.journal.entries()
    assert kept.query == fits.split("?")[1]
    refused = mock.client.get(fits + "x", headers=headers)
    assert (refused.status_code, refused.text) == (400, "Invalid HTTP request received.")
    host = mock.client.get(path, headers={**headers, "Host": "h" * (MAX_HOST + 1)})
    assert (host.status_code, host.text) == (400, "Invalid HTTP request received.")
    assert len(mock.state.journal.entries()) == 1  # refused before any layer kept them


def test_texts_of_any_length_are_kept_cut_and_counted(mock: Mock) -> None:
    """httptools takes a header of any length: a megabyte content type or key used to be
    kept whole, past the byte budget's count and the shared store's bound per entry."""
    long = "x" * (64 * BODY_LIMIT)
    headers = {"X-API-Key": long, "Content-Type": long}
    refused = mock.client.post(f"{NA}/from-link", headers=headers, content=b"{}")
    assert refused.status_code == 401
    (kept,) = mock.state.journal.entries()
    cut = "x" * (BODY_LIMIT - 1) + "…"
    assert (kept.tenant, kept.request_type) == (cut, cut)
    assert mock.state.journal.entries(tenant=cut[:4096]) == []  # a cut key is no real key's
    assert kept.cost <= Journal.MOST
    assert mock.state.journal.bytes == kept.cost


def test_a_violation_is_kept_with_its_texts_cut(mock: Mock) -> None:
    """A pointer and a message name the field, whose name may be any length."""
    name = "k" * (4 * BODY_LIMIT)
    headers = mock.headers("neuralanalog")
    mock.client.post(f"{NA}/from-link", headers=headers, json={"url": "https://x/a.wav", name: 1})
    (kept,) = mock.state.journal.entries()
    (violation,) = kept.violations
    assert violation.kind == "extra_forbidden"
    assert len(violation.pointer) == len(violation.message) == VIOLATION_TEXT + len("...")
    assert kept.cost <= Journal.MOST


def test_an_entry_comes_back_from_its_encoding_as_it_was() -> None:
    original = Entry(
        "req_2",
        2.5,
        "neurolinker",
        "nl_key",
        "POST",
        "/api/v1/documents",
        "a=1",
        request_body=bytes(range(256)),
        request_type="multipart/form-data; boundary=x",
        status=422,
        response_body=b'{"detail": []}',
        response_type="application/json",
        violations=[Violation("upload", "/body/file", "missing", math.nan, "missing", {"a": 1})],
        request_size=9000,
        request_parts=[{"name": "file", "filename": "a.pdf", "size": 9000}],
        retry_after="3",
        number=7,
    )
    again = loads(dumps(original))
    assert again.as_dict() == original.as_dict()
    assert (again.request_body, again.number, again.retry_after) == (bytes(range(256)), 7, "3")
    assert again.violations[0].kind == "missing" and again.violations[0].ctx == {"a": 1}


@pytest.mark.parametrize("limit", [0, 2])
def test_a_limit_keeps_the_latest(state_store: StateStore | None, limit: int) -> None:
    journal = journal_on(state_store)
    for tenant in "abc":
        journal.record(entry(tenant))
    expected = ["a", "b", "c"][-limit:] if limit else ["a", "b", "c"]
    assert [e.tenant for e in journal.entries(limit=limit)] == expected


@pytest.mark.parametrize(
    "content",
    [
        {"id": "job_1", "steps": [{"name": "write", "completed": False}], "progress": 0},
        {"text": "naïve café ✓ \u2028", "nested": [[1, 2.5, None, True]], "empty": {}},
        [0.1, -3, 123456.789, 0.0],
    ],
)
def test_answers_are_written_as_starlettes_json_response_writes_them(content: Any) -> None:
    assert render_json(content) == JSONResponse(content).body


def test_what_orjson_refuses_is_written_by_the_standard_encoder() -> None:
    content = {"big": 2**70, 3: "an integer key"}
    assert render_json(content) == b'{"big":1180591620717411303424,"3":"an integer key"}'


def test_a_float_with_an_exponent_is_spelled_differently_but_reads_the_same() -> None:
    numbers = [1e-7, 1e16, 2.5e-300]
    assert render_json(numbers) == b"[1e-7,1e+16,2.5e-300]"  # the standard encoder: 1e-07
    assert json.loads(render_json(numbers)) == numbers


def test_an_answer_kept_by_the_journal_holds_no_more_memory_than_its_bytes() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [render_json({"audio_id": str(n), "status": "in_progress"}) for n in range(100)]
        held = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert held < 200  # orjson's own bytes held a 4 KiB buffer each


@pytest.mark.parametrize(
    ("status", "headers"), [(200, None), (202, None), (204, None), (404, {"X-Extra": "1"})]
)
def test_an_api_json_response_has_the_headers_starlettes_has(
    status: int, headers: dict[str, str] | None
) -> None:
    content = {"id": "job_1", "status": "pending"}
    ours = ApiJSONResponse(content, status, headers=headers)
    theirs = JSONResponse(content, status, headers=headers)
    assert ours.raw_headers == theirs.raw_headers
