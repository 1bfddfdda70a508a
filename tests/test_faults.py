"""Fault injection, seen by a client: latency, 429 windows, 5xx, resets, stalls, payload variety.

Neural Analog is the API under test (creates: `POST /from-link`; status: `GET /status/...`).
Every answer, faulted or not, is checked against the contract by the fixtures.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import anyio
import httpx
import pytest
import requests
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, create_app
from mockserver.apis import services as api_services
from mockserver.contracts import load
from mockserver.contracts.strategies.seeded import DRAWING
from mockserver.engine.journal import mask
from mockserver.faults import FaultBook, FaultError, InjectedReset, book
from mockserver.faults.book import MAX_RULES
from mockserver.faults.variety import faithful_schema
from mockserver.request import MAX_KEY_LENGTH
from mockserver.stores import MemoryStore, StateStore
from tests.conftest import Live, Mock, make_mock
from tests.encoding_store import EncodingStore, state_store

__all__ = ["state_store"]  # the fixture: the tests on `mock` run on memory and encoded

NA = "/neuralanalog"
LINK = {"url": "https://example.com/take.mp3"}


class Client:
    """Neural Analog through the in-process app with one key."""

    def __init__(self, mock: Mock, key: str | None = None) -> None:
        self.mock = mock
        self.key = key or mock.key
        self.headers = mock.headers("neuralanalog", self.key)

    def create(self, scenario: str | None = None) -> Any:
        extra = {"X-Mock-Scenario": scenario} if scenario else {}
        return self.mock.client.post(
            f"{NA}/from-link", headers={**self.headers, **extra}, json=LINK
        )

    def created(self, scenario: str | None = None) -> str:
        response = self.create(scenario)
        assert response.status_code == 200, response.text
        return response.json()["audio_id"]

    def status(self, audio_id: str) -> Any:
        return self.mock.client.get(f"{NA}/status/audio/{audio_id}", headers=self.headers)

    def jobs(self) -> list[Any]:
        return list(self.mock.state.store.jobs("neuralanalog", self.key))


def add(mock: Mock, **rule: Any) -> str:
    response = mock.client.post("/__mock__/faults", json=rule)
    assert response.status_code == 201, response.text
    return response.json()["faults"][0]["id"]


@contextlib.contextmanager
def fresh_mock(store: StateStore | None = None, **config: Any) -> Iterator[Mock]:
    yield from make_mock(store, **config)


# --- latency ----------------------------------------------------------------------------------


def test_latency_delays_the_answer_and_never_moves_the_shared_clock(mock: Mock) -> None:
    client = Client(mock)
    add(mock, fault="latency", delay=0.2, tenant=client.key, operation="get_status")
    start = mock.state.now()
    audio_id = client.created()
    began = time.perf_counter()
    body = client.status(audio_id).json()
    assert time.perf_counter() - began >= 0.19  # a manual clock stands still: real seconds
    assert mock.state.now() == start  # nobody else's time moved
    assert body["status"] == "in_progress"


def test_a_scenario_latency_cannot_move_the_clock_a_day(mock: Mock) -> None:
    client = Client(mock)
    start = mock.state.now()
    with fresh_mock(max_fault_delay=0.05) as capped:
        began = time.perf_counter()
        answer = Client(capped).create("completed; fault=latency; delay=3600")
        assert answer.status_code == 200
        assert time.perf_counter() - began < 5  # held at most max_fault_delay real seconds
        assert capped.state.now() == start  # both servers start at the same manual instant
    for delay in ("86400", "1e308", "nan", "inf"):
        refused = client.create(f"completed; fault=latency; delay={delay}")
        assert refused.status_code == 400
        assert "delay" in refused.json()["detail"]
    assert mock.state.now() == start
    assert mock.client.get("/__mock__/health").status_code == 200


def test_latency_waits_real_time_on_a_running_clock() -> None:
    config = ServerConfig(clock="system", time_scale=100.0)
    config.faults = [{"fault": "latency", "delay": 20}]
    with TestClient(create_app(config)) as client:
        began = time.perf_counter()
        answer = client.post(f"{NA}/from-link", headers={"X-API-Key": "k"}, json=LINK)
        assert answer.status_code == 200
        assert time.perf_counter() - began >= 0.19  # 20 s of server time at 100x


# --- 429 --------------------------------------------------------------------------------------


def test_429_keeps_refusing_within_its_retry_after_window(mock: Mock) -> None:
    client = Client(mock)
    add(mock, fault="429", retry_after=5, times=1, tenant=client.key, operation="import_from_link")
    first = client.create()
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "5"
    assert "retry in 5 s" in first.json()["detail"]
    mock.advance(2)  # a client that ignores Retry-After
    early = client.create()
    assert (early.status_code, early.headers["Retry-After"]) == (429, "3")
    assert client.jobs() == []  # refused before the handler: nothing stored
    mock.advance(3)
    assert client.create().status_code == 200
    assert client.create().status_code == 200  # one window only (times=1)
    assert len(client.jobs()) == 2


def test_429_window_closes_in_real_time_though_a_manual_clock_stands_still(
    mock: Mock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SDK that honours `Retry-After` sleeps in real time: on the manual clock its window
    never closed, and every retry of an SDK was refused again (camb-sdk's three attempts)."""
    real = [1_000_000.0]
    monkeypatch.setattr(book, "time", SimpleNamespace(time=lambda: real[0]))
    client = Client(mock)
    add(mock, fault="429", retry_after=2, times=1, tenant=client.key, operation="import_from_link")
    assert client.create().status_code == 429
    real[0] += 1.5  # the SDK slept; the server clock did not move
    early = client.create()
    assert (early.status_code, early.headers["Retry-After"]) == (429, "1")
    real[0] += 0.5
    assert client.create().status_code == 200
    assert client.create().status_code == 200  # one window only (times=1)


def test_429_without_times_throttles_for_good(mock: Mock) -> None:
    client = Client(mock)
    add(mock, fault="429", retry_after=1, tenant=client.key)
    for _ in range(3):
        assert client.create().status_code == 429
        mock.advance(1)
    assert client.jobs() == []


# --- 5xx --------------------------------------------------------------------------------------


def test_5xx_in_the_api_format_then_recovery(mock: Mock) -> None:
    client = Client(mock)
    audio_id = client.created()
    add(mock, fault="500", times=1, tenant=client.key, operation="get_status")
    add(mock, fault="503", retry_after=4, times=1, tenant=client.key, operation="get_status")
    failed = client.status(audio_id)
    assert failed.status_code == 500
    assert failed.json() == {"detail": "Internal Server Error (fault injected by the mock)"}
    unavailable = client.status(audio_id)
    assert (unavailable.status_code, unavailable.headers["Retry-After"]) == (503, "4")
    assert client.status(audio_id).status_code == 200


def test_an_error_fires_only_where_the_contract_documents_it(mock: Mock) -> None:
    """Camb's own document lists no 503: a rule for all of Camb passes it by."""
    add(mock, fault="503", api="camb")
    headers = mock.headers("camb")
    assert mock.client.get("/camb/apis/openapi.json", headers=headers).status_code == 200
    assert mock.client.get("/camb/apis/audio-separation/1", headers=headers).status_code == 503


# --- connection reset -------------------------------------------------------------------------


def test_reset_drops_the_connection_of_a_live_server(live: Live) -> None:
    key = f"key-{uuid4().hex}"
    faults = live.state.faults
    rule = faults.add({"fault": "reset", "times": 1, "tenant": key})
    try:
        with pytest.raises(requests.ConnectionError) as raised:
            requests.post(f"{live.url}{NA}/from-link", headers={"X-API-Key": key}, json=LINK)
        assert isinstance(raised.value.args[0].args[1], ConnectionResetError)
        assert list(live.state.store.jobs("neuralanalog", key)) == []
        retried = requests.post(f"{live.url}{NA}/from-link", headers={"X-API-Key": key}, json=LINK)
        assert retried.status_code == 200
    finally:
        faults.remove(rule.id)
    statuses = [entry.status for entry in live.state.journal.entries("neuralanalog", key)]
    assert 0 in statuses  # the journal shows the dropped request, without an answer
    assert len(list(live.state.store.jobs("neuralanalog", key))) == 1


def test_reset_in_process_raises_connection_reset(mock: Mock) -> None:
    client = Client(mock)
    add(mock, fault="reset", times=1, tenant=client.key)
    with pytest.raises(ConnectionResetError):
        client.create()
    assert isinstance(InjectedReset(), ConnectionResetError)
    assert client.create().status_code == 200
    assert len(client.jobs()) == 1


def test_reset_for_a_transport_that_keeps_app_errors_is_a_500_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(ServerConfig(clock="manual"))
    app.state.mock.faults.add({"fault": "reset", "times": 1})
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(f"{NA}/from-link", headers={"X-API-Key": "k"}, json=LINK)
    assert answer.status_code == 500
    assert "connection reset by the mock" in answer.json()["detail"]
    assert not any(record.exc_info for record in caplog.records)
    assert list(app.state.mock.store.jobs("neuralanalog", "k")) == []


# --- stalled jobs -----------------------------------------------------------------------------


def test_stall_rule_makes_created_jobs_never_finish(mock: Mock) -> None:
    client = Client(mock)
    rule = add(mock, fault="stall", tenant=client.key)
    audio_id = client.created()
    mock.advance(100_000)
    body = client.status(audio_id).json()
    assert (body["status"], body["is_complete"], body["is_failed"]) == ("in_progress", False, False)
    fired = mock.client.get("/__mock__/faults").json()["faults"][0]
    assert (fired["id"], fired["fired"]) == (rule, {mask(client.key): 1})  # creates only


def test_stall_as_a_scenario_option(mock: Mock) -> None:
    client = Client(mock)
    audio_id = client.created("completed; fault=stall")
    mock.advance(100_000)
    assert client.status(audio_id).json()["status"] == "in_progress"


# --- payload variety --------------------------------------------------------------------------


def varied_bodies(seed: int, payload: str = "faithful") -> list[dict[str, Any]]:
    """Status answers of one import polled through its life, with a variety rule."""
    with fresh_mock() as mock:
        client = Client(mock, "variety-key")  # IDs are seeded per tenant
        add(mock, fault="variety", seed=seed, payload=payload, operation="get_status")
        audio_id = client.created()
        bodies = []
        for _ in range(4):
            response = client.status(audio_id)
            assert response.status_code == 200
            bodies.append(json.loads(response.content))
            mock.advance(8)
        return bodies


def test_faithful_variety_keeps_the_truth_and_varies_the_rest() -> None:
    bodies = varied_bodies(seed=5)
    running, done = bodies[:3], bodies[3]
    assert {body["status"] for body in running} == {"processing"}  # never sent by the mock
    assert all(not b["is_complete"] and not b["is_failed"] for b in running)
    assert len({b["object_id"] for b in bodies}) == 1
    assert done["status"] == "completed" and done["download_url"].endswith(done["object_id"])
    assert any(
        b["status_details"] not in (None, "Receiving audio", "Analysing audio") for b in running
    )


def test_variety_is_deterministic_per_seed() -> None:
    assert varied_bodies(seed=5) == varied_bodies(seed=5)
    assert varied_bodies(seed=5) != varied_bodies(seed=6)


def test_replace_serves_any_contract_valid_payload() -> None:
    bodies = varied_bodies(seed=1, payload="replace")
    assert bodies == varied_bodies(seed=1, payload="replace")
    assert len({b["object_id"] for b in bodies}) > 1  # not about the job at all


def test_faithful_schema_pins_ids_and_terminal_words() -> None:
    contract = load("neuralanalog")
    schema = {"$ref": "#/components/schemas/StatusResponse"}
    real = {"status": "failed", "object_id": "x", "error_message": "gone"}
    pins = faithful_schema(contract, schema, real, ("completed", "failed"))["allOf"][1]
    assert pins["properties"]["status"] == {"const": "failed"}
    assert pins["properties"]["object_id"] == {"const": "x"}
    assert pins["properties"]["error_message"] == {"type": "string"}
    assert pins["properties"]["stems"] is False  # no key the real answer lacks


# --- targeting --------------------------------------------------------------------------------


def test_rules_target_api_operation_and_tenant(mock: Mock) -> None:
    client, other = Client(mock), Client(mock, f"other-{uuid4().hex}")
    add(mock, fault="500", api="camb")
    add(mock, fault="503", api="neuralanalog", tenant=client.key, operation="get_status")
    audio_id = client.created()  # another API's rule, another operation's: not faulted
    assert client.status(audio_id).status_code == 503
    assert other.status(other.created()).status_code == 200  # another tenant


def test_rules_target_a_scenario(mock: Mock) -> None:
    client = Client(mock)
    add(mock, fault="500", scenario="failed", operation="get_status", tenant=client.key)
    doomed, fine = client.created("failed"), client.created("completed")
    assert client.status(doomed).status_code == 500  # the job's scenario is failed
    assert client.status(fine).status_code == 200


def test_scenario_option_fault_fires_once_then_the_outcome_happens(mock: Mock) -> None:
    client = Client(mock)
    scenario = "completed; fault=503; retry_after=2"
    refused = client.create(scenario)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "2")
    audio_id = client.created(scenario)
    mock.advance(60)
    assert client.status(audio_id).json()["status"] == "completed"


def test_a_misspelt_key_of_a_header_fault_is_a_400_before_the_fault_fires(mock: Mock) -> None:
    """`tmes=2` used to be dropped: the 503 fired on every request instead of twice."""
    client = Client(mock)
    refused = client.create("completed; fault=503; tmes=2")
    assert refused.status_code == 400
    assert "unknown scenario option 'tmes' for neuralanalog" in refused.json()["detail"]


def test_queued_scenario_fault_keeps_the_queue_until_a_job_exists(mock: Mock) -> None:
    client = Client(mock)
    queued = {"api": "neuralanalog", "outcome": "failed", "tenant": client.key}
    queued |= {"fault": "429", "retry_after": 3}
    assert mock.client.post("/__mock__/scenarios", json=queued).status_code == 201
    assert client.create().status_code == 429
    assert len(mock.client.get("/__mock__/scenarios").json()["queued"]) == 1
    mock.advance(3)
    audio_id = client.created()
    assert mock.client.get("/__mock__/scenarios").json()["queued"] == []
    mock.advance(60)
    assert client.status(audio_id).json()["status"] == "failed"  # the window was used up


def test_key_bound_scenario_fault(state_store: StateStore | None) -> None:
    keys = {"flaky": {"scenario": "completed; fault=500; times=2"}}
    with fresh_mock(state_store, keys=keys) as mock:
        client = Client(mock, "flaky")
        assert [client.create().status_code for _ in range(3)] == [500, 500, 200]


# --- admin and config -------------------------------------------------------------------------


def test_admin_faults_endpoints(mock: Mock) -> None:
    admin = "/__mock__/faults"
    added = mock.client.post(admin, json={"faults": [{"fault": "latency"}, {"fault": "503"}]})
    assert added.status_code == 201
    first, second = added.json()["faults"]
    assert (first["fault"], first["delay"]) == ("latency", 1.0)
    assert (second["fault"], second["status"], second["times"]) == ("error", 503, None)
    assert [r["id"] for r in mock.client.get(admin).json()["faults"]] == [first["id"], second["id"]]
    assert mock.client.delete(f"{admin}/{first['id']}").json() == {"deleted": first["id"]}
    assert mock.client.delete(f"{admin}/{first['id']}").status_code == 404
    assert mock.client.delete(admin).json() == {"faults": []}
    assert mock.client.get(admin).json() == {"faults": []}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"fault": "boom"}, "unknown fault 'boom'"),
        ({"fault": "429", "retry_after": 0}, "'retry_after' must be a whole number from 1"),
        ({"fault": "429", "times": 10**300}, "'times' must be a whole number from 1 to"),
        ({"fault": "429", "times": "٥"}, "'times' must be a number (got '٥')"),
        ({"fault": "latency", "delay": 1e308}, "'delay' must be from 0 to 3600"),
        ({"fault": "latency", "delay": "nan"}, "'delay' must be a number"),
        ({"fault": "500", "operation": "get_status", "api": "camb"}, "not an operationId of camb"),
        ({"fault": "variety", "payload": "any"}, "'payload' must be one of"),
        ({"fault": "500", "rate": 2}, "'rate' must be in (0, 1]"),
        ({"fault": "500", "colour": "red"}, "unknown fault rule key 'colour'"),
        (  # a rule no scenario can match would never fire
            {"fault": "500", "api": "camb", "scenario": "failed"},
            "'scenario' 'failed' is not an outcome of camb; known: error, payment_required, "
            "stalled, success, timeout",
        ),
        ({"fault": "500", "scenario": "faild"}, "'scenario' 'faild' is not an outcome of any API"),
        ({"faults": [{"fault": "500"}, {"fault": "nope"}]}, "unknown fault 'nope'"),
        (  # '²' passed str.isdigit and failed int(); '٥٠٣' was taken as 503
            {"fault": "²"},
            "unknown fault '²' in 'fault'; known: latency, 429 (rate_limit), 500 to 599 (error), "
            "reset, stall, variety",
        ),
        ({"fault": "٥٠٣"}, "unknown fault '٥٠٣' in 'fault'; known: latency"),
        ({"fault": "x" * 100_000}, "unknown fault 'xxxxxxxxxx"),
        ({"fault": "latency", "status": 404}, "'status' does not apply to latency faults"),
        ({"fault": "503", "status": 500}, "'status' does not apply: 'fault' '503' names"),
        ({"fault": "429", "delay": 2}, "'delay' does not apply to rate_limit faults"),
        ({"fault": "reset", "seed": 2}, "'seed' does not apply to reset faults; they take none"),
        ({"fault": "500", "payload": "replace"}, "'payload' does not apply to error faults"),
        ({"fault": "latency", "faults": [{"fault": "503"}]}, "'faults' takes no keys beside it"),
        ({"fault": "latency", "tenant": "k" * 4097}, "'tenant' must be an API key of at most 4096"),
    ],
)
def test_admin_refuses_bad_rules(mock: Mock, rule: dict[str, Any], message: str) -> None:
    response = mock.client.post("/__mock__/faults", json=rule)
    assert response.status_code == 422
    assert message in response.json()["error"]
    assert len(response.json()["error"]) < 400  # a long value is cut short
    assert mock.client.get("/__mock__/faults").json() == {"faults": []}  # all or nothing


@pytest.mark.parametrize("operation", [[], "", " , ", [" "]])
def test_a_rule_naming_no_operation_is_refused_not_fired_everywhere(
    mock: Mock, operation: Any
) -> None:
    """`"operation": []` was taken (201) as "every operation", as if it were left out."""
    refused = mock.client.post("/__mock__/faults", json={"fault": "503", "operation": operation})
    assert refused.status_code == 422
    assert refused.json()["error"] == (
        f"'operation' must name at least one operationId (got {operation!r}); leave it out "
        "for every operation"
    )
    assert mock.client.get("/__mock__/faults").json() == {"faults": []}
    assert Client(mock).create().status_code == 200
    if isinstance(operation, str):  # as a scenario's option, which is text: its 400
        header = Client(mock).create(f"completed; fault=503; operation={operation}")
        assert header.status_code == 400
        assert "X-Mock-Scenario: 'operation' must name at least one operationId" in header.text


def test_a_rule_listing_shows_a_left_out_operation_as_null(mock: Mock) -> None:
    """It was listed as `[]`, which reads as a list of none, and cannot be posted back."""
    admin = "/__mock__/faults"
    everywhere = {"fault": "503", "tenant": "k"}
    named = {"fault": "503", "operation": ["get_status"], "tenant": "k"}
    assert mock.client.post(admin, json={"faults": [everywhere, named]}).status_code == 201
    listed = mock.client.get(admin).json()["faults"]
    assert [rule["operation"] for rule in listed] == [None, ["get_status"]]
    again = {"fault": "503", "operation": listed[0]["operation"], "tenant": "k"}
    assert mock.client.post(admin, json=again).json()["faults"][0]["operation"] is None


def test_a_header_fault_with_a_key_of_another_kind_is_a_400(mock: Mock) -> None:
    """`delay=2` on a 503 was ignored: the author meant something the rule did not do."""
    refused = Client(mock).create("completed; fault=503; delay=2")
    assert refused.status_code == 400
    assert "'delay' does not apply to error faults; they take status, retry_after" in refused.text


def test_a_tenant_of_the_longest_api_key_is_taken(mock: Mock) -> None:
    add(mock, fault="latency", tenant="k" * MAX_KEY_LENGTH)


def test_fault_rules_are_bounded_all_or_nothing(mock: Mock) -> None:
    """Every request of an API is matched against every rule."""
    admin = "/__mock__/faults"
    one_too_many = mock.client.post(admin, json={"faults": [{"fault": "latency"}] * 1001})
    assert one_too_many.status_code == 422
    assert one_too_many.json() == {
        "error": "at most 1000 fault rules at once: 0 are held, 1001 more do not fit "
        "(DELETE /__mock__/faults removes them)"
    }
    assert mock.client.get(admin).json() == {"faults": []}
    filled = mock.client.post(admin, json={"faults": [{"fault": "latency"}] * MAX_RULES})
    assert filled.status_code == 201
    assert mock.client.post(admin, json={"fault": "503"}).status_code == 422
    assert len(mock.client.get(admin).json()["faults"]) == MAX_RULES
    with pytest.raises(FaultError, match="at most 1000 fault rules"):
        FaultBook([{"fault": "latency"}] * 1001)


def test_a_fault_rule_id_is_never_given_twice(state_store: StateStore | None) -> None:
    """A stale `DELETE /faults/fault-2` after a reset must not remove another rule."""
    with fresh_mock(state_store, faults=[{"fault": "latency", "delay": 0.01}]) as mock:
        assert add(mock, fault="503") == "fault-2"
        mock.client.post("/__mock__/reset")
        assert add(mock, fault="500") == "fault-3"
        assert mock.client.delete("/__mock__/faults/fault-2").status_code == 404
        rules = mock.client.get("/__mock__/faults").json()["faults"]
        assert [rule["id"] for rule in rules] == ["fault-1", "fault-3"]


def test_a_fault_rule_id_is_never_given_twice_by_processes_sharing_a_store() -> None:
    store = EncodingStore()
    with fresh_mock(store) as one, fresh_mock(store) as other:
        assert [add(one, fault="503"), add(other, fault="500")] == ["fault-1", "fault-2"]
        other.client.post("/__mock__/reset")
        assert add(one, fault="503") == "fault-3"
        assert other.client.get("/__mock__/faults").json()["faults"][0]["id"] == "fault-3"


def test_configured_faults_survive_reset_and_admin_ones_do_not(
    state_store: StateStore | None,
) -> None:
    configured = [{"fault": "503", "times": 1, "operation": "import_from_link"}]
    with fresh_mock(state_store, faults=configured) as mock:
        client = Client(mock)
        add(mock, fault="latency", delay=0.01)
        assert client.create().status_code == 503
        assert mock.client.post("/__mock__/reset").status_code == 200
        rules = mock.client.get("/__mock__/faults").json()["faults"]
        assert [(r["source"], r["fired"]) for r in rules] == [("config", {})]
        assert client.create().status_code == 503  # counts forgotten too


def test_bad_configured_fault_stops_the_server() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        create_app(ServerConfig(faults=[{"fault": "meteor"}]))


def test_rate_is_seeded_and_reproducible() -> None:
    def pattern() -> list[int | None]:
        book = FaultBook([{"fault": "500", "rate": 0.5}], seed=3)
        rule = book.rules[0]
        return [book.fire(rule, "neuralanalog", "k", 0.0) for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 0 < sum(f is not None for f in first) < 20
    with pytest.raises(FaultError):
        FaultBook([{"fault": "500", "times": 0}])


def test_books_on_one_store_are_one_book() -> None:
    """Two processes' books on one shared store: one list of rules, IDs never given twice,
    `times` and seeded rates counted once for both."""
    store = EncodingStore()
    configured = [{"fault": "latency"}]
    one, other = FaultBook(configured, 3, store), FaultBook(configured, 3, store)
    added = [one.add({"fault": "500", "times": 3}), other.add({"fault": "503", "rate": 0.5})]
    assert [rule.id for rule in added] == ["fault-2", "fault-3"]
    assert [rule.id for rule in one.rules] == [rule.id for rule in other.rules]
    assert one.rules == [*other.rules[:1], *added]
    limited, rated = added
    books = [one, other] * 4
    fired = [book.fire(limited, "neuralanalog", "k", 0.0) for book in books]
    assert fired == [0, 1, 2, None, None, None, None, None]
    draws = [book.fire(rated, "camb", "k", 0.0) for book in books]
    alone = FaultBook(configured, 3, EncodingStore())
    assert draws == [alone.fire(rated, "camb", "k", 0.0) for _ in books]  # one sequence
    counts = {rule["id"]: rule["fired"] for rule in other.describe()}
    assert counts == {
        "fault-1": {},
        "fault-2": {"k": 3},
        "fault-3": {"k": sum(1 for d in draws if d is not None)},
    }
    assert other.remove("fault-2") and not one.remove("fault-2")
    one.clear()
    assert other.rules == []


@pytest.mark.parametrize("api", sorted(api_services()))
def test_injected_errors_conform_in_every_api_format(mock: Mock, api: str) -> None:
    """Every operation documenting 429/500/503 gets it in the API's own format (the fixture
    checks each answer against the contract), 429 with a usable Retry-After."""
    prefix = api_services()[api].prefix
    for status in (429, 500, 503):
        add(mock, fault=str(status), api=api, **({"retry_after": 3} if status != 500 else {}))
        documenting = [op for op in load(api).operations if str(status) in op.spec["responses"]]
        assert documenting
        for op in documenting:
            path = re.sub(r"\{[^}]+\}", "x", op.template)
            answer = mock.client.request(op.method, prefix + path, headers=mock.headers(api))
            assert answer.status_code == status, (op.id, answer.text)
            if status != 500:
                assert int(answer.headers["Retry-After"]) >= 1
        mock.client.delete("/__mock__/faults")


def test_a_book_restores_the_rules_it_held(state_store: StateStore | None) -> None:
    """What the pytest plugin does at each test's end: whatever the test added, removed or
    cleared, the rules it found are back, on every book of the store, and no ID comes again."""
    store = state_store or MemoryStore()
    configured = [{"fault": "latency"}]
    one, other = FaultBook(configured, 3, store), FaultBook(configured, 3, store)
    found = one.rules
    one.add({"fault": "503"})
    other.remove("fault-1")
    one.restore(found)
    assert [rule.id for rule in other.rules] == ["fault-1"]
    other.clear()
    other.restore(found)
    assert one.rules == found
    assert one.add({"fault": "500"}).id == "fault-3"


def test_a_variety_draw_leaves_the_event_loop_serving() -> None:
    """A draw may take seconds (Hypothesis's first builds a Unicode table): it runs in a worker
    thread while other requests are answered. Here the draw waits for one already running
    (the test holds the lock every draw takes)."""
    app = create_app(ServerConfig(clock="manual", seed=7))
    service = apis.service_class("neuralanalog")
    headers = service.auth_headers(service.api_key("drawing-key"))
    answered: list[str] = []

    async def requests_meanwhile() -> None:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            rule = {"fault": "variety", "operation": "get_status"}
            assert (await client.post("/__mock__/faults", json=rule)).status_code == 201
            created = await client.post(f"{NA}/from-link", headers=headers, json=LINK)
            status = f"{NA}/status/audio/{created.json()['audio_id']}"

            async def varied() -> None:
                assert (await client.get(status, headers=headers)).status_code == 200
                answered.append("varied")

            async with anyio.create_task_group() as group:
                group.start_soon(varied)
                await anyio.wait_all_tasks_blocked()  # the varied poll waits for its draw
                assert (await client.get("/__mock__/health")).status_code == 200
                answered.append("health")
                unstuck.cancel()
                if DRAWING.locked():
                    DRAWING.release()

    DRAWING.acquire()
    unstuck = threading.Timer(20, DRAWING.release)  # a draw on the event loop would wait forever
    unstuck.start()
    anyio.run(requests_meanwhile)
    assert answered == ["health", "varied"]
