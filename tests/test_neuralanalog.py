"""Neural Analog end to end on the manual clock: every object type, every outcome, every error."""

from __future__ import annotations

import asyncio
import io
import re
import wave
import zipfile
from typing import Any

import numpy
import pytest

from mockserver.stores import key
from tests.conftest import Mock, make_mock, wav
from tests.test_shared_state import imported, two_servers

NA = "/neuralanalog"
GONE = "Source audio is no longer available"  # the status page's `error_message` example


class Client:
    """A small Neural Analog client over the in-process app, for readable tests."""

    def __init__(self, mock: Mock, key: str | None = None) -> None:
        self.mock = mock
        self.headers = mock.headers("neuralanalog", key)

    def post(self, path: str, scenario: str | None = None, **kwargs: Any) -> Any:
        headers = {**self.headers, **({"X-Mock-Scenario": scenario} if scenario else {})}
        return self.mock.client.post(NA + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.mock.client.get(NA + path, headers=self.headers, **kwargs)

    def status(self, kind: str, object_id: str) -> dict[str, Any]:
        response = self.get(f"/status/{kind}/{object_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def upload(
        self, seconds: float = 2.0, scenario: str | None = None, name: str = "take.wav"
    ) -> str:
        files = {"audio": (name, wav(seconds), "audio/wav")}
        response = self.post("/from-file", scenario, files=files)
        assert response.status_code == 200, response.text
        return response.json()["audio_id"]

    def ready_audio(self, seconds: float = 2.0) -> str:
        audio_id = self.upload(seconds)
        self.mock.advance(60)
        assert self.status("audio", audio_id)["is_complete"]
        return audio_id

    def download(self, kind: str, object_id: str, **params: str) -> bytes:
        redirect = self.get(f"/download/{kind}/{object_id}", params=params, follow_redirects=False)
        assert redirect.status_code == 307, redirect.text
        file = self.mock.client.get(redirect.headers["location"])
        assert file.status_code == 200
        return file.content


@pytest.fixture
def na(mock: Mock) -> Client:
    return Client(mock)


def duration_of(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / reader.getframerate()


# --- every object type through every outcome -------------------------------------------------


def test_import_runs_then_completes_with_a_wav_of_the_uploaded_duration(na: Client) -> None:
    audio_id = na.upload(seconds=3.5)
    running = na.status("audio", audio_id)
    assert running["status"] == "in_progress"
    assert (running["is_complete"], running["is_failed"], running["download_url"]) == (
        False,
        False,
        None,
    )
    na.mock.advance(19.9)
    assert na.status("audio", audio_id)["status"] == "in_progress"
    na.mock.advance(0.1)
    done = na.status("audio", audio_id)
    assert done["status"] == "completed" and done["is_complete"]
    assert done["completed_at"] == "2026-01-01T00:00:20Z"
    assert done["download_url"].endswith(f"/neuralanalog/download/audio/{audio_id}")
    assert duration_of(na.download("audio", audio_id)) == pytest.approx(3.5)


def test_import_fails_with_an_error_message(na: Client) -> None:
    audio_id = na.upload(scenario="failed; after=5; message=Corrupt header")
    na.mock.advance(5)
    failed = na.status("audio", audio_id)
    assert failed["status"] == "failed" and failed["is_failed"] and not failed["is_complete"]
    assert failed["error_message"] == "Corrupt header"
    assert failed["download_url"] is None and failed["completed_at"] is None


def test_import_from_link_accepts_url_or_link(na: Client) -> None:
    for body in ({"url": "https://example.com/a.mp3"}, {"link": "https://example.com/b.mp3"}):
        response = na.post("/from-link", json=body)
        assert response.status_code == 200
        assert response.json()["status"] == "in_progress"


@pytest.mark.parametrize(
    ("path", "body", "kind", "id_field"),
    [
        ("/upscale-audio", {}, "upscaled", "id"),
        ("/master-audio", {"preset": "declip"}, "mastered", "id"),
        ("/create-stems", {"preset": "2_tracks"}, "stem_split", "creation_id"),
        (
            "/run-workflow",
            {"steps": [{"type": "upscale"}, {"type": "master"}]},
            "workflow",
            "workflow_run_id",
        ),
    ],
)
@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_processing_objects_reach_each_outcome(
    na: Client, path: str, body: dict[str, Any], kind: str, id_field: str, outcome: str
) -> None:
    audio_id = na.ready_audio()
    response = na.post(path, f"{outcome}; after=40", json={"audio_id": audio_id, **body})
    assert response.status_code == 200, response.text
    object_id = response.json()[id_field]
    assert na.status(kind, object_id)["status"] == "in_progress"
    na.mock.advance(40)
    final = na.status(kind, object_id)
    assert final["status"] == outcome
    assert final["audio_id"] == audio_id
    assert final["is_complete"] is (outcome == "completed")
    assert final["is_failed"] is (outcome == "failed")
    assert (final["error_message"] is not None) is (outcome == "failed")


def test_stems_appear_with_their_ids_when_the_split_completes(na: Client) -> None:
    audio_id = na.ready_audio(seconds=1.5)
    split = na.post("/create-stems", json={"audio_id": audio_id, "preset": "4_tracks"}).json()
    running = na.status("stem_split", split["creation_id"])
    assert "stems" not in running
    na.mock.advance(180)
    done = na.status("stem_split", split["creation_id"])
    assert [s["name"] for s in done["stems"]] == ["vocals", "drums", "bass", "other"]
    tones = set()
    for stem in done["stems"]:
        status = na.status("stem", stem["stem_id"])
        assert status["is_complete"] and status["audio_id"] == audio_id
        data = na.download("stem", stem["stem_id"])
        assert duration_of(data) == pytest.approx(1.5)
        tones.add(data)
    assert len(tones) == 4  # a distinct tone per stem


def test_stem_ids_are_unknown_before_the_split_completes(na: Client) -> None:
    audio_id = na.ready_audio()
    split_id = na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"}).json()[
        "creation_id"
    ]
    assert na.get(f"/status/stem/{split_id}").status_code == 404
    na.mock.advance(180)
    stem_id = na.status("stem_split", split_id)["stems"][0]["stem_id"]
    assert na.get(f"/status/stem_split/{stem_id}").status_code == 404  # a stem is not a split


def test_a_split_of_a_stem_uses_the_stem_as_its_source(na: Client) -> None:
    audio_id = na.ready_audio()
    split_id = na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"}).json()[
        "creation_id"
    ]
    na.mock.advance(180)
    stem_id = na.status("stem_split", split_id)["stems"][0]["stem_id"]
    second = na.post(
        "/create-stems", json={"stem_id": stem_id, "audio_id": "ignored", "preset": "dereverb"}
    )
    assert second.status_code == 200, second.text
    assert second.json()["audio_id"] == audio_id


def test_workflow_steps_run_in_order_as_real_objects(na: Client) -> None:
    audio_id = na.ready_audio()
    steps = [{"type": "upscale"}, {"type": "master"}, {"type": "stems", "preset": "2_tracks"}]
    run_id = na.post(
        "/run-workflow", "completed; after=30", json={"audio_id": audio_id, "steps": steps}
    ).json()["workflow_run_id"]
    first = na.status("workflow", run_id)["steps"]
    assert [s["status"] for s in first] == ["in_progress", "pending", "pending"]
    assert first[1]["object_id"] is None
    na.mock.advance(30)
    done = na.status("workflow", run_id)
    assert done["status"] == "completed"
    assert [s["status"] for s in done["steps"]] == ["completed"] * 3
    mastered_id = done["steps"][1]["object_id"]
    assert na.status("mastered", mastered_id)["is_complete"]
    assert na.status("stem_split", done["steps"][2]["object_id"])["stems"]


def test_failed_workflow_fails_at_its_last_step(na: Client) -> None:
    audio_id = na.ready_audio()
    steps = [{"type": "upscale"}, {"type": "master"}]
    run_id = na.post(
        "/run-workflow", "failed; after=10", json={"audio_id": audio_id, "steps": steps}
    ).json()["workflow_run_id"]
    na.mock.advance(10)
    done = na.status("workflow", run_id)
    assert done["is_failed"] and [s["status"] for s in done["steps"]] == ["completed", "failed"]


@pytest.mark.parametrize(
    ("outcome", "steps_then"),
    [
        ("failed", [("failed", True), ("pending", False), ("pending", False)]),
        ("completed", [("completed", True)] * 3),
    ],
)
def test_a_forced_workflow_brings_its_steps_along(
    na: Client, outcome: str, steps_then: list[tuple[str, bool]]
) -> None:
    """Forced through the admin API, the workflow's steps ran on: a failed workflow's steps
    went on to complete, and their outputs could be archived; a completed one's stayed
    in progress."""
    audio_id = na.ready_audio()
    steps = [{"type": "upscale"}, {"type": "master"}, {"type": "stems", "preset": "2_tracks"}]
    run_id = na.post(
        "/run-workflow", "completed; after=300", json={"audio_id": audio_id, "steps": steps}
    ).json()["workflow_run_id"]
    na.mock.advance(10)  # in its first step
    forced = na.mock.client.post(f"/__mock__/jobs/{run_id}/transition", json={"outcome": outcome})
    assert forced.status_code == 200, forced.text
    for later in (0, 1000):  # at once, and long after: its steps stay as they ended
        na.mock.advance(later)
        done = na.status("workflow", run_id)
        assert done["status"] == outcome
        assert [(s["status"], s["object_id"] is not None) for s in done["steps"]] == steps_then
    archive = na.post("/download-archive", json={"id": audio_id, "versions": ["mastered"]})
    assert archive.status_code == (200 if outcome == "completed" else 409), archive.text


def test_a_workflow_in_poll_mode_moves_its_steps_with_its_reads(na: Client) -> None:
    """Its steps stayed in progress for ever (nobody reads them: they move per read of their
    own) while the workflow said completed, and a mastering step's output never existed."""
    audio_id = na.ready_audio()
    steps = [{"type": "upscale"}, {"type": "master"}, {"type": "stems", "preset": "2_tracks"}]
    run_id = na.post(
        "/run-workflow", "completed; mode=poll", json={"audio_id": audio_id, "steps": steps}
    ).json()["workflow_run_id"]
    seen = []
    for _ in range(3):
        read = na.status("workflow", run_id)
        seen.append((read["status"], [s["status"] for s in read["steps"]]))
    assert seen == [
        ("in_progress", ["completed", "in_progress", "pending"]),
        ("in_progress", ["completed", "completed", "in_progress"]),
        ("completed", ["completed"] * 3),
    ]
    archive = na.post("/download-archive", json={"id": audio_id, "versions": ["mastered"]})
    assert archive.status_code == 200, archive.text


def test_a_workflow_has_at_most_ten_steps(na: Client) -> None:
    """Any number was taken, each made as real jobs: 20,000 steps held the server 4 to 40 s."""
    audio_id = na.ready_audio()
    steps = [{"type": "stems", "preset": "2_tracks"}]
    assert na.post("/run-workflow", json={"audio_id": audio_id, "steps": steps * 10}).is_success
    made = len(kinds_of_jobs(na))
    for count in (11, 20_000):
        body = {"audio_id": audio_id, "steps": steps * count}
        refused = na.post("/run-workflow", json=body)
        assert refused.status_code == 422, refused.text
        [item] = refused.json()["detail"]
        assert (item["type"], item["loc"]) == ("too_long", ["body", "steps"])
        assert item["ctx"] == {"field_type": "List", "max_length": 10, "actual_length": count}
    assert len(kinds_of_jobs(na)) == made
    # a list refused as too long is not looked into: its items' own faults are not listed
    bad = {"audio_id": audio_id, "steps": [{"type": "bogus"}] * 11}
    assert [item["type"] for item in na.post("/run-workflow", json=bad).json()["detail"]] == [
        "too_long"
    ]


@pytest.mark.parametrize(("step", "enum"), [("stems", "'acapella', "), ("master", "'novasr', ")])
def test_a_workflow_step_s_preset_is_one_its_kind_has(na: Client, step: str, enum: str) -> None:
    """/create-stems refused a preset it does not know, a workflow's step took it."""
    audio_id = na.ready_audio()
    steps = [{"type": "upscale", "preset": "anything"}, {"type": step, "preset": "bogus"}]
    refused = na.post("/run-workflow", json={"audio_id": audio_id, "steps": steps})
    assert refused.status_code == 422, refused.text
    [item] = refused.json()["detail"]
    assert (item["type"], item["loc"], item["input"]) == (
        "enum",
        ["body", "steps", 1, "preset"],
        "bogus",
    )
    assert enum in item["msg"]


def test_a_failing_workflow_s_message_is_its_failed_step_s(na: Client) -> None:
    audio_id = na.ready_audio()
    steps = [{"type": "upscale"}, {"type": "stems"}]
    run_id = na.post(
        "/run-workflow", "failed; message=boom", json={"audio_id": audio_id, "steps": steps}
    ).json()["workflow_run_id"]
    na.mock.advance(1000)
    done = na.status("workflow", run_id)
    assert done["error_message"] == "boom"
    assert na.status("stem_split", done["steps"][1]["object_id"])["error_message"] == "boom"
    plain = na.post("/run-workflow", "failed", json={"audio_id": audio_id, "steps": steps})
    na.mock.advance(1000)
    step = na.status("workflow", plain.json()["workflow_run_id"])["steps"][1]
    assert na.status("stem_split", step["object_id"])["error_message"] == GONE


def test_per_poll_plans_advance_one_phase_per_status_read(na: Client) -> None:
    audio_id = na.upload(scenario="completed; mode=poll")
    seen = [na.status("audio", audio_id)["status_details"] for _ in range(3)]
    assert seen == ["Analysing audio", "Import completed", "Import completed"]


# --- parent/child rules -----------------------------------------------------------------------


def test_processing_a_failed_or_unfinished_or_unknown_audio_is_refused(na: Client) -> None:
    running = na.upload()
    assert na.post("/master-audio", json={"audio_id": running}).status_code == 409
    failed = na.upload(scenario="failed; after=1")
    na.mock.advance(60)
    refused = na.post("/master-audio", json={"audio_id": failed})
    assert refused.json() == {"detail": f"Audio {failed} failed ({GONE}): it has no output"}
    assert refused.status_code == 409
    # a download says the same, not that it "cannot be processed"
    download = na.get(f"/download/audio/{failed}", follow_redirects=False)
    assert (download.status_code, download.json()) == (409, refused.json())
    unknown = na.post("/upscale-audio", json={"audio_id": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 404


def kinds_of_jobs(na: Client) -> list[str]:
    listed = na.mock.client.get("/__mock__/jobs", params={"api": "neuralanalog"}).json()
    return [job["kind"] for job in listed["jobs"]]


def test_use_restored_makes_a_restoration_the_master_waits_for_then_reuses_it(
    na: Client,
) -> None:
    """The docs: "set use_restored to true to let Neural Analog use or create a restored
    source before mastering"; a track with no restoration was a 409."""
    audio_id = na.ready_audio()
    first = na.post("/master-audio", json={"audio_id": audio_id, "use_restored": True})
    assert first.status_code == 200 and first.json()["audio_id"] == audio_id
    master = first.json()["id"]
    assert kinds_of_jobs(na) == ["audio", "mastered", "upscaled"]
    assert na.status("mastered", master)["status_details"] == "Restoring audio"
    restored = {"id": audio_id, "versions": ["restored"]}
    assert na.post("/download-archive", json=restored).status_code == 409  # still restoring
    na.mock.advance(121)  # the restoration's usual 120 s, not yet the master's 90 more
    assert na.post("/download-archive", json=restored).status_code == 200
    assert na.status("mastered", master)["status_details"] == "Mastering audio"
    na.mock.advance(90)
    assert na.status("mastered", master)["is_complete"]
    again = na.post("/master-audio", json={"audio_id": audio_id, "use_restored": True})
    assert again.status_code == 200
    assert kinds_of_jobs(na).count("upscaled") == 1  # used, not made again
    assert "Restoring" not in na.status("mastered", again.json()["id"])["status_details"]


def test_a_failing_use_restored_master_keeps_its_restoration(na: Client) -> None:
    audio_id = na.ready_audio()
    body = {"audio_id": audio_id, "use_restored": True}
    master = na.post("/master-audio", "failed", json=body).json()["id"]
    na.mock.advance(600)
    assert na.status("mastered", master)["is_failed"]
    restored = na.post("/download-archive", json={"id": audio_id, "versions": ["restored"]})
    assert restored.status_code == 200


def restoration_of(na: Client) -> str:
    listed = na.mock.client.get("/__mock__/jobs", params={"api": "neuralanalog"}).json()
    [restoration] = [job["id"] for job in listed["jobs"] if job["kind"] == "upscaled"]
    return str(restoration)


def transition(na: Client, job_id: str, outcome: str, message: str | None = None) -> None:
    body = {"outcome": outcome, **({"message": message} if message else {})}
    forced = na.mock.client.post(f"/__mock__/jobs/{job_id}/transition", json=body)
    assert forced.status_code == 200, forced.text


def test_a_use_restored_master_in_poll_mode_completes_its_restoration_passing_it(
    na: Client,
) -> None:
    """Its restoration moved with reads of its own ID alone: the master completed while the
    restoration it said it had made never did (nobody reads it)."""
    audio_id = na.ready_audio()
    body = {"audio_id": audio_id, "use_restored": True}
    master = na.post("/master-audio", "completed; mode=poll", json=body).json()["id"]
    restoration = restoration_of(na)
    for _ in range(2):  # its own reads do not move it: the master's do
        assert na.status("upscaled", restoration)["status"] == "in_progress"
    assert na.status("mastered", master)["status_details"] == "Mastering audio"
    assert na.status("upscaled", restoration)["status"] == "completed"
    assert na.status("mastered", master)["status"] == "completed"
    restored = na.post("/download-archive", json={"id": audio_id, "versions": ["restored"]})
    assert restored.status_code == 200, restored.text


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_a_use_restored_master_forced_while_restoring_ends_its_restoration(
    na: Client, outcome: str
) -> None:
    """Forced completed, the master was done while its restoration ran on; forced failed,
    the restoration it never got past completed anyway."""
    audio_id = na.ready_audio()
    body = {"audio_id": audio_id, "use_restored": True}
    master = na.post("/master-audio", json=body).json()["id"]
    restoration = restoration_of(na)
    na.mock.advance(10)
    transition(na, master, outcome, None if outcome == "completed" else "Disk full")
    na.mock.advance(600)
    ended = na.status("upscaled", restoration)
    assert ended["status"] == outcome
    assert ended["error_message"] == (None if outcome == "completed" else "Disk full")
    assert ended["completed_at"] in (None, "2026-01-01T00:01:10Z")
    restored = na.post("/download-archive", json={"id": audio_id, "versions": ["restored"]})
    assert restored.status_code == (200 if outcome == "completed" else 409), restored.text


def test_a_failed_restoration_fails_the_master_waiting_for_it(na: Client) -> None:
    """The master went on to complete a mastering of a restoration that had failed."""
    audio_id = na.ready_audio()
    body = {"audio_id": audio_id, "use_restored": True}
    master = na.post("/master-audio", json=body).json()["id"]
    restoration = restoration_of(na)
    na.mock.advance(10)
    transition(na, restoration, "failed", "Out of credits")
    na.mock.advance(600)
    failed = na.status("mastered", master)
    assert failed["status"] == "failed"
    assert failed["error_message"] == f"Restoration {restoration} failed: Out of credits"


def test_a_restoration_forced_to_complete_lets_its_master_master_now(na: Client) -> None:
    audio_id = na.ready_audio()
    body = {"audio_id": audio_id, "use_restored": True}
    master = na.post("/master-audio", json=body).json()["id"]
    na.mock.advance(10)
    transition(na, restoration_of(na), "completed")
    assert na.status("mastered", master)["status_details"] == "Mastering audio"
    na.mock.advance(90)
    assert na.status("mastered", master)["completed_at"] == "2026-01-01T00:02:40Z"


def test_mastering_a_restoration_or_stem_of_another_track_is_a_404(na: Client) -> None:
    mine, other = na.ready_audio(), na.ready_audio()
    upscaled = na.post("/upscale-audio", json={"audio_id": other}).json()["id"]
    na.post("/create-stems", json={"audio_id": other, "preset": "2_tracks"})
    na.mock.advance(180)
    stem = next(s for s in stems_of(na, other))
    for field, value in (("upscaled_id", upscaled), ("stem_id", stem)):
        refused = na.post("/master-audio", json={"audio_id": mine, field: value})
        assert refused.status_code == 404, refused.text
        assert refused.json()["detail"].endswith(f"{value} not found for audio {mine}")
    kept = na.post("/master-audio", json={"audio_id": other, "upscaled_id": upscaled})
    assert kept.status_code == 200 and kept.json()["audio_id"] == other


def stems_of(na: Client, audio_id: str) -> list[str]:
    """The stem IDs of the track's completed splits, as their statuses list them."""
    listed = na.mock.client.get("/__mock__/jobs", params={"api": "neuralanalog"}).json()
    splits = [j["id"] for j in listed["jobs"] if j["kind"] == "stem_split"]
    statuses = [na.status("stem_split", split) for split in splits]
    return [
        stem["stem_id"]
        for status in statuses
        if status["audio_id"] == audio_id and status["is_complete"]
        for stem in status["stems"]
    ]


def test_a_stem_is_mastered_and_archived_at_its_mastered_version(na: Client) -> None:
    """The docs master "an audio file or stem" and archive `stem_selections` such as
    `{"mastered_id", "stem_id", "version": "mastered"}`: a stem's master, picked exactly."""
    audio_id = na.ready_audio(seconds=1.0)
    na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"})
    na.mock.advance(180)
    vocals, instrumental = stems_of(na, audio_id)
    answer = na.post("/master-audio", json={"audio_id": audio_id, "stem_id": vocals})
    assert answer.status_code == 200 and answer.json()["audio_id"] == audio_id
    master = answer.json()["id"]
    selection = {"stem_id": vocals, "version": "mastered", "mastered_id": master}
    archive = {"id": audio_id, "versions": ["mastered_stems"], "stem_selections": [selection]}
    assert na.post("/download-archive", json=archive).status_code == 409  # still mastering
    na.mock.advance(180)
    assert na.status("mastered", master)["is_complete"]

    def names(body: dict[str, Any]) -> list[str]:
        answer = na.post("/download-archive", json=body)
        assert answer.status_code == 200, answer.text
        link = answer.json()["download_url"]
        return zipfile.ZipFile(io.BytesIO(na.mock.client.get(link).content)).namelist()

    mastered_vocals = f"{audio_id}/stems/mastered/vocals-{vocals[:8]}.wav"
    assert names(archive) == [mastered_vocals]
    # exact versions: the mastered vocals and the original instrumental, nothing else
    both = [selection, {"stem_id": instrumental, "version": "original"}]
    assert names({**archive, "stem_selections": both}) == [
        mastered_vocals,
        f"{audio_id}/stems/original/instrumental-{instrumental[:8]}.wav",
    ]
    # every mastered stem, and the stem's master is not the track's
    assert names({"id": audio_id, "versions": ["mastered_stems"]}) == [mastered_vocals]
    track = na.post("/download-archive", json={"id": audio_id, "versions": ["mastered"]})
    assert track.status_code == 409


def test_archive_stem_selections_refuse_what_does_not_exist(na: Client) -> None:
    audio_id = na.ready_audio(seconds=1.0)
    na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"})
    na.mock.advance(180)
    vocals, _ = stems_of(na, audio_id)
    unknown = "00000000-0000-0000-0000-000000000000"
    stems = {"id": audio_id, "versions": ["original_stems"]}
    for extra, status, words in (
        ({"stem_ids": [unknown]}, 404, f"Stem {unknown} not found"),
        ({"stem_selections": [{"stem_id": unknown, "version": "original"}]}, 404, unknown),
        (
            {"stem_selections": [{"stem_id": vocals, "version": "mastered"}]},
            409,
            f"Stem {vocals} has no mastered version",
        ),
        (
            {
                "stem_selections": [
                    {"stem_id": vocals, "version": "mastered", "mastered_id": unknown}
                ]
            },
            404,
            f"Mastered audio {unknown} not found",
        ),
    ):
        refused = na.post("/download-archive", json={**stems, **extra})
        assert refused.status_code == status, (extra, refused.text)
        assert words in refused.json()["detail"]


# --- downloads and archives -------------------------------------------------------------------


def test_download_links_expire_on_the_server_clock(na: Client) -> None:
    audio_id = na.ready_audio()
    redirect = na.get(f"/download/audio/{audio_id}", follow_redirects=False)
    link = redirect.headers["location"]
    assert na.mock.client.get(link).status_code == 200
    na.mock.advance(3601)
    expired = na.mock.client.get(link)
    assert expired.status_code == 403 and "expired" in expired.json()["message"]
    assert na.mock.client.get(link.replace("signature=", "signature=0")).status_code == 403
    tampered = na.mock.client.get(re.sub(r"signature=[^&]*", "signature=%C3%A9", link))
    assert tampered.status_code == 403 and "does not match" in tampered.json()["message"]


def test_a_file_is_rendered_off_the_event_loop(na: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoding a long track to MP3 takes seconds (a 1 KB FLAC may claim days, up to
    `max_render_bytes`): on the event loop it held up every other request meanwhile."""
    audio_id = na.ready_audio()
    link = na.get(f"/download/audio/{audio_id}", follow_redirects=False).headers["location"]
    service = na.mock.client.app.app.state.services["neuralanalog"]
    render, on_the_loop = service.render_file, []

    def watched(job: Any, name: str) -> tuple[bytes, str]:
        try:
            asyncio.get_running_loop()
            on_the_loop.append(True)
        except RuntimeError:  # no loop runs in this thread: a worker's
            on_the_loop.append(False)
        return render(job, name)

    monkeypatch.setattr(service, "render_file", watched)
    assert na.mock.client.get(link).status_code == 200
    assert on_the_loop == [False]


def test_download_refuses_an_undocumented_format(na: Client) -> None:
    audio_id = na.ready_audio()
    refused = na.get(f"/download/audio/{audio_id}", params={"format": "ogg"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "format"]


def test_download_of_an_unfinished_object_is_a_conflict(na: Client) -> None:
    audio_id = na.upload()
    assert na.get(f"/download/audio/{audio_id}", follow_redirects=False).status_code == 409


def test_archive_holds_the_requested_versions(na: Client) -> None:
    audio_id = na.ready_audio(seconds=1.0)
    na.post("/master-audio", json={"audio_id": audio_id})
    na.mock.advance(90)
    answer = na.post(
        "/download-archive", json={"id": audio_id, "versions": ["original", "mastered"]}
    ).json()
    assert answer["email_notification_queued"] is False and answer["archive_incomplete"] is False
    assert answer["expires_in_seconds"] == 86400
    archive = zipfile.ZipFile(io.BytesIO(na.mock.client.get(answer["download_url"]).content))
    assert sorted(archive.namelist()) == [f"{audio_id}/mastered.wav", f"{audio_id}/original.wav"]
    for name in archive.namelist():
        assert duration_of(archive.read(name)) == pytest.approx(1.0)


def test_an_archive_shows_on_the_dashboard_and_cannot_be_ended(na: Client) -> None:
    """An archive is a job of a kind without a failure message: the dashboard (which lists
    the words each job can end in) and a forced end answered 500 `KeyError: 'archive'`."""
    audio_id = na.ready_audio(seconds=1.0)
    answer = na.post("/download-archive", json={"id": audio_id, "versions": ["original"]})
    archive_id = answer.json()["download_url"].split("/files/")[1].split("/")[0]
    assert na.mock.client.get("/__mock__/dashboard").status_code == 200
    ended = na.mock.client.post(
        f"/__mock__/jobs/{archive_id}/transition", json={"outcome": "failed"}
    )
    assert ended.status_code == 409, ended.text


def test_stem_archive_holds_the_stems_of_that_version(na: Client) -> None:
    audio_id = na.ready_audio(seconds=1.0)
    na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"})
    na.mock.advance(180)
    answer = na.post(
        "/download-archive", json={"id": audio_id, "versions": ["original_stems"]}
    ).json()
    names = zipfile.ZipFile(
        io.BytesIO(na.mock.client.get(answer["download_url"]).content)
    ).namelist()
    assert len(names) == 2 and all(n.startswith(f"{audio_id}/stems/original/") for n in names)
    missing = na.post("/download-archive", json={"id": audio_id, "versions": ["mastered_stems"]})
    assert missing.status_code == 409


def test_archives_and_use_restored_read_the_track_s_own_jobs(
    na: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read every job of the key: an archive of one track took 5.8 s among 60,000 jobs
    (1,500 tracks: 9 s). They read the track's own list of the jobs made from it."""
    tracks = [na.ready_audio(seconds=0.5) for _ in range(3)]
    for audio_id in tracks:
        na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"})
        na.post("/master-audio", json={"audio_id": audio_id})
        na.post("/upscale-audio", json={"audio_id": audio_id})
    na.mock.advance(180)
    store = na.mock.state.store

    def every_job(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read every job of the key")

    monkeypatch.setattr(store, "jobs", every_job)
    monkeypatch.setattr(store, "newest", every_job)
    for versions in (["original_stems"], ["mastered"], ["original", "restored"]):
        answer = na.post("/download-archive", json={"ids": tracks, "versions": versions})
        assert answer.status_code == 200, answer.text
        names = zipfile.ZipFile(
            io.BytesIO(na.mock.client.get(answer.json()["download_url"]).content)
        ).namelist()
        assert {name.split("/")[0] for name in names} == set(tracks)
    master = na.post("/master-audio", json={"audio_id": tracks[0], "use_restored": True})
    assert master.status_code == 200, master.text
    assert "Restoring" not in na.status("mastered", master.json()["id"])["status_details"]


def test_a_track_s_list_lets_go_of_forgotten_jobs_and_goes_with_its_track() -> None:
    for mock in make_mock(store_capacity=4):
        na = Client(mock)
        first = na.ready_audio()
        listed = key(mock.key, "neuralanalog", "made-from", first)
        upscaled = na.post("/upscale-audio", "completed; after=1", json={"audio_id": first})
        mock.state.backend.push(listed, "a-job-forgotten-since")
        mock.advance(1)
        restored = na.post("/download-archive", json={"id": first, "versions": ["restored"]})
        assert restored.status_code == 200, restored.text
        assert mock.state.backend.items(listed) == [upscaled.json()["id"]]
        for _ in range(4):  # tracks of their own, each with a job made from it
            audio_id = na.ready_audio()
            na.post("/upscale-audio", json={"audio_id": audio_id})
        assert na.get(f"/status/audio/{first}").status_code == 404  # evicted
        assert mock.state.backend.length(listed) == 0


def test_a_track_s_jobs_are_found_through_any_server_on_its_store(store_url: str) -> None:
    """Jobs made through one server (or worker) are archived through another."""
    for one, other in two_servers(store_url):
        headers = one.headers("neuralanalog")
        audio_id = imported(one)
        one.advance(30)
        split = one.client.post(
            f"{NA}/create-stems", headers=headers, json={"audio_id": audio_id, "preset": "duet"}
        )
        assert split.status_code == 200, split.text
        master = other.client.post(
            f"{NA}/master-audio", headers=headers, json={"audio_id": audio_id}
        )
        assert master.status_code == 200, master.text
        other.advance(180)
        for server, versions in ((other, ["original_stems"]), (one, ["original", "mastered"])):
            answer = server.client.post(
                f"{NA}/download-archive",
                headers=headers,
                json={"id": audio_id, "versions": versions},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["download_url"]


def test_archive_refuses_missing_versions_and_mixed_kinds(na: Client) -> None:
    audio_id = na.ready_audio()
    missing = na.post("/download-archive", json={"id": audio_id, "versions": ["mastered"]})
    assert missing.status_code == 409 and "mastered" in missing.json()["detail"]
    mixed = na.post(
        "/download-archive", json={"id": audio_id, "versions": ["original", "original_stems"]}
    )
    assert mixed.status_code == 422
    assert "cannot be mixed" in mixed.json()["detail"][0]["msg"]


def test_stems_cannot_be_named_with_track_versions(na: Client) -> None:
    """The docs: "Track and stem archive versions are separate requests". Stems named with
    track versions were ignored: an archive of the tracks came back, without a word."""
    audio_id = na.ready_audio()
    na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"})
    na.mock.advance(180)
    vocals, _ = stems_of(na, audio_id)
    for field, value in (
        ("stem_selections", [{"stem_id": vocals, "version": "original"}]),
        ("stem_ids", [vocals]),
    ):
        body = {"id": audio_id, "versions": ["original"], field: value}
        refused = na.post("/download-archive", json=body)
        assert refused.status_code == 422, refused.text
        [item] = refused.json()["detail"]
        assert (item["type"], item["loc"], item["input"]) == ("value_error", ["body", field], value)
        assert "not track versions" in item["msg"]
    assert na.post(
        "/download-archive", json={"id": audio_id, "versions": ["original"], "stem_ids": []}
    ).is_success


def test_each_stem_named_needs_the_version_asked(na: Client) -> None:
    """`stem_ids` naming a mastered and an unmastered stem gave the mastered one alone,
    while the unmastered one alone was a 409."""
    audio_id, other = na.ready_audio(), na.ready_audio()
    for track in (audio_id, other):
        na.post("/create-stems", json={"audio_id": track, "preset": "2_tracks"})
    na.mock.advance(180)
    vocals, instrumental = stems_of(na, audio_id)
    na.post("/master-audio", json={"audio_id": audio_id, "stem_id": vocals})
    na.mock.advance(90)
    body = {"id": audio_id, "versions": ["mastered_stems"]}
    for named in ([vocals, instrumental], [instrumental]):
        refused = na.post("/download-archive", json={**body, "stem_ids": named})
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"].startswith(f"Stem {instrumental} has no mastered version")
    both = {"ids": [audio_id, other], "versions": ["original_stems"], "stem_ids": [vocals]}
    answer = na.post("/download-archive", json=both)  # the other track names none: it adds none
    assert answer.status_code == 200, answer.text
    names = zipfile.ZipFile(io.BytesIO(na.mock.client.get(answer.json()["download_url"]).content))
    assert names.namelist() == [f"{audio_id}/stems/original/vocals-{vocals[:8]}.wav"]


def test_an_archive_leaves_out_whole_what_it_cannot_render(na: Client) -> None:
    """Every member shared one render budget (`max_render_bytes`) smaller than a member may
    be (`archive_max_file_bytes`): the second of two 6-minute tracks came back 186 s long,
    with `archive_incomplete: false`."""
    one_second = 8000 * 2  # bytes of samples of a 1 s upload: 8 kHz, mono, 16 bits
    for budget, kept in ((2 * one_second, 2), (one_second + 1000, 1), (1000, 0)):
        for mock in make_mock(max_render_bytes=budget):
            client = Client(mock)
            tracks = [client.ready_audio(seconds=1.0) for _ in range(2)]
            answer = client.post(
                "/download-archive", json={"ids": tracks, "versions": ["original"]}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["archive_incomplete"] is (kept < 2)
            link = answer.json()["download_url"]
            archive = zipfile.ZipFile(io.BytesIO(mock.client.get(link).content))
            assert archive.namelist() == [f"{t}/original.wav" for t in tracks[:kept]]
            for name in archive.namelist():
                assert duration_of(archive.read(name)) == pytest.approx(1.0)


def tone_of(data: bytes) -> int:
    """The frequency a WAV plays, in Hz, to the nearest one (a 1 s file: one per bin)."""
    with wave.open(io.BytesIO(data)) as reader:
        rate = reader.getframerate()
        samples = numpy.frombuffer(reader.readframes(reader.getnframes()), dtype=numpy.int16)
    spectrum = numpy.abs(numpy.fft.rfft(samples))
    return round(int(numpy.argmax(spectrum)) * rate / len(samples))


def test_every_version_plays_a_tone_of_its_own(na: Client) -> None:
    """A mastered stem played its stem's tone, and the third stem of a split the original
    track's: a test could not tell them apart."""
    audio_id = na.ready_audio(seconds=1.0)
    upscaled = na.post("/upscale-audio", json={"audio_id": audio_id}).json()["id"]
    mastered = na.post("/master-audio", json={"audio_id": audio_id}).json()["id"]
    na.post("/create-stems", json={"audio_id": audio_id, "preset": "mvsep_mega_53"})
    na.mock.advance(180)
    na.post("/create-stems", json={"upscaled_id": upscaled, "preset": "4_tracks"})
    na.post("/create-stems", json={"mastered_id": mastered, "preset": "4_tracks"})
    na.mock.advance(180)
    stems = stems_of(na, audio_id)
    assert len(stems) == 16
    stem_masters = [
        na.post("/master-audio", json={"audio_id": audio_id, "stem_id": stem}).json()["id"]
        for stem in stems
    ]
    na.mock.advance(90)
    files = [na.download(kind, i) for kind, i in (("audio", audio_id), ("upscaled", upscaled))]
    files += [na.download("mastered", i) for i in (mastered, *stem_masters)]
    files += [na.download("stem", stem) for stem in stems]
    tones = [tone_of(data) for data in files]
    assert tones[:3] == [440, 523, 659]
    assert len(set(tones)) == len(tones) == 35


@pytest.mark.parametrize(
    ("config", "queued", "incomplete"),
    [
        ({"archive_email_threshold_seconds": 0}, True, False),
        ({"archive_max_file_bytes": 1000}, False, True),
    ],
)
def test_large_archives_are_emailed_or_cut(
    config: dict[str, int], queued: bool, incomplete: bool
) -> None:
    for mock in make_mock(**config):
        na = Client(mock)
        audio_id = na.ready_audio(seconds=1.0)
        answer = na.post(
            "/download-archive", json={"id": audio_id, "versions": ["original"]}
        ).json()
        assert answer["email_notification_queued"] is queued
        assert answer["archive_incomplete"] is incomplete
        assert (answer["download_url"] is None) is queued


# --- tenants, store, errors -------------------------------------------------------------------


def test_one_key_never_sees_another_keys_jobs(mock: Mock) -> None:
    alice, bob = Client(mock, "alice"), Client(mock, "bob")
    audio_id = alice.upload()
    assert bob.get(f"/status/audio/{audio_id}").status_code == 404
    assert alice.get(f"/status/audio/{audio_id}").status_code == 200


def test_oldest_finished_jobs_are_evicted_past_the_cap() -> None:
    for mock in make_mock(store_capacity=3):
        na = Client(mock)
        first = na.upload(scenario="completed; after=1")
        running = na.upload(scenario="completed; after=1000")
        mock.advance(2)
        later = [na.upload() for _ in range(2)]
        assert len(mock.state.store) == 3
        assert na.get(f"/status/audio/{first}").status_code == 404
        assert na.get(f"/status/audio/{running}").status_code == 200  # running jobs are kept
        assert all(na.get(f"/status/audio/{i}").status_code == 200 for i in later)


def test_missing_key_is_401_and_refused_key_is_403() -> None:
    for mock in make_mock(keys={"revoked": {"status": 403}}):
        assert mock.client.get(f"{NA}/status/audio/x").status_code == 401
        refused = mock.client.get(f"{NA}/status/audio/x", headers={"X-API-Key": "revoked"})
        assert refused.status_code == 403 and refused.json() == {"detail": "Forbidden"}


def test_errors_are_fastapi_shaped_and_name_the_field(na: Client) -> None:
    missing = na.post("/master-audio", json={})
    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {"type": "missing", "loc": ["body", "audio_id"], "msg": "Field required", "input": {}}
    ]
    bad_enum = na.post("/master-audio", json={"audio_id": "a", "preset": "louder"})
    assert bad_enum.json()["detail"][0]["loc"] == ["body", "preset"]
    assert bad_enum.json()["detail"][0]["type"] == "enum"
    json_headers = {**na.headers, "content-type": "application/json"}
    not_json = na.mock.client.post(f"{NA}/master-audio", content=b"{oops", headers=json_headers)
    assert not_json.status_code == 422 and not_json.json()["detail"][0]["type"] == "json_invalid"
    no_file = na.post("/from-file", data={"file_source": "from_file"})
    assert no_file.status_code == 422 and no_file.json()["detail"][0]["loc"] == ["body", "audio"]
    text_file = na.post("/from-file", data={"audio": "not a file"})
    assert text_file.status_code == 422
    assert na.get("/status/audio/nope").json() == {"detail": "Audio nope not found"}
    wrong_method = na.mock.client.delete(f"{NA}/status/audio/x", headers=na.headers)
    assert wrong_method.status_code == 405 and wrong_method.json() == {
        "detail": "Method Not Allowed"
    }
    unknown_path = na.get("/nowhere")
    assert unknown_path.status_code == 404 and unknown_path.json() == {"detail": "Not Found"}


def test_a_stem_s_alias_names_no_object(na: Client) -> None:
    """`/status/stem_split/stem:<stem_id>`, an alias the mock keeps to find a stem's split,
    answered the split."""
    audio_id = na.ready_audio()
    na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"})
    na.mock.advance(180)
    vocals, _ = stems_of(na, audio_id)
    unknown = na.get(f"/status/stem_split/stem:{vocals}")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": f"Stem split stem:{vocals} not found"},
    )


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e999"])
def test_a_number_no_json_can_hold_is_refused_naming_its_field(na: Client, number: str) -> None:
    """It was refused without a word of where: "Request body: NaN and Infinity are..."."""
    audio_id = na.ready_audio()
    body = f'{{"audio_id": "{audio_id}", "target_lufs": {number}}}'
    headers = {**na.headers, "content-type": "application/json"}
    refused = na.mock.client.post(f"{NA}/master-audio", content=body, headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["detail"] == (
        f"Request body: target_lufs holds {number}: NaN and Infinity are not JSON numbers "
        "(nor is a number too large for a float)"
    )


def test_an_id_is_echoed_cut_short(na: Client) -> None:
    """A 5,000-character ID came back whole in the error."""
    long_id = "x" * 5000
    for refused in (
        na.post("/master-audio", json={"audio_id": long_id}),
        na.get(f"/status/upscaled/{long_id}"),
        na.get(f"/status/stem/{long_id}"),
    ):
        assert refused.status_code == 404, refused.text
        detail = refused.json()["detail"]
        assert f" {'x' * 64}... not found" in detail and len(detail) < 100


def test_an_import_from_a_link_says_it_started(na: Client) -> None:
    """It said "File uploaded successfully" (the from-file page's words): nothing is."""
    answer = na.post("/from-link", json={"url": "https://example.com/a.wav"})
    assert answer.json()["message"] == "Audio import started"


def test_an_empty_wav_fails_its_import_saying_it_is_empty(na: Client) -> None:
    """A valid WAV of 0 frames failed as "could not be decoded"; it decodes, to nothing."""
    audio_id = na.upload(seconds=0.0)
    na.mock.advance(60)
    failed = na.status("audio", audio_id)
    assert failed["is_failed"]
    assert failed["error_message"] == "Source audio is empty: it holds no samples"
    steered = na.upload(seconds=0.0, scenario="completed")
    na.mock.advance(60)
    assert na.status("audio", steered)["is_complete"]
    assert duration_of(na.download("audio", steered)) == pytest.approx(1.0)  # a stand-in


def test_bad_scenario_header_is_a_clear_400(na: Client) -> None:
    response = na.post("/from-link", "exploded", json={"url": "https://x/y.wav"})
    assert response.status_code == 400
    assert "unknown outcome 'exploded'" in response.json()["detail"]


def test_magic_file_names_pick_the_outcome(na: Client) -> None:
    audio_id = na.upload(name="take.mock-failed.wav")
    na.mock.advance(60)
    assert na.status("audio", audio_id)["is_failed"]


def test_same_seed_same_requests_same_ids_and_timelines() -> None:
    def run() -> list[Any]:
        for mock in make_mock():
            na = Client(mock, "seeded")
            audio_id = na.upload()
            mock.advance(60)
            return [audio_id, na.status("audio", audio_id)]
        raise AssertionError

    assert run() == run()


def test_host_header_of_the_real_api_serves_it_at_the_root(mock: Mock) -> None:
    headers = {**mock.headers("neuralanalog"), "Host": "api.neuralanalog.com"}
    created = mock.client.post("/from-link", headers=headers, json={"url": "https://x/a.wav"})
    assert created.status_code == 200
    mock.advance(60)
    status = mock.client.get(f"/status/audio/{created.json()['audio_id']}", headers=headers).json()
    assert status["download_url"].startswith("http://api.neuralanalog.com/download/audio/")
