"""A multipart boundary past python-multipart's 256 characters is a broken form, not a crash:
the answer a broken form with a boundary it reads gets, journalled with its request ID. So is
a charset no codec has (`charset=\x00`: Starlette's parser raised ValueError, a 500)."""

from __future__ import annotations

import pytest

from tests.conftest import Mock, make_mock

READABLE = "B" * 256  # the longest boundary python-multipart reads
TOO_LONG = "B" * 257

# (API, method, path) of every operation taking a form, and of some that take none
FORMS = [
    ("neuralanalog", "POST", "/neuralanalog/from-file"),
    ("camb", "POST", "/camb/apis/audio-separation"),
    ("neurolinker", "POST", "/neurolinker/api/v1/extract"),
    ("neurolinker", "POST", "/neurolinker/api/v1/extract-fields"),
    ("neuraldraft", "POST", "/neuraldraft/v1/images"),
    ("neuraldraft", "PUT", "/neuraldraft/v1/images/cover"),
]
OTHERS = [
    ("neuralanalog", "POST", "/neuralanalog/from-link"),
    ("neuralanalog", "GET", "/neuralanalog/status/audio/nothing"),
    ("camb", "GET", "/camb/apis/audio-separation/nothing"),
    ("neurolinker", "GET", "/neurolinker/api/v1/request-status/nothing"),
    ("neuraldraft", "GET", "/neuraldraft/v1/jobs/nothing"),
]


def framed(boundary: str) -> bytes:
    """A well-formed form of one text field, framed by `boundary`."""
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n'
        f"--{boundary}--\r\n"
    ).encode()


def send(mock: Mock, api: str, method: str, path: str, boundary: str, body: bytes) -> tuple:
    """(status, body, journal entry) of one request whose form has `boundary`."""
    content_type = f"multipart/form-data; boundary={boundary}"
    headers = mock.headers(api, **{"Content-Type": content_type})
    answer = mock.client.request(method, path, headers=headers, content=body)
    request_id = answer.headers["x-request-id"]
    entries = mock.client.get("/__mock__/journal").json()["entries"]
    entry = next(e for e in entries if e["id"] == request_id)
    return answer.status_code, answer.json(), entry


@pytest.mark.parametrize(("api", "method", "path"), FORMS)
def test_a_form_framed_by_a_too_long_boundary_is_refused_as_a_broken_form(
    mock: Mock, api: str, method: str, path: str
) -> None:
    status, body, entry = send(mock, api, method, path, TOO_LONG, framed(TOO_LONG))
    broken = send(mock, api, method, path, READABLE, b"no boundary frames this")
    assert status == broken[0] == 400
    assert _without_instance(body) == _without_instance(broken[1])
    assert entry["status"] == 400 and entry["request"]["parts"] == []


@pytest.mark.parametrize(("api", "method", "path"), OTHERS)
@pytest.mark.parametrize("body", [b"", b"no boundary frames this"])
def test_a_too_long_boundary_where_no_form_is_taken_gets_what_any_boundary_gets(
    mock: Mock, api: str, method: str, path: str, body: bytes
) -> None:
    """A GET without a body under a bogus content type is answered as under any other."""
    status, answer, entry = send(mock, api, method, path, TOO_LONG, body)
    short = send(mock, api, method, path, "short", body)
    assert status == short[0] < 500
    assert _without_instance(answer) == _without_instance(short[1])
    assert entry["status"] == status


@pytest.mark.parametrize(("api", "method", "path"), FORMS)
@pytest.mark.parametrize("strict", [True, False])
def test_a_form_in_a_charset_no_codec_has_is_refused(
    api: str, method: str, path: str, strict: bool
) -> None:
    """Strict mode answers the request check's 4xx; lenient mode reads the form in the
    handler, which answers the 400 a form it cannot read gets there."""
    for mock in make_mock(strict=strict):
        content_type = "multipart/form-data; boundary=a; charset=\x00"
        headers = mock.headers(api, **{"Content-Type": content_type})
        answer = mock.client.request(method, path, headers=headers, content=framed("a"))
        assert answer.status_code == (422 if strict else 400), answer.text
        assert "unreadable form body: embedded null character" in answer.text


def _without_instance(body: dict) -> dict:
    """A problem document less its `instance` (Neural Draft's: the request ID)."""
    return {name: value for name, value in body.items() if name != "instance"}
