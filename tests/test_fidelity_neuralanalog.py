"""Neural Analog against its public docs: the docs' examples, retyped, checked both ways: each
validates against the contract, and the mock answers the same request in the same keys, types
and formats. Every documented audio format is served as a file a decoder opens."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import av
import pytest
import soundfile

from mockserver import contracts
from mockserver.contracts.validate import validate_request, validate_response
from mockserver.engine.artifacts import AudioInfo, render_audio
from tests.conftest import Mock, make_mock
from tests.fidelity import same_shape
from tests.test_neuralanalog import Client

JSON = {"content-type": "application/json"}
AUDIO_ID = "6c62f8e7-02a3-48c0-a5b5-5de87ed9c31a"

# neuralanalog.com/api-docs/from-file (200 response, field examples)
UPLOADED = {"audio_id": AUDIO_ID, "status": "in_progress", "message": "File uploaded successfully"}
# neuralanalog.com/api-docs/status-object-type-object-id (200 response, field examples)
STATUS = {
    "object_type": "upscaled",
    "object_id": "d66cf940-bf26-45bb-80f7-332f26b6859a",
    "status": "completed",
    "is_complete": True,
    "is_failed": False,
    "download_url": "https://api.neuralanalog.com/download/upscaled/d66cf940-bf26-45bb-80f7-332f26b6859a",
    "audio_id": AUDIO_ID,
    "status_details": "Restoration completed",
    "error_message": "Source audio is no longer available",
    "created_at": "2026-05-05T10:15:30Z",
    "completed_at": "2026-05-05T10:18:42Z",
}
# neuralanalog.com/api-docs/download-archive: the two request bodies in its text, the body of
# its Python example, and the field examples of `ids`, `stem_ids`, `stem_selections`
ARCHIVE_REQUESTS = [
    {"id": "audio-id", "versions": ["original", "mastered"], "format": "wav"},
    {"id": "audio-id", "versions": ["original_stems"], "format": "wav"},
    {
        "id": "00000000-0000-0000-0000-000000000000",
        "versions": ["original", "mastered"],
        "format": "wav",
    },
    {
        "ids": [AUDIO_ID, "0d8ea9f2-ae8c-4af7-b73e-4b241ae5ce88"],
        "versions": ["original", "mastered"],
    },
    {
        "id": AUDIO_ID,
        "versions": ["original_stems"],
        "stem_ids": ["abf8a992-1c4e-4935-93f0-197116e77e49"],
    },
    {
        "id": AUDIO_ID,
        "versions": ["mastered_stems"],
        "stem_selections": [
            {
                "mastered_id": "f5db8e4b-2e74-4198-a8de-0c3a398620e9",
                "stem_id": "abf8a992-1c4e-4935-93f0-197116e77e49",
                "version": "mastered",
            }
        ],
    },
]
# neuralanalog.com/api-docs/download-archive (200 response: example and defaults)
ARCHIVE = {
    "download_url": "https://storage.example.com/neuralanalog/archive.zip",
    "expires_in_seconds": 86400,
    "email_notification_queued": False,
    "email_notification_threshold_seconds": 30,
    "archive_incomplete": False,
}
# neuralanalog.com/api-docs/download-object-type-object-id (the Python example's query)
DOWNLOAD_QUERY = {"format": "wav", "track": "true"}
FORMATS = ("wav", "flac", "mp3", "m4a")  # the docs' enum for `format` and `*_format`


def _response_problems(method: str, path: str, body: Any) -> list[Any]:
    return validate_response("neuralanalog", method, path, 200, headers=JSON, body=body)


# --- every example validates against the contract -------------------------------------------


def test_response_examples_validate() -> None:
    assert _response_problems("POST", "/from-file", UPLOADED) == []
    assert _response_problems("GET", f"/status/upscaled/{STATUS['object_id']}", STATUS) == []
    assert _response_problems("POST", "/download-archive", ARCHIVE) == []
    # every archive field is optional in the docs
    assert _response_problems("POST", "/download-archive", {}) == []


@pytest.mark.parametrize("body", ARCHIVE_REQUESTS)
def test_archive_request_examples_validate(body: dict[str, Any]) -> None:
    found = validate_request(
        "neuralanalog", "POST", "/download-archive", content_type="application/json", body=body
    )
    assert found == []


def test_download_example_validates() -> None:
    path = f"/download/audio/{AUDIO_ID}"
    assert validate_request("neuralanalog", "GET", path, query=DOWNLOAD_QUERY) == []


# --- the mock answers the same requests in the same shapes ----------------------------------


@pytest.fixture
def na(mock: Mock) -> Client:
    return Client(mock)


def test_upload_answers_as_documented(na: Client) -> None:
    files = {"audio": ("my-audio.wav", render_audio(AudioInfo(1.0), 440, "wav"))}
    answer = na.post("/from-file", files=files, data={"file_source": "from_file"}).json()
    assert answer == {**UPLOADED, "audio_id": answer["audio_id"]}
    same_shape(UPLOADED, answer, nullable=set())


def test_status_of_a_restoration_answers_as_documented(na: Client) -> None:
    audio_id = na.ready_audio(1.0)
    job_id = na.post("/upscale-audio", json={"audio_id": audio_id}).json()["id"]
    na.mock.advance(120)
    answer = na.status("upscaled", job_id)
    same_shape(STATUS, answer, nullable={"error_message"})
    assert answer["status_details"] == STATUS["status_details"]
    assert answer["download_url"].endswith(f"/download/upscaled/{job_id}")
    failed = na.post("/upscale-audio", "failed", json={"audio_id": audio_id}).json()["id"]
    na.mock.advance(120)
    assert na.status("upscaled", failed)["error_message"] == STATUS["error_message"]


def test_archive_answers_as_documented(na: Client) -> None:
    audio_id = na.ready_audio(1.0)
    na.post("/master-audio", json={"audio_id": audio_id})
    na.mock.advance(90)
    request = {**ARCHIVE_REQUESTS[0], "id": audio_id}
    answer = na.post("/download-archive", json=request).json()
    same_shape(ARCHIVE, answer, nullable=set())
    assert answer["expires_in_seconds"] == ARCHIVE["expires_in_seconds"]
    assert answer["email_notification_threshold_seconds"] == 30


def test_a_slow_archive_is_emailed_by_its_zipping_duration() -> None:
    """`email_notification_threshold_seconds` is a duration: an archive whose zipping would
    take longer is emailed; the answer states the threshold it was held to."""
    for threshold, queued in ((0, True), (1, False)):
        for mock in make_mock(archive_email_threshold_seconds=threshold):
            na = Client(mock)
            audio_id = na.ready_audio(1.0)
            answer = na.post("/download-archive", json={"id": audio_id, "versions": ["original"]})
            assert answer.json()["email_notification_threshold_seconds"] == threshold
            assert answer.json()["email_notification_queued"] is queued
            assert (answer.json()["download_url"] is None) is queued


# --- every documented format, decoded -------------------------------------------------------


def decode(data: bytes, fmt: str) -> tuple[float, int, int]:
    """Duration, channels and rate of `data`, read by the decoder of its format."""
    if fmt == "m4a":
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            assert container.format.name.startswith("mov,mp4,m4a")
            assert stream.codec_context.name == "aac"
            duration = float(stream.duration * stream.time_base)
            return duration, stream.channels, stream.rate
    info = soundfile.info(io.BytesIO(data))
    assert info.format == {"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}[fmt]
    return info.frames / info.samplerate, info.channels, info.samplerate


@pytest.mark.parametrize("upload_format", FORMATS)
def test_uploads_in_every_format_are_measured_and_served_in_every_format(
    na: Client, upload_format: str
) -> None:
    upload = render_audio(AudioInfo(1.5, 22_050, 2), 440, upload_format)
    files = {"audio": (f"take.{upload_format}", upload)}
    audio_id = na.post("/from-file", files=files).json()["audio_id"]
    na.mock.advance(60)
    assert na.status("audio", audio_id)["is_complete"]
    for fmt in FORMATS if upload_format == "wav" else (upload_format,):
        duration, channels, rate = decode(na.download("audio", audio_id, format=fmt), fmt)
        assert (channels, rate) == (2, 22_050)
        assert duration == pytest.approx(1.5, abs=0.06), fmt


def test_archive_members_follow_the_format_fields(na: Client) -> None:
    audio_id = na.ready_audio(1.0)
    na.post("/master-audio", json={"audio_id": audio_id})
    na.mock.advance(90)
    request = {
        "id": audio_id,
        "versions": ["original", "mastered"],
        "original_format": "flac",
        "format": "mp3",
    }
    link = na.post("/download-archive", json=request).json()["download_url"]
    with zipfile.ZipFile(io.BytesIO(na.mock.client.get(link).content)) as archive:
        names = sorted(archive.namelist())
        assert names == [f"{audio_id}/mastered.mp3", f"{audio_id}/original.flac"]
        for name in names:
            duration, _, _ = decode(archive.read(name), name.rsplit(".", 1)[1])
            assert duration == pytest.approx(1.0, abs=0.06)


def test_an_upload_no_decoder_reads_fails_its_import(na: Client) -> None:
    files = {"audio": ("notes.mp3", b"these are not audio bytes" * 40)}
    audio_id = na.post("/from-file", files=files).json()["audio_id"]
    na.mock.advance(60)
    status = na.status("audio", audio_id)
    assert status["is_failed"] and status["error_message"] == "Source audio could not be decoded"


@pytest.mark.parametrize("path", ["/from-link", "/from-file"])
def test_an_import_failed_on_demand_says_the_docs_message(na: Client, path: str) -> None:
    """A link (or a WAV that decodes) failed by a scenario said "Source audio could not be
    decoded", which nothing showed; only an upload no decoder reads says it."""
    if path == "/from-link":
        audio_id = na.post(path, "failed", json={"url": "https://example.com/a.wav"}).json()
    else:
        audio_id = na.post(
            path, "failed", files={"audio": ("a.wav", render_audio(AudioInfo(1.0), 440, "wav"))}
        ).json()
    na.mock.advance(60)
    status = na.status("audio", audio_id["audio_id"])
    assert status["is_failed"] and status["error_message"] == STATUS["error_message"]


def test_a_started_job_answers_its_id_and_no_field_the_contract_requires_beyond_it() -> None:
    """The docs show the ID alone ("returns immediately with id"; "returns creation_id"): the
    other fields are the mock's, marked as such, and a client must not need them."""
    for schema, ident in [
        ("JobStarted", "id"),
        ("StemsStarted", "creation_id"),
        ("WorkflowStarted", "workflow_run_id"),
    ]:
        found = contracts.load("neuralanalog").document["components"]["schemas"][schema]
        assert found["required"] == [ident]
        extras = [
            name for name, prop in found["properties"].items() if prop.get("x-mock-extension")
        ]
        assert sorted(extras) == ["audio_id", "message", "status"]


def test_a_restoration_takes_the_restoration_presets_master_audio_lists(na: Client) -> None:
    """/master-audio's `preset` is the "Restoration preset to apply before optional
    mastering"; /upscale-audio took any text as one."""
    audio_id = na.ready_audio(1.0)
    refused = na.post("/upscale-audio", json={"audio_id": audio_id, "preset": "bogus"})
    assert refused.status_code == 422
    (item,) = refused.json()["detail"]
    assert (item["type"], item["loc"]) == ("enum", ["body", "preset"])
    assert "'universal_enhancer', 'novasr'" in item["msg"]
    of_a_type = na.post("/upscale-audio", json={"audio_id": audio_id, "preset": 123})
    (item,) = of_a_type.json()["detail"]
    assert (item["type"], item["loc"]) == ("enum", ["body", "preset"])  # a choice, whatever sent
    for preset in ("novasr", None):
        taken = na.post("/upscale-audio", json={"audio_id": audio_id, "preset": preset})
        assert taken.status_code == 200, taken.text


# --- 422: FastAPI's items, as pydantic 2 writes them ----------------------------------------


def test_422_items_are_fastapis(na: Client) -> None:
    missing = na.post("/upscale-audio", json={"preset": "novasr"})
    assert missing.json() == {
        "detail": [
            {
                "type": "missing",
                "loc": ["body", "audio_id"],
                "msg": "Field required",
                "input": {"preset": "novasr"},
            }
        ]
    }
    bad_format = na.get(f"/download/audio/{AUDIO_ID}", params={"format": "ogg"})
    assert bad_format.json() == {
        "detail": [
            {
                "type": "enum",
                "loc": ["query", "format"],
                "msg": "Input should be 'wav', 'flac', 'mp3' or 'm4a'",
                "input": "ogg",
                "ctx": {"expected": "'wav', 'flac', 'mp3' or 'm4a'"},
            }
        ]
    }
    not_a_string = na.post("/upscale-audio", json={"audio_id": 5})
    assert not_a_string.json()["detail"] == [
        {
            "type": "string_type",
            "loc": ["body", "audio_id"],
            "msg": "Input should be a valid string",
            "input": 5,
        }
    ]
    no_file = na.post("/from-file", json={"audio": "x"})  # JSON to a form endpoint: no fields
    assert no_file.json() == {
        "detail": [
            {"type": "missing", "loc": ["body", "audio"], "msg": "Field required", "input": None}
        ]
    }


@pytest.mark.parametrize(
    ("body", "field", "kind", "message"),
    [
        ({"use_restored": "true"}, "use_restored", "bool_type", "Input should be a valid boolean"),
        ({"target_lufs": "-14"}, "target_lufs", "float_type", "Input should be a valid number"),
        (
            {"target_lufs": "loud"},
            "target_lufs",
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number",
        ),
    ],
)
def test_text_for_a_number_or_boolean_is_refused_in_words_true_of_it(
    na: Client, body: dict[str, Any], field: str, kind: str, message: str
) -> None:
    """Types are strict (a decision): text lax mode would read ("-14") is refused in strict
    mode's words. It was "unable to parse string as a number", which is not true of "-14"."""
    answer = na.post("/master-audio", json={"audio_id": AUDIO_ID, **body})
    assert answer.status_code == 422
    (item,) = answer.json()["detail"]
    assert (item["type"], item["loc"], item["msg"]) == (kind, ["body", field], message)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/master-audio", {"audio_id": AUDIO_ID, "bit_depth": "24"}, "bit_depth"),
        ("/download-archive", {"id": AUDIO_ID, "versions": ["original"], "format": None}, "format"),
    ],
)
def test_a_choice_of_the_wrong_type_is_one_enum_item(
    na: Client, path: str, body: dict[str, Any], field: str
) -> None:
    """pydantic checks an Enum or Literal field once: the mock gave a type item and an `enum`
    item at the same place."""
    answer = na.post(path, json=body)
    assert answer.status_code == 422
    (item,) = answer.json()["detail"]
    assert (item["type"], item["loc"]) == ("enum", ["body", field])


@pytest.mark.parametrize("text", ["yes", "On", "t", "off", "N", "0"])
def test_a_query_boolean_is_read_as_pydantic_reads_it(na: Client, text: str) -> None:
    """`?track=yes` was a 422; pydantic reads yes/no, on/off, t/f, y/n, 1/0 in any case."""
    audio_id = na.ready_audio(1.0)
    answer = na.get(f"/download/audio/{audio_id}", params={"track": text}, follow_redirects=False)
    assert answer.status_code == 307
    refused = na.get(f"/download/audio/{audio_id}", params={"track": "maybe"})
    assert refused.json()["detail"][0]["type"] == "bool_parsing"
