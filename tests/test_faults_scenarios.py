"""A scenario's faults, counted per use of the scenario and matched on the scenario a request
really takes; rule IDs unique across servers sharing a store.

A use is one job: its creates count until one gets past the fault (a retry of a refused
create is the same use), its later requests count per job. A create's scenario is the one it
takes (a queued word some creates pass over is not theirs; an idempotent replay takes none).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from mockserver.apis import service_class
from mockserver.faults import FaultBook
from mockserver.stores import StateStore
from tests.conftest import Mock, make_mock
from tests.encoding_store import EncodingStore, state_store

__all__ = ["state_store"]  # the fixture: the tests on `mock` run on memory and encoded

QUEUE = "/__mock__/scenarios"
FAULTS = "/__mock__/faults"
NA = "/neuralanalog"
ND = "/neuraldraft/v1"
LINK = {"url": "https://example.com/take.mp3"}
IMAGE = {"prompt": "A pine"}
PREMIUM = {"prompt": "Drone shot over pines", "tier": "premium"}


@contextlib.contextmanager
def fresh_mock(store: StateStore | None = None, **config: Any) -> Iterator[Mock]:
    yield from make_mock(store, **config)


def key_of(mock: Mock, api: str) -> str:
    """The test's key as `api` spells it (`ndsk_test_...` for Neural Draft)."""
    return service_class(api).api_key(mock.key)


def queue(mock: Mock, api: str, outcome: str, tenant: bool = True, **options: Any) -> None:
    body = {"api": api, "outcome": outcome, **options}
    if tenant:
        body["tenant"] = key_of(mock, api)
    answer = mock.client.post(QUEUE, json=body)
    assert answer.status_code == 201, answer.text


def queued(mock: Mock) -> list[str]:
    return [entry["scenario"] for entry in mock.client.get(QUEUE).json()["queued"]]


def imported(mock: Mock, **headers: str) -> httpx.Response:
    return mock.client.post(
        f"{NA}/from-link", headers=mock.headers("neuralanalog", **headers), json=LINK
    )


def status(mock: Mock, audio_id: str, **headers: str) -> int:
    path = f"{NA}/status/audio/{audio_id}"
    return mock.client.get(path, headers=mock.headers("neuralanalog", **headers)).status_code


def drafted(mock: Mock, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return mock.client.post(ND + path, headers=mock.headers("neuraldraft", **headers), json=body)


# --- counted per use: per queued entry, per job, per create until one gets past -------------


def test_each_queued_entry_fires_its_own_fault(mock: Mock) -> None:
    """Two queued entries made two jobs, and fired one 503 between them: 503, 200, 200, 200."""
    queue(mock, "neuralanalog", "completed", fault="503", count=2)
    assert [imported(mock).status_code for _ in range(4)] == [503, 200, 503, 200]
    assert queued(mock) == []


def test_each_job_made_with_a_header_counts_its_status_reads(mock: Mock) -> None:
    """The second job's status reads never got their 503: the first job had used it."""
    scenario = {"X-Mock-Scenario": "completed; fault=503; operation=get_status"}
    first, second = (imported(mock, **scenario).json()["audio_id"] for _ in range(2))
    assert [status(mock, first), status(mock, first)] == [503, 200]
    assert [status(mock, second), status(mock, second)] == [503, 200]


def test_a_retried_header_create_reaches_its_outcome_and_the_next_create_faults_again(
    mock: Mock,
) -> None:
    """A client sending the header on every request (an SDK's default headers): each job's
    create is refused once, and its status reads are not, the job's use being over."""
    scenario = {"X-Mock-Scenario": "completed; fault=503"}
    answers = [imported(mock, **scenario) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [503, 200, 503, 200]
    audio_id = answers[1].json()["audio_id"]
    assert [status(mock, audio_id, **scenario) for _ in range(2)] == [200, 200]


def test_a_key_binding_fires_its_times_for_each_job(state_store: StateStore | None) -> None:
    keys = {"flaky": {"scenario": "completed; fault=500; times=2"}}
    with fresh_mock(state_store, keys=keys) as mock:
        mock.key = "flaky"
        assert [imported(mock).status_code for _ in range(6)] == [500, 500, 200, 500, 500, 200]


def test_a_header_on_a_status_read_counts_per_job(mock: Mock) -> None:
    """A fault named on the status reads of jobs made without it fires on each job's."""
    jobs = [imported(mock).json()["audio_id"] for _ in range(2)]
    header = {"X-Mock-Scenario": "completed; fault=500"}
    assert [status(mock, job, **header) for job in jobs for _ in range(2)] == [500, 200] * 2


# --- matched on the scenario the request takes ----------------------------------------------


def test_a_queued_fault_waits_for_the_create_that_takes_its_scenario(mock: Mock) -> None:
    """The image create got the 503 of a `plan_required` it passes over (and left it queued);
    the premium video that took it then got its 402 with no 503."""
    queue(mock, "neuraldraft", "plan_required", fault="503")
    assert drafted(mock, "/images", IMAGE).status_code == 202
    assert drafted(mock, "/videos", PREMIUM).status_code == 503
    assert queued(mock) == ["plan_required; fault=503"]  # given back: no job was made
    assert drafted(mock, "/videos", PREMIUM).status_code == 402
    assert queued(mock) == []


def test_a_rule_for_a_scenario_fires_on_the_creates_that_take_it(mock: Mock) -> None:
    rule = {"fault": "503", "scenario": "plan_required", "tenant": key_of(mock, "neuraldraft")}
    assert mock.client.post(FAULTS, json=rule).status_code == 201
    queue(mock, "neuraldraft", "plan_required")
    assert drafted(mock, "/images", IMAGE).status_code == 202
    assert drafted(mock, "/videos", PREMIUM).status_code == 503
    assert queued(mock) == ["plan_required"]


def test_a_rule_matches_the_queue_a_create_takes_from_past_another(mock: Mock) -> None:
    """The key's queue holds `plan_required`, which an image passes over to take the `failed`
    queued for any key: the rule for `failed` fired on it, once, and the job failed."""
    queue(mock, "neuraldraft", "plan_required")
    queue(mock, "neuraldraft", "failed", tenant=False)
    rule = {"fault": "503", "scenario": "failed", "times": 1}
    assert mock.client.post(FAULTS, json=rule).status_code == 201
    assert drafted(mock, "/images", IMAGE).status_code == 503
    image = drafted(mock, "/images", IMAGE)
    assert image.status_code == 202
    mock.advance(600)
    job = mock.client.get(f"/__mock__/jobs/{image.json()['id']}").json()
    assert (job["scenario"], queued(mock)) == ("failed", ["plan_required"])


def test_an_idempotent_replay_takes_no_queued_scenario_and_fires_none(mock: Mock) -> None:
    order = {"Idempotency-Key": "order-1"}
    first = drafted(mock, "/images", IMAGE, **order)
    assert first.status_code == 202
    queue(mock, "neuraldraft", "completed", fault="503")
    replayed = drafted(mock, "/images", IMAGE, **order)
    assert (replayed.status_code, replayed.content) == (202, first.content)
    assert queued(mock) == ["completed; fault=503"]
    assert [drafted(mock, "/images", IMAGE).status_code for _ in range(2)] == [503, 202]


def test_a_replay_of_a_header_create_fires_none(mock: Mock) -> None:
    """The create that got past the 503 ended its use: the next create (another key) gets one
    of its own, and the replays of the first, which take no scenario, none."""

    def create(order: str) -> httpx.Response:
        sent = {"Idempotency-Key": order, "X-Mock-Scenario": "completed; fault=503"}
        return drafted(mock, "/images", IMAGE, **sent)

    answers = [create(order) for order in ("order-2", "order-2", "order-2", "order-3")]
    assert [answer.status_code for answer in answers] == [503, 202, 202, 503]
    assert answers[2].headers["idempotent-replayed"] == "true"


# --- rule IDs across servers with different configs -----------------------------------------


def rule_ids(mock: Mock) -> list[str]:
    return [rule["id"] for rule in mock.client.get(FAULTS).json()["faults"]]


def test_servers_with_different_configs_give_out_different_ids() -> None:
    """Server B numbered its rule after its own (no) configured ones: `fault-1`, the ID of A's
    configured rule, so a DELETE of A's `fault-1` removed B's rule."""
    store, configured = EncodingStore(), [{"fault": "503", "api": "camb"}]
    with fresh_mock(store, faults=configured) as one, fresh_mock(store) as other:
        assert rule_ids(one) == ["fault-1"]
        added = other.client.post(FAULTS, json={"fault": "500", "api": "neurolinker"})
        assert added.json()["faults"][0]["id"] == "fault-2"
        assert one.client.delete(f"{FAULTS}/fault-1").status_code == 404
        assert rule_ids(one) == rule_ids(other) == ["fault-2"]


def test_a_server_started_later_with_its_own_config_takes_new_ids() -> None:
    store = EncodingStore()
    with fresh_mock(store) as one:
        assert one.client.post(FAULTS, json={"fault": "500"}).json()["faults"][0]["id"] == "fault-1"
        with fresh_mock(store, faults=[{"fault": "503", "api": "camb"}]) as other:
            assert [rule.id for rule in other.state.faults.rules] == ["fault-1"]  # the held list
            other.client.post("/__mock__/reset")
            assert [rule.id for rule in other.state.faults.rules] == ["fault-2"]
            with fresh_mock(store, faults=[{"fault": "503", "api": "camb"}]) as third:
                assert [rule.id for rule in third.state.faults.rules] == ["fault-2"]


def test_books_with_different_configs_on_every_store_number_apart(
    stores: tuple[StateStore, StateStore],
) -> None:
    """Each book numbered its configured rules from 1: both servers' rule was `fault-1`."""
    first, second = stores
    one = FaultBook([{"fault": "503", "api": "camb"}], 0, first)
    other = FaultBook([{"fault": "500", "api": "camb"}, {"fault": "503", "api": "camb"}], 0, second)
    assert [rule.id for rule in one.rules] == ["fault-1"]
    assert [rule.id for rule in other.rules] == ["fault-2", "fault-1"]
    assert other.add({"fault": "latency"}).id == "fault-3"
