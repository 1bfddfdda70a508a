"""Neural Analog workflows follow their step objects: a step forced to end through the admin
API moves or fails its workflow there, per poll the step objects are worked in order however
they are read, and a failed workflow says its failing step's message.

Every response is checked against `contracts/neuralanalog.yaml` by the `mock` fixture, on the
memory store and on one that hands out copies, as the shared ones do.
"""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.apis.neuralanalog.models import CYCLES
from tests.conftest import Mock
from tests.encoding_store import state_store
from tests.test_neuralanalog import GONE, Client

__all__ = ["state_store"]  # the `mock` fixture's stores
THREE = [{"type": "upscale"}, {"type": "master"}, {"type": "stems", "preset": "2_tracks"}]
KINDS = ["upscaled", "mastered", "stem_split"]  # the objects of THREE's steps, in order
RESTORING, MASTERING = CYCLES["upscaled"].usual_seconds, CYCLES["mastered"].usual_seconds


@pytest.fixture
def na(mock: Mock) -> Client:
    return Client(mock)


def run(na: Client, scenario: str | None = None, steps: list[dict[str, Any]] = THREE) -> str:
    """A workflow of `steps` on a completed import: its run ID."""
    audio_id = na.ready_audio()
    started = na.post("/run-workflow", scenario, json={"audio_id": audio_id, "steps": steps})
    assert started.status_code == 200, started.text
    run_id: str = started.json()["workflow_run_id"]
    return run_id


def step_ids(na: Client) -> dict[str, str]:
    """The ID of each step object (and of the import), by kind, from the admin API (a client
    learns a step's ID from the workflow once the step started; these tests read them all)."""
    listed = na.mock.client.get("/__mock__/jobs", params={"api": "neuralanalog"}).json()
    return {job["kind"]: job["id"] for job in listed["jobs"] if job["kind"] in [*KINDS, "audio"]}


def force(na: Client, job_id: str, outcome: str, **options: str) -> None:
    forced = na.mock.client.post(
        f"/__mock__/jobs/{job_id}/transition", json={"outcome": outcome, **options}
    )
    assert forced.status_code == 200, forced.text


def steps_of(status: dict[str, Any]) -> list[tuple[str, bool]]:
    """Each step's status, and whether its object is named."""
    return [(step["status"], step["object_id"] is not None) for step in status["steps"]]


# --- the message of a failed workflow -------------------------------------------------------


@pytest.mark.parametrize("scenario", ["failed", "failed; mode=poll"])
def test_a_workflow_failed_on_demand_says_its_failing_step_s_message(
    na: Client, scenario: str
) -> None:
    """It said "Workflow step failed", while its failing step said the docs' example."""
    run_id = run(na, scenario)
    na.mock.advance(1000)
    for _ in THREE:  # per poll, one read a step
        failed = na.status("workflow", run_id)
    stems = na.status("stem_split", failed["steps"][-1]["object_id"])
    assert failed["error_message"] == stems["error_message"] == GONE


def test_a_workflow_forced_to_fail_says_its_failing_step_s_message(na: Client) -> None:
    """Forced without a message, it and the step it stopped at said "Workflow step failed"."""
    run_id = run(na)
    na.mock.advance(10)
    force(na, run_id, "failed")
    failed = na.status("workflow", run_id)
    upscaled = na.status("upscaled", failed["steps"][0]["object_id"])
    assert failed["error_message"] == upscaled["error_message"] == GONE


# --- a step forced to end ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"), [({"message": "bad tape"}, "bad tape"), ({}, GONE)]
)
def test_a_step_forced_to_fail_fails_its_workflow_at_that_step(
    na: Client, options: dict[str, str], message: str
) -> None:
    """The workflow went on `in_progress` at the failed step, then completed listing it
    failed."""
    run_id = run(na)
    na.mock.advance(10)
    upscaled = na.status("workflow", run_id)["steps"][0]["object_id"]
    force(na, upscaled, "failed", **options)
    for later in (0, 1000):  # at once, and long after: it stays failed there
        na.mock.advance(later)
        failed = na.status("workflow", run_id)
        assert (failed["status"], failed["is_failed"]) == ("failed", True)
        assert failed["error_message"] == na.status("upscaled", upscaled)["error_message"]
        assert failed["error_message"] == message
        assert steps_of(failed) == [("failed", True), ("pending", False), ("pending", False)]
        assert failed["completed_at"] is None
    for kind in KINDS[1:]:  # the steps after it never start: no object, no output
        assert na.get(f"/status/{kind}/{step_ids(na)[kind]}").status_code == 404


def test_a_step_forced_to_complete_starts_the_next_step_at_once(na: Client) -> None:
    """The workflow stayed at its first step until that step's planned end."""
    run_id = run(na)
    na.mock.advance(10)
    upscaled = na.status("workflow", run_id)["steps"][0]["object_id"]
    force(na, upscaled, "completed")
    moved = na.status("workflow", run_id)
    assert (moved["status"], moved["status_details"]) == ("in_progress", "Step 2/3: master")
    assert steps_of(moved) == [("completed", True), ("in_progress", True), ("pending", False)]
    mastered = na.status("mastered", moved["steps"][1]["object_id"])
    assert mastered["status"] == "in_progress"
    assert mastered["created_at"] == na.status("upscaled", upscaled)["completed_at"]
    na.mock.advance(MASTERING)  # the master takes its own time from then
    assert steps_of(na.status("workflow", run_id)) == [
        ("completed", True),
        ("completed", True),
        ("in_progress", True),
    ]


def test_the_last_step_forced_to_complete_completes_a_failing_workflow(na: Client) -> None:
    """The workflow still failed at that step, which it listed completed."""
    run_id = run(na, "failed", [{"type": "upscale"}])
    na.mock.advance(10)
    force(na, na.status("workflow", run_id)["steps"][0]["object_id"], "completed")
    for later in (0, 1000):
        na.mock.advance(later)
        done = na.status("workflow", run_id)
        assert (done["status"], done["error_message"]) == ("completed", None)
        assert steps_of(done) == [("completed", True)]


def test_a_step_forced_before_it_starts_ends_so_when_the_workflow_reaches_it(na: Client) -> None:
    """A step not started yet, forced to fail: the workflow ran it anyway, and completed."""
    run_id = run(na)
    na.mock.advance(10)
    mastered = step_ids(na)["mastered"]
    force(na, mastered, "failed", message="no master")
    waiting = na.status("workflow", run_id)
    assert (waiting["status"], waiting["status_details"]) == ("in_progress", "Step 1/3: upscale")
    assert na.get(f"/status/mastered/{mastered}").status_code == 404  # not started yet
    na.mock.advance(RESTORING)
    failed = na.status("workflow", run_id)
    assert (failed["status"], failed["error_message"]) == ("failed", "no master")
    assert steps_of(failed) == [("completed", True), ("failed", True), ("pending", False)]
    assert na.status("mastered", mastered)["error_message"] == "no master"


# --- per poll -------------------------------------------------------------------------------


def test_in_poll_mode_any_read_moves_the_workflow_one_step(na: Client) -> None:
    """A step object read on its own moved alone: the master completed (its download
    existed) on its first read, while the workflow was still restoring."""
    run_id = run(na, "completed; mode=poll")
    ids = step_ids(na)
    for kind in KINDS[1:]:  # not started: no object yet, and the read moves nothing
        assert na.get(f"/status/{kind}/{ids[kind]}").status_code == 404
    assert na.get(f"/download/mastered/{ids['mastered']}").status_code == 404
    assert na.status("upscaled", ids["upscaled"])["status"] == "completed"  # read 1
    moved = na.status("workflow", run_id)  # read 2
    assert moved["status_details"] == "Step 3/3: stems"
    assert steps_of(moved) == [("completed", True), ("completed", True), ("in_progress", True)]
    assert na.status("mastered", ids["mastered"])["status"] == "completed"  # read 3: the end
    assert na.status("stem_split", ids["stem_split"])["status"] == "completed"
    assert na.status("workflow", run_id)["status"] == "completed"


def stages(na: Client, ids: dict[str, str]) -> list[int]:
    """Where each step object stands, told by what moves nothing: 0 ended well, 1 running, 2
    not started (no object). A restoration or master by its download; a split ended or not,
    by an archive of the track's mastered stems (a split holds no file of its own)."""
    downloads = [f"/download/{kind}/{ids[kind]}" for kind in KINDS[:2]]
    codes = [na.get(path, follow_redirects=False).status_code for path in downloads]
    archive = na.post(
        "/download-archive", json={"id": ids["audio"], "versions": ["mastered_stems"]}
    )
    return [{307: 0, 409: 1, 404: 2}[code] for code in codes] + [
        {200: 0, 409: 2}[archive.status_code]
    ]


@pytest.mark.parametrize(
    "reads",
    [
        ["mastered", "upscaled", "stem_split", "mastered", "stem_split", "workflow"],
        ["upscaled", "upscaled", "upscaled", "stem_split"],
        ["workflow", "stem_split", "mastered", "mastered"],
    ],
)
def test_in_poll_mode_no_step_starts_before_the_one_before_ended(
    na: Client, reads: list[str]
) -> None:
    """However they are read, the steps ended are a prefix, then at most one runs, and the
    rest have not started; each read of a started step moves the workflow one step."""
    run_id = run(na, "completed; mode=poll")
    ids = {**step_ids(na), "workflow": run_id}
    seen = [stages(na, ids)]
    for kind in reads:
        na.get(f"/status/{kind}/{ids[kind]}")
        seen.append(stages(na, ids))
    for stage in seen:
        assert stage == sorted(stage) and stage.count(1) <= 1, seen
    moved = [sum(stage) for stage in seen]  # each a step on, until all ended
    assert moved == sorted(moved, reverse=True) and moved[-1] == 0, seen


def test_in_poll_mode_a_step_forced_to_complete_starts_the_next_at_once(na: Client) -> None:
    """The workflow waited for a read of its own to move on."""
    run_id = run(na, "completed; mode=poll")
    na.status("workflow", run_id)  # read 1: the master runs
    ids = step_ids(na)
    force(na, ids["mastered"], "completed")
    assert stages(na, ids) == [0, 0, 2]  # the split runs (an archive tells no more)
    workflow = na.status("workflow", run_id)  # read 2: the stems' only one
    assert (workflow["status"], stages(na, ids)) == ("completed", [0, 0, 0])


def test_in_poll_mode_a_step_forced_to_fail_fails_its_workflow_at_once(na: Client) -> None:
    """The workflow went on with its reads, listing the master failed, and completed."""
    run_id = run(na, "completed; mode=poll")
    na.status("workflow", run_id)  # read 1: the master runs
    ids = step_ids(na)
    force(na, ids["mastered"], "failed", message="no master")
    for _ in range(3):
        workflow = na.status("workflow", run_id)
        assert (workflow["status"], workflow["error_message"]) == ("failed", "no master")
        assert steps_of(workflow) == [("completed", True), ("failed", True), ("pending", False)]
    assert na.get(f"/status/stem_split/{ids['stem_split']}").status_code == 404
