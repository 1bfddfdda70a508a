"""Where a violation is, and what the public checks read: a key that reads as a number or
holds a `/` is a key (RFC 6901 pointers, FastAPI `loc`s), strict mode refuses such a body
instead of failing on it, NeuroLinker's SDK paths are its documented ones, an event
stream is checked event by event, and the contracts promise what the server does (a webhook
URL it takes can be sent to; a create links to its job)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mockserver.apis.neuraldraft.webhooks import sendable
from mockserver.contracts import Violation, load, validate_request, validate_response
from mockserver.contracts.lifecycle_walk import LifecycleWalk
from tests.conftest import Mock, make_mock

JSON = "application/json"
STREAM = {"content-type": "text/event-stream"}
STREAM_PATH = "/v1/jobs/job_abcdefghijkl/stream"
NL_DOCUMENT = "3f2b9c1e-0000-4000-8000-000000000000"
WORKFLOW = "/run-workflow"


def _body(found: list[Violation]) -> list[tuple[str, tuple[str | int, ...], str]]:
    return [(v.pointer, v.loc, v.message) for v in found if v.pointer.startswith("/body")]


# --- keys, indices and pointers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "pointer"),
    [
        ("²", "/body/²"),
        ("٣", "/body/٣"),
        ("3", "/body/3"),
        ("a/b", "/body/a~1b"),
        ("~x", "/body/~0x"),
    ],
)
def test_an_unknown_key_is_a_key_in_the_pointer_and_the_loc(key: str, pointer: str) -> None:
    body = {"url": "https://e.com/a.wav", key: 1}
    (found,) = validate_request("neuralanalog", "POST", "/from-link", content_type=JSON, body=body)
    assert (found.pointer, found.loc, found.kind) == (pointer, ("body", key), "extra_forbidden")


def test_a_list_index_is_an_int_of_the_loc_and_a_key_beside_it_a_string() -> None:
    body = {"audio_id": "a1", "steps": [{"type": "master", "0": "x", "a/b": "y"}]}
    found = validate_request("neuralanalog", "POST", WORKFLOW, content_type=JSON, body=body)
    assert [(v.pointer, v.loc) for v in found] == [
        ("/body/steps/0/0", ("body", "steps", 0, "0")),
        ("/body/steps/0/a~1b", ("body", "steps", 0, "a/b")),
    ]


def test_a_violation_made_from_a_pointer_reads_its_loc_back() -> None:
    """As the journal keeps them: the pointer alone, escapes read, `²` no index."""
    assert Violation("op", "/body/a~1b/0/~0x", "m").loc == ("body", "a/b", 0, "~x")
    assert Violation("op", "/body/²/07", "m").loc == ("body", "²", "07")
    assert Violation.at("op", ("body", "a/b", 0), "m").pointer == "/body/a~1b/0"


STRICT_REQUESTS = [
    ("neuralanalog", "/neuralanalog/from-link", {"url": "https://e.com/a.wav"}),
    ("camb", "/camb/apis/audio-separation-results", {"run_ids": [1]}),
    ("neurolinker", "/neurolinker/api/v1/documents/json", {"document_ids": [NL_DOCUMENT]}),
    ("neuraldraft", "/neuraldraft/v1/images", {"prompt": "a lighthouse"}),
]


def test_strict_mode_refuses_a_key_that_reads_as_a_number_in_each_api() -> None:
    """It answered 500: `int("²")` failed while the loc was made."""
    for mock in make_mock(strict=True):
        for api, path, body in STRICT_REQUESTS:
            answer = mock.client.post(path, headers=mock.headers(api), json={**body, "²": 1})
            assert answer.status_code in (400, 422), (api, answer.text)
            assert "²" in answer.text and "Internal" not in answer.text


# --- NeuroLinker's SDK paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sdk", "documented"),
    [("/v1/documents/json", "/api/v1/documents/json"), ("/v1/mcp/tasks", "/api/v1/tasks")],
)
def test_the_sdks_path_is_checked_as_its_documented_one(sdk: str, documented: str) -> None:
    method = "POST" if "documents" in sdk else "GET"
    body = {"document_ids": [NL_DOCUMENT], "x": 1} if method == "POST" else None
    sent: dict[str, Any] = {"content_type": JSON, "body": body} if body else {}
    found = validate_request("neurolinker", method, sdk, **sent)
    assert [(v.pointer, v.operation) for v in found] == [
        (v.pointer, v.operation)
        for v in validate_request("neurolinker", method, documented, **sent)
    ]
    assert all(v.pointer != "/path" for v in found)
    answer = validate_response("neurolinker", method, sdk, 200, body={"x": 1})
    assert answer == validate_response("neurolinker", method, documented, 200, body={"x": 1})
    assert all(v.pointer != "/path" for v in answer)
    (unknown,) = validate_request("neurolinker", "GET", "/v1/nothing-here")
    assert (unknown.pointer, unknown.message) == (
        "/path",
        "no such path in the neurolinker contract",
    )


def test_the_mock_serves_what_the_validator_accepts_on_an_sdk_path(mock: Mock) -> None:
    body = {"document_ids": [NL_DOCUMENT]}
    assert (
        validate_request("neurolinker", "POST", "/v1/documents/json", content_type=JSON, body=body)
        == []
    )
    answer = mock.client.post(
        "/neurolinker/v1/documents/json", headers=mock.headers("neurolinker"), json=body
    )
    assert answer.status_code == 200, answer.text
    assert mock.client.get("/__mock__/violations").json()["count"] == 0


# --- event streams ----------------------------------------------------------------------------


def _stream_problems(body: bytes) -> list[tuple[str, tuple[str | int, ...], str]]:
    return _body(
        validate_response("neuraldraft", "GET", STREAM_PATH, 200, headers=STREAM, body=body)
    )


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b'{"progress": 5, "message": "m"}',
        b"event: progress\nprogress: 5\n\n",
        b"\xff\xfe",
    ],
)
def test_a_body_that_is_no_event_stream_is_one_violation(body: bytes) -> None:
    ((pointer, _, message),) = _stream_problems(body)
    assert pointer == "/body" and message.startswith("response body is not an event stream: ")


def test_each_events_data_is_checked_against_its_events_schema() -> None:
    body = (
        b": keep-alive\n\n"
        b'event: progress\ndata: {"progress": 5, "message": "m"}\n\n'
        b'event: step\r\ndata: {"name": "seo", "completed": "no", "active": false}\r\n\r\n'
        b'event: progress\ndata: {"progress": "lots", "message": "m"}\n\n'
        b"event: error\ndata: not json\n\n"
        b"event: finished\ndata: {}\n\n"
    )
    assert _stream_problems(body) == [
        (
            "/body/1/data/completed",
            ("body", 1, "data", "completed"),
            "Input should be a valid boolean",
        ),
        (
            "/body/2/data/progress",
            ("body", 2, "data", "progress"),
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ("/body/3/data", ("body", 3, "data"), "event data is not JSON"),
        (
            "/body/4/event",
            ("body", 4, "event"),
            "Input should be 'progress', 'step', 'done' or 'error'",
        ),
    ]


def test_an_event_without_its_name_or_its_end_is_a_violation() -> None:
    found = _stream_problems(b'data: {"progress": "lots"}')
    assert found == [
        ("/body/0/event", ("body", 0, "event"), "Field required"),
        (
            "/body/0",
            ("body", 0),
            "the stream ends inside this event: no blank line ends it, a client drops it",
        ),
    ]


def test_a_stream_of_the_mock_conforms_and_one_event_changed_does_not(mock: Mock) -> None:
    headers = mock.headers("neuraldraft")
    jobs = [
        mock.client.post(
            "/neuraldraft/v1/images",
            headers={**headers, "X-Mock-Scenario": scenario},
            json={"prompt": "a lighthouse"},
        ).json()["id"]
        for scenario in ("completed", "failed")
    ]
    mock.advance(3600)  # both ended: each stream sends its whole picture and closes
    for job_id in jobs:
        answer = mock.client.get(f"/neuraldraft/v1/jobs/{job_id}/stream", headers=headers)
        path, sent = f"/v1/jobs/{job_id}/stream", dict(answer.headers)
        events = answer.content.split(b"\n\n")
        assert len(events) > 2 and events[0].startswith(b"event: progress\ndata: {")
        assert (
            validate_response("neuraldraft", "GET", path, 200, headers=sent, body=answer.content)
            == []
        )
        changed = b"\n\n".join([events[0].replace(b'"progress":', b'"percent":'), *events[1:]])
        found = validate_response("neuraldraft", "GET", path, 200, headers=sent, body=changed)
        assert [v.loc for v in found] == [
            ("body", 0, "data", "percent"),
            ("body", 0, "data", "progress"),
        ]


# --- what the contracts promise ---------------------------------------------------------------

WEBHOOKS, EVENTS = "/v1/webhook-endpoints", ["blog_post.published"]
LABEL_63 = "a" * 63


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://a..b/hook", True),
        ("http://.example/x", True),
        (f"http://{LABEL_63}a.example/", True),
        ("http://1.2.3.999/", True),
        ("http://01.2.3.4:80/", True),
        (f"http://{LABEL_63}.example/", False),
        ("https://hooks.example.com./in", False),
        ("http://1.2.3.4./", False),
        ("http://255.255.255.255:65535/", False),
        ("http://1.2.3/", False),
    ],
)
def test_the_webhook_url_pattern_refuses_what_the_server_cannot_send_to(
    url: str, refused: bool
) -> None:
    """A URL the pattern takes is one a delivery can be sent to (`webhooks.sendable`): else
    schemathesis makes URLs the contract allows and the server refuses."""
    found = validate_request(
        "neuraldraft", "POST", WEBHOOKS, content_type=JSON, body={"url": url, "events": EVENTS}
    )
    assert sendable(url) is not refused
    assert [(v.pointer, v.kind) for v in found] == (
        [("/body/url", "string_pattern_mismatch")] if refused else []
    )


def test_a_video_creates_links_lead_the_lifecycle_walk_to_its_job(mock: Mock) -> None:
    """As from every other create of a job: the walk moves the clock after the create, and
    the job's first poll shows it moved on from its initial state."""
    walk = LifecycleWalk(advance=mock.advance)
    title = load("neuraldraft").document["info"]["title"]
    headers = mock.headers("neuraldraft")

    def called(method: str, path: str, answer: Any) -> None:
        raw = SimpleNamespace(raw_schema={"info": {"title": title}})
        case = SimpleNamespace(
            operation=SimpleNamespace(schema=raw), method=method, formatted_path=path
        )
        walk.after_call(None, case, answer)

    created = mock.client.post("/neuraldraft/v1/videos", headers=headers, json={"prompt": "Pines"})
    assert created.status_code == 202, created.text
    called("POST", "/v1/videos", created)
    job = created.json()["data"]["id"]
    called(
        "GET", f"/v1/jobs/{job}", mock.client.get(f"/neuraldraft/v1/jobs/{job}", headers=headers)
    )
    assert walk.seen["neuraldraft"]["video.generate"]
