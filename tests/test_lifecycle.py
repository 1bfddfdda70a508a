"""Lifecycles in the contracts: well formed, legal and illegal sequences per API, and every
lifecycle the strategies draw or the mock serves passes the check."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from mockserver import apis
from mockserver.contracts import check_lifecycle, lifecycle, load
from mockserver.contracts.lifecycle import all_lifecycles, lifecycles_of
from mockserver.contracts.lifecycle_walk import LifecycleWalk
from mockserver.contracts.strategies import lifecycle_types, lifecycles
from tests.conftest import Mock
from tests.conftest import wav as upload


@pytest.mark.parametrize("cycle", all_lifecycles(), ids=lambda c: f"{c.api}-{c.kind}")
def test_every_lifecycle_is_well_formed(cycle: Any) -> None:
    contract = load(cycle.api)
    operation = contract.by_id(cycle.operation)
    assert f"{{{cycle.id_parameter}}}" in operation.template
    assert cycle.terminal and set(cycle.initial) <= set(cycle.states)
    for state in cycle.states.values():
        assert state.next <= set(cycle.states), state.name
        assert not (state.terminal and state.next), f"{state.name} ends yet moves on"
    reached = set(cycle.initial).union(*(cycle.reachable(s) for s in cycle.initial))
    assert reached == set(cycle.states), "a state no job can reach"
    assert cycle.usual_seconds > 0


def test_every_api_and_polled_type_has_a_lifecycle() -> None:
    assert {api for api in apis.names() if lifecycles_of(api)} == set(apis.names())
    for api, kinds in lifecycle_types().items():
        assert set(kinds) <= set(lifecycles_of(api)), api


# --- legal and illegal sequences, per API -------------------------------------------------------


def camb(status: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, **extra}


def test_camb_legal_and_illegal() -> None:
    legal = [camb("PENDING"), camb("PENDING"), camb("SUCCESS", run_id=7), camb("SUCCESS", run_id=7)]
    report = check_lifecycle("camb", None, legal)
    assert report.ok and report.transitions == [("PENDING", "SUCCESS")], str(report)

    moved_on = check_lifecycle("camb", None, [camb("ERROR"), camb("SUCCESS", run_id=7)])
    assert (moved_on.step, moved_on.ok) == (1, False)
    assert "SUCCESS after the end state ERROR" in str(moved_on)

    no_run = check_lifecycle("camb", "audio_separation", [camb("PENDING"), camb("SUCCESS")])
    assert no_run.step == 1 and "in state SUCCESS: run_id is missing or null" in no_run.problem

    unknown = check_lifecycle("camb", None, [camb("RUNNING")])
    assert unknown.step == 0 and "'RUNNING' is not a state of audio_separation" in unknown.problem


def na(status: str, **extra: Any) -> dict[str, Any]:
    body = {
        "object_type": "audio",
        "object_id": "a1",
        "status": status,
        "is_complete": status == "completed",
        "is_failed": status == "failed",
        "created_at": "2026-01-01T00:00:00Z",
        "completed_at": None,
        "download_url": None,
        "error_message": None,
    }
    return body | extra


def test_neuralanalog_legal_and_illegal() -> None:
    done = na("completed", completed_at="2026-01-01T00:00:20Z", download_url="https://x/d")
    assert check_lifecycle("neuralanalog", "audio", [na("in_progress"), done]).ok

    early = na("in_progress", download_url="https://x/d")
    report = check_lifecycle("neuralanalog", "audio", [na("in_progress"), early])
    assert report.step == 1
    assert report.problem == "in state in_progress: download_url is 'https://x/d', not null"

    flags = check_lifecycle("neuralanalog", "audio", [na("in_progress", is_complete=True)])
    assert flags.problem == "in state in_progress: is_complete is True, not False"

    moved = check_lifecycle("neuralanalog", "audio", [na("in_progress"), done | {"object_id": "b"}])
    assert moved.problem == "object_id changed from 'a1' to 'b'; it never changes"

    # a stem split lists stems, no download link
    split = check_lifecycle("neuralanalog", "stem_split", [done | {"object_type": "stem_split"}])
    assert split.problem == "in state completed: download_url is 'https://x/d', not null"


def test_neuraldraft_legal_and_illegal() -> None:
    def job(status: str, **extra: Any) -> dict[str, Any]:
        return {"id": "job_1", "type": "image.generate", "status": status, "progress": 0} | extra

    legal = [job("pending"), job("processing"), job("completed", progress=100, result={})]
    assert check_lifecycle("neuraldraft", "image.generate", legal).ok
    back = check_lifecycle("neuraldraft", "image.generate", [job("processing"), job("pending")])
    assert back.problem == (
        "processing -> pending: no transition leads there "
        "(from processing: cancelled, completed, failed)"
    )
    with pytest.raises(KeyError, match="known: blog_post.generate"):
        check_lifecycle("neuraldraft", None, legal)


def test_neurolinker_legal_and_illegal() -> None:
    def request(status: str, **extra: Any) -> dict[str, Any]:
        counts = {"completed": 0, "failed": 0, "processing": 0}
        return {"request_id": "r", "status": status, "completed_at": None, **counts} | extra

    ended = request("partial", completed_at="2026-01-01T00:02:00Z", completed=1, failed=1)
    assert check_lifecycle("neurolinker", "request", [request("processing", processing=2), ended])
    late = check_lifecycle("neurolinker", "request", [request("processing"), ended, ended])
    assert late.ok and late.transitions == [("processing", "partial")]
    unfinished = check_lifecycle(
        "neurolinker", "request", [request("completed", completed_at="t", processing=1)]
    )
    assert unfinished.problem == "in state completed: processing is 1, not 0"

    pending = {"document_id": "d", "status": "pending", "started_at": None, "results": None}
    done = pending | {"status": "completed", "started_at": "t0", "completed_at": "t1"}
    report = check_lifecycle("neurolinker", "document", [pending, done | {"results": {"a": 1}}])
    assert report.ok and report.transitions == [("pending", "completed")]  # processing missed
    assert check_lifecycle("neurolinker", "document", [pending, done]).problem == (
        "in state completed: results is missing or null"
    )


# --- what the strategies draw and what the mock serves ---------------------------------------

KINDS = [(api, kind) for api, kinds in lifecycle_types().items() for kind in kinds]


@pytest.mark.parametrize(("api", "kind"), KINDS, ids=[f"{a}-{k}" for a, k in KINDS])
def test_every_drawn_lifecycle_passes_the_check(api: str, kind: str) -> None:
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lifecycles(api, kind))
    def passes(sequence: list[dict[str, Any]]) -> None:
        report = check_lifecycle(api, kind, sequence)
        assert report.ok, str(report)
        assert lifecycle(api, kind).states[report.states[-1]].terminal

    passes()


@pytest.mark.parametrize("outcome", ["SUCCESS", "ERROR", "PAYMENT_REQUIRED"])
def test_the_mocks_own_camb_polls_pass_the_check(mock: Mock, outcome: str) -> None:
    headers = mock.headers("camb", **{"X-Mock-Scenario": outcome})
    task = mock.client.post(
        "/camb/apis/audio-separation", headers=headers, files={"media_file": ("a.wav", upload())}
    ).json()["task_id"]
    seen = []
    for _ in range(8):
        seen.append(mock.client.get(f"/camb/apis/audio-separation/{task}", headers=headers).json())
        mock.advance(5)
    report = check_lifecycle("camb", None, seen)
    assert report.ok and report.states[-1] == outcome, str(report)


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_the_mocks_own_neuralanalog_polls_pass_the_check(mock: Mock, outcome: str) -> None:
    headers = mock.headers("neuralanalog", **{"X-Mock-Scenario": outcome})
    audio = mock.client.post(
        "/neuralanalog/from-link", headers=headers, json={"url": "https://x/a.mp3"}
    ).json()["audio_id"]
    seen = []
    for _ in range(6):
        seen.append(mock.client.get(f"/neuralanalog/status/audio/{audio}", headers=headers).json())
        mock.advance(5)
    report = check_lifecycle("neuralanalog", "audio", seen)
    assert report.ok and report.states[-1] == outcome, str(report)


def test_the_documented_example(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/client-check.md, as written."""
    report = check_lifecycle(
        "camb",
        None,
        [{"status": "PENDING"}, {"status": "ERROR"}, {"status": "SUCCESS", "run_id": 7}],
    )
    assert not report.ok and report.step == 2
    print(report)
    assert capsys.readouterr().out == (
        "camb audio_separation: step 2 is illegal: SUCCESS after the end state ERROR: an ended "
        "job does not move (seen: PENDING -> ERROR -> SUCCESS)\n"
    )


def test_the_walks_summary_names_the_kind_of_each_transition_never_seen() -> None:
    """A transition one kind showed is not reported missing because another kind lacks it;
    the kinds no poll showed are named once; an API of one kind needs no names."""
    walk = LifecycleWalk(advance=lambda seconds: None)
    walk.states["neuralanalog"]["audio"] |= {"in_progress", "completed"}
    walk.seen["neuralanalog"]["audio"].add(("in_progress", "completed"))
    walk.states["camb"]["audio_separation"].add("PENDING")
    camb, analog = walk.summary().splitlines()
    assert camb == (
        "camb: 0 of 4 lifecycle transitions covered; never seen: PENDING->ERROR, "
        "PENDING->PAYMENT_REQUIRED, PENDING->SUCCESS, PENDING->TIMEOUT"
    )
    assert analog == (
        "neuralanalog: 1 of 36 lifecycle transitions covered; never seen: "
        "audio in_progress->failed, audio in_progress->processing, audio processing->completed, "
        "audio processing->failed, audio processing->in_progress; "
        "no poll showed: upscaled, mastered, stem, stem_split, workflow"
    )
