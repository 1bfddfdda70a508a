"""Camb.ai audio separation against its public docs: the docs' examples, retyped, checked both
ways: each validates against the contract, and the mock answers the same request in the same
keys, types and formats. 422 items are FastAPI's (pydantic 2), field by field."""

from __future__ import annotations

import io
from typing import Any
from uuid import uuid4

import pytest
import soundfile

from mockserver.contracts.validate import validate_request, validate_response
from tests.conftest import Mock, wav
from tests.fidelity import same_shape, url_suffix

CAMB = "/camb/apis"
JSON = {"content-type": "application/json"}

# docs.camb.ai/api-reference/endpoint/create-audio-separation (response example)
CREATED = {"task_id": "<string>"}
# docs.camb.ai/api-reference/endpoint/get-audio-separation-status: "The response is of type
# enum<string>. SUCCESS, PENDING, TIMEOUT, ERROR, PAYMENT_REQUIRED"; its example is "SUCCESS"
STATUS_WORDS = ["SUCCESS", "PENDING", "TIMEOUT", "ERROR", "PAYMENT_REQUIRED"]
# docs.camb.ai/api-reference/endpoint/get-audio-separation-run-info (response example)
RUN_INFO = {"foreground_audio_url": "<string>", "background_audio_url": "<string>"}
# docs.camb.ai/api-reference/endpoint/fetch-audio-separation-run-info-results (request, response)
BATCH_REQUEST = {"run_ids": [12345, 6789]}
BATCH_RESULTS = {
    "1001": {
        "foreground_audio_url": "https://example.com/audio-separation/1001/fg_audio.flac",
        "background_audio_url": "https://example.com/audio-separation/1001/bg_audio.flac",
    },
    "1002": {
        "foreground_audio_url": "https://example.com/audio-separation/1002/fg_audio.flac",
        "background_audio_url": "https://example.com/audio-separation/1002/bg_audio.flac",
    },
}
# Mintlify writes `<string>` where a page gives a type, not a value: those keys are checked
# for their type only
PLACEHOLDER = "<string>"


def _response_problems(method: str, path: str, body: Any) -> list[Any]:
    return validate_response("camb", method, path, 200, headers=JSON, body=body)


# --- every example validates against the contract -------------------------------------------


def test_batch_examples_validate() -> None:
    assert (
        validate_request(
            "camb",
            "POST",
            "/apis/audio-separation-results",
            content_type="application/json",
            body=BATCH_REQUEST,
        )
        == []
    )
    assert _response_problems("POST", "/apis/audio-separation-results", BATCH_RESULTS) == []


@pytest.mark.parametrize(
    ("path", "example"),
    [("/apis/audio-separation", CREATED), ("/apis/audio-separation-result/1", RUN_INFO)],
)
def test_placeholder_examples_have_the_contracts_keys_and_types(
    path: str, example: dict[str, str]
) -> None:
    method = "POST" if path.endswith("separation") else "GET"
    typed = {key: "https://example.com/x.flac" if "url" in key else str(uuid4()) for key in example}
    assert all(value == PLACEHOLDER for value in example.values())
    assert _response_problems(method, path, typed) == []


@pytest.mark.parametrize("word", STATUS_WORDS)
def test_every_documented_status_word_is_a_status_in_the_contract(word: str) -> None:
    """The page shows the bare word; the SDK parses an object with `status` (the contract's
    documented choice), so each word must validate as that object's `status`."""
    body: dict[str, Any] = {"status": word}
    if word != "PENDING" and word != "SUCCESS":
        body["exception_reason"] = "PAYMENT_REQUIRED" if word == "PAYMENT_REQUIRED" else "NONE"
    if word == "SUCCESS":
        body["run_id"] = 1001
    assert _response_problems("GET", "/apis/audio-separation/t1", body) == []


# --- the mock answers the same requests in the same shapes ----------------------------------


def _create(mock: Mock, content: bytes, name: str = "mix.wav") -> str:
    files = {"media_file": (name, content, "audio/x-wav")}
    created = mock.client.post(
        f"{CAMB}/audio-separation", headers=mock.headers("camb"), files=files
    )
    assert created.status_code == 200, created.text
    assert set(created.json()) == set(CREATED) and isinstance(created.json()["task_id"], str)
    return created.json()["task_id"]


def _run(mock: Mock, content: bytes) -> int:
    task_id = _create(mock, content)
    mock.advance(30)
    status = mock.client.get(f"{CAMB}/audio-separation/{task_id}", headers=mock.headers("camb"))
    assert status.json()["status"] in STATUS_WORDS and status.json()["status"] == "SUCCESS"
    return status.json()["run_id"]


def test_run_info_and_batch_answer_in_the_documented_shape(mock: Mock) -> None:
    first, second = _run(mock, wav(1.0)), _run(mock, wav(1.0))
    info = mock.client.get(f"{CAMB}/audio-separation-result/{first}", headers=mock.headers("camb"))
    assert set(info.json()) == set(RUN_INFO)
    batch = mock.client.post(
        f"{CAMB}/audio-separation-results",
        headers=mock.headers("camb"),
        json={"run_ids": [first, second]},
    ).json()
    assert list(batch) == [str(first), str(second)]  # keyed by the run id as a string
    documented = BATCH_RESULTS["1001"]
    for urls in batch.values():
        same_shape(documented, urls, nullable=set())
        for key, url in urls.items():
            assert url_suffix(url) == url_suffix(documented[key])  # fg_audio.flac, bg_audio.flac


@pytest.mark.parametrize(("seconds", "rate", "channels"), [(1.5, 8000, 1), (2.0, 44_100, 2)])
def test_result_files_are_flac_with_the_uploads_duration_and_channels(
    mock: Mock, seconds: float, rate: int, channels: int
) -> None:
    upload = io.BytesIO()
    frames = int(seconds * rate)
    soundfile.write(upload, [[0.1] * channels] * frames, rate, "PCM_16", format="WAV")
    run_id = _run(mock, upload.getvalue())
    urls = mock.client.get(f"{CAMB}/audio-separation-result/{run_id}", headers=mock.headers("camb"))
    for url in urls.json().values():
        served = mock.client.get(url)
        assert served.headers["content-type"] == "audio/flac"
        info = soundfile.info(io.BytesIO(served.content))
        assert (info.format, info.channels, info.samplerate) == ("FLAC", channels, rate)
        assert info.frames / info.samplerate == pytest.approx(seconds)


def test_uploads_in_each_documented_format_are_measured(mock: Mock) -> None:
    """The create page lists FLAC, MP3, WAV and AAC: each is decoded for its duration."""
    from mockserver.engine.artifacts import AudioInfo, render_audio

    for fmt, name in (("flac", "a.flac"), ("mp3", "a.mp3"), ("m4a", "a.m4a")):
        content = render_audio(AudioInfo(2.0, 22_050, 1), 440, fmt)
        task_id = _create(mock, content, name)
        mock.advance(30)
        status = mock.client.get(f"{CAMB}/audio-separation/{task_id}", headers=mock.headers("camb"))
        assert status.json()["status"] == "SUCCESS", (fmt, status.json())
        urls = mock.client.get(
            f"{CAMB}/audio-separation-result/{status.json()['run_id']}",
            headers=mock.headers("camb"),
        ).json()
        info = soundfile.info(io.BytesIO(mock.client.get(urls["background_audio_url"]).content))
        assert info.frames / info.samplerate == pytest.approx(2.0, abs=0.05), fmt


# --- 422: FastAPI's items, as pydantic 2 writes them ----------------------------------------


def test_422_items_are_fastapis(mock: Mock) -> None:
    headers = mock.headers("camb")
    no_file = mock.client.post(f"{CAMB}/audio-separation", headers=headers, json={"x": 1})
    assert no_file.json() == {
        "detail": [
            {
                "type": "missing",
                "loc": ["body", "media_file"],
                "msg": "Field required",
                "input": None,
            }
        ]
    }
    empty = mock.client.post(
        f"{CAMB}/audio-separation-results", headers=headers, json={"run_ids": []}
    )
    assert empty.json() == {
        "detail": [
            {
                "type": "too_short",
                "loc": ["body", "run_ids"],
                "msg": "List should have at least 1 item after validation, not 0",
                "input": [],
                "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0},
            }
        ]
    }
    text_id = mock.client.post(
        f"{CAMB}/audio-separation-results", headers=headers, json={"run_ids": ["abc"]}
    )
    assert text_id.json() == {
        "detail": [
            {
                "type": "int_parsing",
                "loc": ["body", "run_ids", 0],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "abc",
            }
        ]
    }
    bad_path = mock.client.get(f"{CAMB}/audio-separation-result/abc", headers=headers)
    assert bad_path.json()["detail"][0] == {
        "type": "int_parsing",
        "loc": ["path", "run_id"],
        "msg": "Input should be a valid integer, unable to parse string as an integer",
        "input": "abc",
    }
