"""Neural Analog end to end on the manual clock: every object type, every outcome, every error."""

from __future__ import annotations

import asyncio
import io
import re
import wave
import zipfile
from typing import Any

import pytest

from tests.conftest import Mock, make_mock, wav

NA = "/neuralanalog"


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
    assert refused.json() == {
        "detail": f"Audio {failed} failed (Source audio could not be decoded): it has no output"
    }
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


def test_an_archive_of_many_tracks_reads_the_key_s_jobs_once(
    na: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each track's stems and masterings were looked for through all the key's jobs: an
    archive of 1,500 tracks with stems took 9 s, growing with the square of their number."""
    tracks = [na.ready_audio(seconds=0.5) for _ in range(3)]
    for audio_id in tracks:
        na.post("/create-stems", json={"audio_id": audio_id, "preset": "2_tracks"})
        na.post("/master-audio", json={"audio_id": audio_id})
    na.mock.advance(180)
    store, reads = na.mock.state.store, []
    jobs = store.jobs

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return jobs(*args, **kwargs)

    monkeypatch.setattr(store, "jobs", counted)
    for versions in (["original_stems"], ["mastered"]):
        answer = na.post("/download-archive", json={"ids": tracks, "versions": versions})
        names = zipfile.ZipFile(
            io.BytesIO(na.mock.client.get(answer.json()["download_url"]).content)
        ).namelist()
        assert {name.split("/")[0] for name in names} == set(tracks)
    assert len(reads) == 2  # once per archive, not once per track


def test_archive_refuses_missing_versions_and_mixed_kinds(na: Client) -> None:
    audio_id = na.ready_audio()
    missing = na.post("/download-archive", json={"id": audio_id, "versions": ["mastered"]})
    assert missing.status_code == 409 and "mastered" in missing.json()["detail"]
    mixed = na.post(
        "/download-archive", json={"id": audio_id, "versions": ["original", "original_stems"]}
    )
    assert mixed.status_code == 422
    assert "cannot be mixed" in mixed.json()["detail"][0]["msg"]


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
