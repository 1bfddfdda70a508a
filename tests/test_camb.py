"""Camb.ai audio separation: every outcome on the manual clock, every error, the official SDK."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import soundfile
from camb import AsyncCambAI, CambAI, UnprocessableEntityError
from camb.core.api_error import ApiError

from mockserver.contracts import load
from mockserver.fixtures.transport import SyncASGITransport
from tests.conftest import Live, Mock, make_mock
from tests.conftest import wav as upload

CAMB = "/camb/apis"
SEPARATION_SECONDS = 30  # the default length of a task
FAILURES = ("ERROR", "TIMEOUT", "PAYMENT_REQUIRED")


def wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    return upload(seconds, rate)


def read_flac(data: bytes) -> tuple[float, bytes]:
    """Duration and 16-bit frames of a FLAC file, decoded by libsndfile; raises if the bytes
    are not one."""
    with soundfile.SoundFile(io.BytesIO(data)) as reader:
        assert reader.format == "FLAC"
        return reader.frames / reader.samplerate, reader.read(dtype="int16").tobytes()


def tone_hz(data: bytes) -> float:
    """The frequency of a 16-bit mono sine, by counting upward zero crossings."""
    duration, frames = read_flac(data)
    samples = [
        int.from_bytes(frames[i : i + 2], "little", signed=True) for i in range(0, len(frames), 2)
    ]
    rises = sum(1 for a, b in zip(samples, samples[1:], strict=False) if a < 0 <= b)
    return rises / duration


class Client:
    """A small Camb client over the in-process app, for readable tests."""

    def __init__(self, mock: Mock, key: str | None = None) -> None:
        self.mock = mock
        self.headers = mock.headers("camb", key)

    def create(
        self,
        name: str = "take.wav",
        content: bytes | None = None,
        scenario: str | None = None,
        **form: str,
    ) -> str:
        response = self.post_create(name, content, scenario, **form)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"task_id"}
        return response.json()["task_id"]

    def post_create(
        self,
        name: str = "take.wav",
        content: bytes | None = None,
        scenario: str | None = None,
        **form: str,
    ) -> httpx.Response:
        headers = {**self.headers, **({"X-Mock-Scenario": scenario} if scenario else {})}
        files = {"media_file": (name, wav() if content is None else content, "audio/x-wav")}
        return self.mock.client.post(
            f"{CAMB}/audio-separation", headers=headers, files=files, data=form
        )

    def status(self, task_id: str) -> dict[str, Any]:
        response = self.mock.client.get(f"{CAMB}/audio-separation/{task_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def finished(self, task_id: str) -> dict[str, Any]:
        self.mock.advance(SEPARATION_SECONDS)
        return self.status(task_id)

    def result(self, run_id: Any) -> httpx.Response:
        return self.mock.client.get(
            f"{CAMB}/audio-separation-result/{run_id}", headers=self.headers
        )

    def batch(self, run_ids: list[int]) -> dict[str, Any]:
        response = self.mock.client.post(
            f"{CAMB}/audio-separation-results", headers=self.headers, json={"run_ids": run_ids}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def run_id_of(self, task_id: str) -> int:
        """The run id a task will report once it succeeds (read from the store)."""
        job = self.mock.state.store.get("camb", self.mock.key, task_id)
        assert job is not None
        return job.data["run_id"]


@pytest.fixture
def camb(mock: Mock) -> Client:
    return Client(mock)


PENDING = {"status": "PENDING", "run_id": None, "exception_reason": None, "message": None}


# --- success ------------------------------------------------------------------------------


def test_task_succeeds_after_thirty_seconds_with_two_distinct_tracks(camb: Client) -> None:
    task_id = camb.create(content=wav(2.5))
    assert camb.status(task_id) == PENDING
    camb.mock.advance(SEPARATION_SECONDS - 1)
    assert camb.status(task_id) == PENDING
    camb.mock.advance(1)
    done = camb.status(task_id)
    assert done["status"] == "SUCCESS" and isinstance(done["run_id"], int)
    assert done["exception_reason"] is None and done["message"] is None

    result = camb.result(done["run_id"])
    assert result.status_code == 200
    urls = result.json()
    assert set(urls) == {"foreground_audio_url", "background_audio_url"}
    tracks = {}
    for field, url in urls.items():
        assert url.startswith("http://testserver/")
        download = camb.mock.client.get(url)  # signed: no API key
        assert download.status_code == 200
        assert download.headers["content-type"] == "audio/flac"
        assert read_flac(download.content)[0] == pytest.approx(2.5)
        tracks[field] = download.content
    assert tone_hz(tracks["foreground_audio_url"]) == pytest.approx(660, rel=0.02)
    assert tone_hz(tracks["background_audio_url"]) == pytest.approx(110, rel=0.02)


def test_a_run_exists_only_once_its_task_succeeded(camb: Client) -> None:
    pending = camb.create()
    failed = camb.create(scenario="error")
    pending_run, failed_run = camb.run_id_of(pending), camb.run_id_of(failed)
    assert camb.result(pending_run).status_code == 404
    camb.mock.advance(SEPARATION_SECONDS)
    assert camb.status(failed)["status"] == "ERROR"
    assert camb.result(failed_run).json() == {"detail": f"Run {failed_run} not found"}
    assert camb.batch([failed_run]) == {}


def test_batch_answers_each_finished_run_once(camb: Client) -> None:
    first, second = camb.create(), camb.create()
    late = camb.create(scenario="success; after=100")
    camb.mock.advance(SEPARATION_SECONDS)
    runs = [camb.status(first)["run_id"], camb.status(second)["run_id"]]
    answer = camb.batch([runs[0], runs[1], runs[0], camb.run_id_of(late), 1])
    assert list(answer) == [str(runs[0]), str(runs[1])]
    for urls in answer.values():
        foreground = camb.mock.client.get(urls["foreground_audio_url"]).content
        background = camb.mock.client.get(urls["background_audio_url"]).content
        assert read_flac(foreground)[1] != read_flac(background)[1]


def test_a_batch_holds_at_most_1000_run_ids(camb: Client) -> None:
    """The docs name no bound: without one, half a million ids (under the 1 MiB body limit)
    held the event loop 2.3 s, checked one by one before the repeats were dropped."""
    run = camb.finished(camb.create())["run_id"]
    assert list(camb.batch([run] * 1000)) == [str(run)]
    refused = _batch_raw(camb, json={"run_ids": [run] * 1001})
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert (problem["type"], problem["loc"]) == ("too_long", ["body", "run_ids"])
    assert problem["msg"] == "List should have at most 1000 items after validation, not 1001"
    assert problem["ctx"] == {"field_type": "List", "max_length": 1000, "actual_length": 1001}
    assert problem["input"] == [run] * 100 + ["..."]  # the echo is bounded too


def test_a_huge_text_media_file_is_not_echoed_whole(camb: Client) -> None:
    """A 90 MB text part named `media_file` made a 185 MB 422: its `input` is cut short."""
    text = "x" * 5_000_000
    response = _create_raw(camb, data={"media_file": text}, files={"x": ("x", b"x")})
    assert response.status_code == 422
    assert len(response.content) < 2_000
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "media_file"]
    assert problem["input"] == "x" * 1000 + "..."


def test_head_is_served_as_get_and_is_no_contract_violation(camb: Client) -> None:
    """HTTP allows a HEAD wherever a GET is served (Starlette answers it): the journal took
    each one for a method the contract does not allow."""
    task_id = camb.create()
    head = camb.mock.client.head(f"{CAMB}/audio-separation/{task_id}", headers=camb.headers)
    assert (head.status_code, head.content) == (200, b"")
    document = camb.mock.client.head(f"{CAMB}/openapi.json")
    assert document.status_code == 200
    entries = camb.mock.client.get("/__mock__/journal").json()
    heads = [e for e in entries["entries"] if e["method"] == "HEAD"]
    assert len(heads) == 2 and all(e["violations"] == [] for e in heads), heads
    post = camb.mock.client.head(f"{CAMB}/audio-separation-results", headers=camb.headers)
    assert post.status_code == 405  # no GET there: still a method the contract lacks


def test_non_wav_uploads_are_measured_by_size(camb: Client) -> None:
    mp3 = b"ID3" + bytes(47_997)  # 48 kB at the assumed 128 kbit/s: three seconds
    done = camb.finished(camb.create("song.mp3", mp3))
    urls = camb.result(done["run_id"]).json()
    track = camb.mock.client.get(urls["background_audio_url"]).content
    assert read_flac(track)[0] == pytest.approx(3.0)


# --- every outcome ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "status", "reason"),
    [
        ("error", "ERROR", "PROCESSING_ERROR"),
        ("ERROR; reason=SOURCE_TOO_LONG", "ERROR", "SOURCE_TOO_LONG"),
        ("timeout", "TIMEOUT", "PROCESSING_ERROR"),
        ("TIMEOUT; reason=internal_error", "TIMEOUT", "INTERNAL_ERROR"),
        ("payment_required", "PAYMENT_REQUIRED", "PAYMENT_REQUIRED"),
    ],
)
def test_failures_by_header_carry_a_reason_and_message(
    camb: Client, scenario: str, status: str, reason: str
) -> None:
    task_id = camb.create(scenario=scenario)
    camb.mock.advance(SEPARATION_SECONDS - 1)
    assert camb.status(task_id) == PENDING
    camb.mock.advance(1)
    ended = camb.status(task_id)
    assert ended["status"] == status and ended["run_id"] is None
    assert ended["exception_reason"] == reason
    assert isinstance(ended["message"], str) and ended["message"]


def test_scenario_options_set_duration_and_message(camb: Client) -> None:
    task_id = camb.create(scenario="error; after=5; message=Disk on fire")
    camb.mock.advance(4)
    assert camb.status(task_id)["status"] == "PENDING"
    camb.mock.advance(1)
    assert camb.status(task_id)["message"] == "Disk on fire"


@pytest.mark.parametrize("outcome", ["SUCCESS", *FAILURES])
def test_admin_queue_steers_the_next_task(camb: Client, outcome: str) -> None:
    queued = camb.mock.client.post(
        "/__mock__/scenarios", json={"api": "camb", "outcome": outcome, "tenant": camb.mock.key}
    )
    assert queued.status_code == 201
    steered, after = camb.create(scenario=None), camb.create()
    camb.mock.advance(SEPARATION_SECONDS)
    assert camb.status(steered)["status"] == outcome
    assert camb.status(after)["status"] == "SUCCESS"  # a queued scenario is used once


def test_admin_queue_takes_a_reason(camb: Client) -> None:
    queued = camb.mock.client.post(
        "/__mock__/scenarios", json={"api": "camb", "outcome": "ERROR", "reason": "SOURCE_TOO_LONG"}
    )
    assert queued.status_code == 201
    ended = camb.finished(camb.create())
    assert (ended["status"], ended["exception_reason"]) == ("ERROR", "SOURCE_TOO_LONG")
    assert ended["message"] == "The media is longer than the maximum duration allowed."


@pytest.mark.parametrize(
    "body",
    [
        {"api": "camb", "outcome": "ERROR", "reason": "DISK_ON_FIRE"},
        {"api": "camb", "outcome": "SUCCESS", "reason": "SOURCE_TOO_LONG"},
        {"api": "camb", "outcome": "PAYMENT_REQUIRED", "reason": "SOURCE_TOO_LONG"},
        {"api": "camb", "outcome": "completed"},
    ],
)
def test_admin_queue_refuses_what_camb_cannot_do(camb: Client, body: dict[str, str]) -> None:
    refused = camb.mock.client.post("/__mock__/scenarios", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"]
    assert camb.mock.client.get("/__mock__/scenarios").json() == {"queued": []}


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [("ERROR", "SOURCE_TOO_LARGE"), ("TIMEOUT", "PROCESSING_ERROR"), ("PAYMENT_REQUIRED", None)],
)
def test_admin_transition_ends_a_pending_task(
    camb: Client, outcome: str, reason: str | None
) -> None:
    task_id = camb.create()
    body = {"outcome": outcome, **({"reason": reason} if reason else {})}
    forced = camb.mock.client.post(f"/__mock__/jobs/{task_id}/transition", json=body)
    assert forced.status_code == 200, forced.text
    ended = camb.status(task_id)
    assert ended["status"] == outcome
    assert ended["exception_reason"] == (reason or "PAYMENT_REQUIRED")


@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("song.mock-error.wav", "ERROR", "PROCESSING_ERROR"),
        ("song.mock-error-source_too_long.wav", "ERROR", "SOURCE_TOO_LONG"),
        ("song.mock-timeout.wav", "TIMEOUT", "PROCESSING_ERROR"),
        ("song.mock-payment_required.wav", "PAYMENT_REQUIRED", "PAYMENT_REQUIRED"),
        ("song.MOCK-SUCCESS.wav", "SUCCESS", None),
        ("mock-up.wav", "SUCCESS", None),  # not an outcome word: an ordinary name
    ],
)
def test_magic_file_names(camb: Client, name: str, status: str, reason: str | None) -> None:
    ended = camb.finished(camb.create(name))
    assert (ended["status"], ended["exception_reason"]) == (status, reason)


def test_header_beats_magic_file_name(camb: Client) -> None:
    assert camb.finished(camb.create("a.mock-error.wav", scenario="success"))["status"] == "SUCCESS"


def test_stalled_task_stays_pending(camb: Client) -> None:
    task_id = camb.create(scenario="stalled")
    camb.mock.advance(10**6)
    assert camb.status(task_id) == PENDING


def test_per_poll_mode_moves_one_phase_per_read(camb: Client) -> None:
    task_id = camb.create(scenario="timeout; mode=poll")
    assert camb.status(task_id)["status"] == "PENDING"
    assert camb.status(task_id)["status"] == "TIMEOUT"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("upload", b"just some text", "SOURCE_TYPE_NOT_SUPPORTED"),
        ("empty.wav", b"", "INVALID_SOURCE_DATA"),
        ("song.wav", b"fLaC" + bytes(100), "CONTENT_DOES_NOT_MATCH_EXTENSION"),
        ("song.flac", b"fLaC" + bytes(100), None),
        ("song.mp3", b"\xff\xfb\x90\x00" + bytes(100), None),
        ("clip.aac", b"\xff\xf1\x50\x80" + bytes(100), None),
        ("clip.m4a", b"\x00\x00\x00\x20ftypM4A " + bytes(100), None),
        ("upload", wav(), None),  # raw bytes from the SDK: the content decides
    ],
)
def test_unsteered_uploads_fail_when_the_service_could_not_read_them(
    camb: Client, name: str, content: bytes, reason: str | None
) -> None:
    ended = camb.finished(camb.create(name, content))
    assert ended["status"] == ("ERROR" if reason else "SUCCESS")
    assert ended["exception_reason"] == reason


def test_a_scenario_beats_content_sniffing(camb: Client) -> None:
    ended = camb.finished(camb.create("notes.txt", b"not audio", scenario="success"))
    assert ended["status"] == "SUCCESS"


# --- tenants, links, routing ----------------------------------------------------------------


def test_tasks_and_runs_are_invisible_to_other_keys(camb: Client) -> None:
    done = camb.finished(task_id := camb.create())
    other = Client(camb.mock, key="someone-else")
    missing = other.mock.client.get(f"{CAMB}/audio-separation/{task_id}", headers=other.headers)
    assert missing.status_code == 404
    assert other.result(done["run_id"]).status_code == 404
    assert other.batch([done["run_id"]]) == {}


def test_result_links_expire_and_cannot_be_forged(camb: Client) -> None:
    done = camb.finished(camb.create())
    url = camb.result(done["run_id"]).json()["foreground_audio_url"]
    assert camb.mock.client.get(url.replace("fg_audio.flac", "bg_audio.flac")).status_code == 403
    camb.mock.advance(3601)
    assert camb.mock.client.get(url).status_code == 403
    fresh = camb.result(done["run_id"]).json()["foreground_audio_url"]
    assert camb.mock.client.get(fresh).status_code == 200


def test_real_host_name_serves_camb_at_the_root(mock: Mock) -> None:
    headers = {**mock.headers("camb"), "host": "client.camb.ai"}
    files = {"media_file": ("take.wav", wav(), "audio/x-wav")}
    created = mock.client.post("/apis/audio-separation", headers=headers, files=files)
    assert created.status_code == 200
    status = mock.client.get(f"/apis/audio-separation/{created.json()['task_id']}", headers=headers)
    assert status.json()["status"] == "PENDING"


def test_form_fields_are_optional_and_kept_typed(camb: Client) -> None:
    plain = camb.create()
    filed = camb.create(project_name="Demo", project_description="", folder_id="7")
    jobs = [camb.mock.state.store.get("camb", camb.mock.key, task) for task in (plain, filed)]
    assert jobs[0] is not None and jobs[1] is not None
    assert (jobs[0].data["project_name"], jobs[0].data["folder_id"]) == (None, None)
    assert (jobs[1].data["project_name"], jobs[1].data["folder_id"]) == ("Demo", 7)


def test_an_empty_form_field_counts_as_not_sent(camb: Client) -> None:
    task = camb.create(project_name="", folder_id="")
    job = camb.mock.state.store.get("camb", camb.mock.key, task)
    assert job is not None
    assert (job.data["project_name"], job.data["folder_id"]) == (None, None)
    violations = camb.mock.client.get("/__mock__/violations", params={"api": "camb"}).json()
    assert violations["count"] == 0


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/audio-separation", {"files": {"media_file": ("a.wav", b"RIFF")}}),
        ("GET", "/audio-separation/3f9a1c52-7d0e-4b8a-9e61-2c4d5b6a7f80", {}),
        ("GET", "/audio-separation-result/12345678", {}),
        ("POST", "/audio-separation-results", {"json": {"run_ids": [1]}}),
    ],
)
def test_missing_key_is_401(mock: Mock, method: str, path: str, kwargs: dict[str, Any]) -> None:
    response = mock.client.request(method, CAMB + path, **kwargs)
    assert response.status_code == 401
    # the authentication page's body, `{"error": "Invalid API key", "status": 401}`: its
    # table gives 401 for an "Invalid or missing API key" and shows no other words
    assert response.json() == {"error": "Invalid API key", "status": 401}


def test_a_key_past_4096_characters_gets_the_same_401_body(camb: Client) -> None:
    refused = camb.mock.client.get(f"{CAMB}/audio-separation/x", headers={"x-api-key": "k" * 4097})
    assert (refused.status_code, refused.json()) == (
        401,
        {"error": "Invalid API key", "status": 401},
    )


def test_a_refused_key_and_a_rate_limit_answer_as_the_authentication_page_shows(
    camb: Client,
) -> None:
    """Its error table (401, 403, 429) and example body; a 404 or 422 stays FastAPI's."""
    for status in (401, 403):
        config = {"keys": {"refused": {"status": status}}}
        for mock in make_mock(**config):
            refused = mock.client.get(
                f"{CAMB}/audio-separation/x", headers={"x-api-key": "refused"}
            )
            words = "Invalid API key" if status == 401 else "Forbidden"
            assert (refused.status_code, refused.json()) == (
                status,
                {"error": words, "status": status},
            )
    limited = camb.mock.client.get(
        f"{CAMB}/audio-separation/x",
        headers={**camb.headers, "X-Mock-Scenario": "SUCCESS; fault=429"},
    )
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json() == {
        "error": "Too many requests: retry in 2 s (rate limit injected by the mock)",
        "status": 429,
    }


def test_unknown_task_and_run_are_404(camb: Client) -> None:
    task = camb.mock.client.get(f"{CAMB}/audio-separation/no-such-task", headers=camb.headers)
    assert task.status_code == 404
    assert task.json() == {"detail": "Task no-such-task not found"}
    assert camb.result(12345678).json() == {"detail": "Run 12345678 not found"}


def test_contract_examples_say_what_the_mock_sends(camb: Client) -> None:
    """The contract's 404 examples and result URLs are the mock's words and file names."""
    document = load("camb").document
    examples = document["components"]["responses"]
    task = examples["TaskNotFound"]["content"]["application/json"]["example"]["detail"]
    task_id = task.split()[1]
    assert task == f"Task {task_id} not found"
    answer = camb.mock.client.get(f"{CAMB}/audio-separation/{task_id}", headers=camb.headers)
    assert answer.json() == {"detail": task}
    run = examples["RunNotFound"]["content"]["application/json"]["example"]["detail"]
    assert camb.result(int(run.split()[1])).json() == {"detail": run}
    result = document["paths"]["/apis/audio-separation-result/{run_id}"]["get"]["responses"]
    example = result["200"]["content"]["application/json"]["examples"]["result"]["value"]
    task_id = camb.create()
    camb.mock.advance(SEPARATION_SECONDS)
    served = camb.result(camb.status(task_id)["run_id"]).json()

    def file_name(url: str) -> str:
        return url.split("?")[0].rsplit("/", 1)[-1]

    assert (
        {key: file_name(url) for key, url in example.items()}
        == {key: file_name(url) for key, url in served.items()}
        == {"foreground_audio_url": "fg_audio.flac", "background_audio_url": "bg_audio.flac"}
    )


def _create_raw(camb: Client, **kwargs: Any) -> httpx.Response:
    return camb.mock.client.post(
        f"{CAMB}/audio-separation", headers={**camb.headers, **kwargs.pop("headers", {})}, **kwargs
    )


def _batch_raw(camb: Client, **kwargs: Any) -> httpx.Response:
    return camb.mock.client.post(
        f"{CAMB}/audio-separation-results",
        headers={**camb.headers, **kwargs.pop("headers", {})},
        **kwargs,
    )


MULTIPART_END = {"content-type": "multipart/form-data; boundary=b"}
WAV_PART = {"media_file": ("a.wav", wav(), "audio/x-wav")}


# name -> (request, expected loc, expected pydantic error type)
BAD_INPUTS: dict[str, tuple[Any, list[Any], str]] = {
    "create-no-body": (lambda c: _create_raw(c), ["body", "media_file"], "missing"),
    "create-empty-multipart": (
        lambda c: _create_raw(c, content=b"--b--\r\n", headers=MULTIPART_END),
        ["body", "media_file"],
        "missing",
    ),
    "create-json-body": (
        lambda c: _create_raw(c, json={"media_file": "x"}),
        ["body", "media_file"],
        "missing",
    ),
    "create-file-as-text": (
        lambda c: _create_raw(c, data={"media_file": "text"}, files={"x": ("x", b"x")}),
        ["body", "media_file"],
        "value_error",
    ),
    "create-empty-file-field": (  # an empty part is a part not sent, as FastAPI reads it
        lambda c: _create_raw(c, data={"media_file": ""}, files={"x": ("x", b"x")}),
        ["body", "media_file"],
        "missing",
    ),
    "create-bad-folder-id": (
        lambda c: _create_raw(c, data={"folder_id": "seven"}, files=WAV_PART),
        ["body", "folder_id"],
        "int_parsing",
    ),
    "create-bad-run-id-query": (
        lambda c: _create_raw(c, params={"run_id": "x"}, files=WAV_PART),
        ["query", "run_id"],
        "int_parsing",
    ),
    "status-bad-run-id-query": (
        lambda c: c.mock.client.get(
            f"{CAMB}/audio-separation/abc", params={"run_id": "1.5"}, headers=c.headers
        ),
        ["query", "run_id"],
        "int_parsing",
    ),
    "result-run-id-None": (lambda c: c.result("None"), ["path", "run_id"], "int_parsing"),
    "result-run-id-float": (lambda c: c.result("1.5"), ["path", "run_id"], "int_parsing"),
    "batch-empty-run-ids": (
        lambda c: _batch_raw(c, json={"run_ids": []}),
        ["body", "run_ids"],
        "too_short",
    ),
    "batch-no-run-ids": (lambda c: _batch_raw(c, json={}), ["body", "run_ids"], "missing"),
    "batch-no-body": (lambda c: _batch_raw(c), ["body"], "missing"),
    "batch-text-run-id": (
        lambda c: _batch_raw(c, json={"run_ids": ["a"]}),
        ["body", "run_ids", 0],
        "int_parsing",
    ),
    "batch-numeric-text-run-id": (  # strict types: lax mode would read it, so not "parsing"
        lambda c: _batch_raw(c, json={"run_ids": ["12345"]}),
        ["body", "run_ids", 0],
        "int_type",
    ),
    "batch-broken-json": (
        lambda c: _batch_raw(c, content=b"{run_ids", headers={"content-type": "application/json"}),
        ["body", 1],
        "json_invalid",
    ),
    "batch-form-body": (
        lambda c: _batch_raw(c, data={"run_ids": "1"}),
        ["body"],
        "model_attributes_type",
    ),
}


@pytest.mark.parametrize(("send", "loc", "kind"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_422_in_fastapi_format(
    camb: Client, send: Any, loc: list[Any], kind: str
) -> None:
    response = send(camb)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert {"type", "loc", "msg", "input"} <= set(problem) <= {"type", "loc", "msg", "input", "ctx"}
    assert (problem["loc"], problem["type"]) == (loc, kind)
    assert problem["msg"]


def test_empty_run_ids_message_matches_fastapi(camb: Client) -> None:
    (problem,) = _batch_raw(camb, json={"run_ids": []}).json()["detail"]
    assert problem["msg"] == "List should have at least 1 item after validation, not 0"


def test_unparsable_multipart_and_bad_scenario_are_400(camb: Client) -> None:
    broken = _create_raw(camb, content=b"xx", headers={"content-type": "multipart/form-data"})
    assert broken.status_code == 400
    assert isinstance(broken.json()["detail"], str)
    bad = camb.post_create(scenario="exploded")
    assert bad.status_code == 400
    assert "unknown outcome 'exploded'" in bad.json()["detail"]
    assert camb.post_create(scenario="error; reason=nope").status_code == 400
    assert len(camb.mock.state.store) == 0  # nothing was created


# --- the official SDK, unmodified, against a live server -----------------------------------


def sdk(live: Live) -> tuple[CambAI, str]:
    key = f"key-{uuid4().hex}"
    return CambAI(api_key=key, base_url=f"{live.url}/camb/apis"), key


def wait_for_end(client: CambAI, live: Live, task_id: str) -> Any:
    """Poll like a real client, moving the server's clock instead of sleeping."""
    for _ in range(10):
        status = client.audio_separation.get_audio_separation_status(task_id)
        if status.status != "PENDING":
            return status
        live.advance(10)
    raise AssertionError("the task never left PENDING")


def test_sdk_separates_an_uploaded_file(live: Live, tmp_path: Any) -> None:
    client, _ = sdk(live)
    path = tmp_path / "take.wav"
    path.write_bytes(wav(1.5))
    with path.open("rb") as media:
        created = client.audio_separation.create_audio_separation(
            media_file=media, project_name="Demo", folder_id=7
        )
    status = wait_for_end(client, live, created.task_id)
    assert status.status == "SUCCESS" and isinstance(status.run_id, int)
    info = client.audio_separation.get_audio_separation_run_info(status.run_id)
    tracks = []
    for url in (info.foreground_audio_url, info.background_audio_url):
        response = httpx.get(url, follow_redirects=True, timeout=10)
        response.raise_for_status()
        duration, frames = read_flac(response.content)
        assert duration == pytest.approx(1.5)
        tracks.append(frames)
    assert tracks[0] != tracks[1]


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [("ERROR", "SOURCE_TOO_LONG"), ("TIMEOUT", "PROCESSING_ERROR"), ("PAYMENT_REQUIRED", None)],
)
def test_sdk_reports_failures(live: Live, outcome: str, reason: str | None) -> None:
    client, key = sdk(live)
    queue = {
        "api": "camb",
        "outcome": outcome,
        "tenant": key,
        **({"reason": reason} if reason else {}),
    }
    assert httpx.post(f"{live.url}/__mock__/scenarios", json=queue).status_code == 201
    created = client.audio_separation.create_audio_separation(media_file=("a.wav", wav()))
    status = wait_for_end(client, live, created.task_id)
    assert status.status == outcome and status.run_id is None
    assert status.exception_reason == (reason or "PAYMENT_REQUIRED")
    assert isinstance(status.message, str)
    with pytest.raises(ApiError) as missing:
        client.audio_separation.get_audio_separation_run_info(12345678)
    assert missing.value.status_code == 404


def test_sdk_batch_results(live: Live) -> None:
    client, _ = sdk(live)
    tasks = [
        client.audio_separation.create_audio_separation(media_file=wav()).task_id for _ in range(2)
    ]
    runs = [wait_for_end(client, live, task_id).run_id for task_id in tasks]
    results = client.audio_separation.get_audio_separation_runs_results(run_ids=[*runs, 1])
    assert sorted(results) == sorted(str(run) for run in runs)
    for result in results.values():
        assert httpx.get(result.background_audio_url, timeout=10).status_code == 200


def test_sdk_sees_validation_errors_as_its_own_exceptions(live: Live) -> None:
    client, _ = sdk(live)
    with pytest.raises(UnprocessableEntityError) as no_file:
        client.audio_separation.create_audio_separation()
    assert no_file.value.body.detail[0].loc == ["body", "media_file"]
    with pytest.raises(UnprocessableEntityError) as no_run:
        client.audio_separation.get_audio_separation_run_info(None)
    assert no_run.value.body.detail[0].loc == ["path", "run_id"]
    with pytest.raises(ApiError) as unknown:
        client.audio_separation.get_audio_separation_status("no-such-task")
    assert unknown.value.status_code == 404


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def journal(live: Live, key: str) -> list[dict[str, Any]]:
    """The live server's journal of one key's requests, oldest first."""
    answer = httpx.get(f"{live.url}/__mock__/journal", params={"tenant": key}, timeout=10)
    return answer.json()["entries"]


def test_async_sdk_separates_an_open_file_and_reads_its_run(live: Live, tmp_path: Path) -> None:
    """AsyncCambAI end to end: an open file uploaded, `run_id` and `traceparent` sent where the
    SDK offers them, status, run info and batch results, and its typed errors."""
    key = f"key-{uuid4().hex}"
    path = tmp_path / "take.wav"
    path.write_bytes(wav(1.5))

    async def run() -> tuple[int, list[bytes]]:
        async with httpx.AsyncClient(timeout=10) as http:
            separation = AsyncCambAI(
                api_key=key, base_url=f"{live.url}/camb/apis", httpx_client=http
            ).audio_separation
            with path.open("rb") as media:
                created = await separation.create_audio_separation(
                    media_file=media, run_id=7, traceparent=TRACEPARENT
                )
            pending = await separation.get_audio_separation_status(created.task_id, run_id=7)
            assert pending.model_dump() == PENDING
            live.advance(SEPARATION_SECONDS)
            done = await separation.get_audio_separation_status(created.task_id, run_id=7)
            assert (done.status, done.exception_reason, done.message) == ("SUCCESS", None, None)
            assert isinstance(done.run_id, int)
            info = await separation.get_audio_separation_run_info(done.run_id)
            batch = await separation.get_audio_separation_runs_results(
                run_ids=[done.run_id, 1], run_id=done.run_id, traceparent=TRACEPARENT
            )
            assert batch == {str(done.run_id): info}
            tracks = [
                (await http.get(url)).content
                for url in (info.foreground_audio_url, info.background_audio_url)
            ]
            with pytest.raises(ApiError) as unknown:
                await separation.get_audio_separation_status("no-such-task")
            assert (unknown.value.status_code, unknown.value.body) == (
                404,
                {"detail": "Task no-such-task not found"},
            )
            with pytest.raises(UnprocessableEntityError) as no_run:
                await separation.get_audio_separation_run_info(None)
            assert no_run.value.status_code == 422
            assert no_run.value.body.detail[0].loc == ["path", "run_id"]
            return done.run_id, tracks

    run_id, tracks = asyncio.run(run())
    (foreground_seconds, foreground), (background_seconds, background) = map(read_flac, tracks)
    assert (foreground_seconds, background_seconds) == (pytest.approx(1.5), pytest.approx(1.5))
    assert foreground != background
    entries = journal(live, key)
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in entries] == [
        ("POST", "/apis/audio-separation", "run_id=7", 200),
        ("GET", f"/apis/audio-separation/{entries[0]['response']['task_id']}", "run_id=7", 200),
        ("GET", f"/apis/audio-separation/{entries[0]['response']['task_id']}", "run_id=7", 200),
        ("GET", f"/apis/audio-separation-result/{run_id}", "", 200),
        ("POST", "/apis/audio-separation-results", f"run_id={run_id}", 200),
        ("GET", "/apis/audio-separation/no-such-task", "", 404),
        ("GET", "/apis/audio-separation-result/None", "", 422),
    ]
    (part,) = entries[0]["request"]["parts"]
    assert (part["name"], part["filename"], part["size"]) == (
        "media_file",
        "take.wav",
        len(wav(1.5)),
    )
    assert entries[4]["request"] == {"run_ids": [run_id, 1]}


def test_sdk_raw_responses_carry_the_parsed_data_and_the_headers(live: Live) -> None:
    """`with_raw_response`, sync and async: the same parsed data, plus the mock's headers."""
    client, key = sdk(live)
    raw = client.audio_separation.with_raw_response
    created = raw.create_audio_separation(media_file=("a.wav", wav()))
    live.advance(SEPARATION_SECONDS)
    status = raw.get_audio_separation_status(created.data.task_id)
    assert (status.data.status, status.data.exception_reason) == ("SUCCESS", None)
    assert isinstance(status.data.run_id, int)
    info = raw.get_audio_separation_run_info(status.data.run_id)
    batch = raw.get_audio_separation_runs_results(run_ids=[status.data.run_id])
    assert batch.data == {str(status.data.run_id): info.data}

    async def run() -> list[Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            async_raw = AsyncCambAI(
                api_key=key, base_url=f"{live.url}/camb/apis", httpx_client=http
            ).audio_separation.with_raw_response
            second = await async_raw.create_audio_separation(media_file=("b.wav", wav()))
            pending = await async_raw.get_audio_separation_status(second.data.task_id)
            assert pending.data.model_dump() == PENDING
            again = await async_raw.get_audio_separation_run_info(status.data.run_id)
            assert again.data == info.data
            results = await async_raw.get_audio_separation_runs_results(
                run_ids=[status.data.run_id]
            )
            assert results.data == batch.data
            with pytest.raises(ApiError) as unknown:
                await async_raw.get_audio_separation_status("no-such-task")
            assert unknown.value.status_code == 404
            return [second, pending, again, results]

    responses = [created, status, info, batch, *asyncio.run(run())]
    assert {r.headers["content-type"] for r in responses} == {"application/json"}
    entries = journal(live, key)
    assert [r.headers["x-request-id"] for r in responses] == [e["id"] for e in entries[:-1]]
    assert entries[-1]["status"] == 404


async def _async_status_error(app: Any, base_url: str, key: str) -> ApiError:
    """The ApiError AsyncCambAI raises for a status read, on `app` in-process."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        client = AsyncCambAI(api_key=key, base_url=base_url, httpx_client=http)
        with pytest.raises(ApiError) as error:
            await client.audio_separation.get_audio_separation_status("no-such-task")
        return error.value


def test_sdk_sees_a_refused_key_as_api_error_401() -> None:
    """A key the server refuses (bound to 401 in its config) is an ApiError, sync and async."""
    revoked = {"error": "Invalid API key", "status": 401}
    base_url = f"http://mockserver.test{CAMB}"
    for mock in make_mock(keys={"revoked": {"status": 401}}):
        with httpx.Client(transport=SyncASGITransport(mock.client.app)) as http:
            sync = CambAI(api_key="revoked", base_url=base_url, httpx_client=http)
            with pytest.raises(ApiError) as refused:
                sync.audio_separation.create_audio_separation(media_file=("a.wav", wav()))
        assert (refused.value.status_code, refused.value.body) == (401, revoked)
        error = asyncio.run(_async_status_error(mock.client.app, base_url, "revoked"))
        assert (error.status_code, error.body) == (401, revoked)
        assert len(mock.state.store) == 0  # nothing was created
