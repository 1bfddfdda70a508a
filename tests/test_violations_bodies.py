"""A body that is no valid JSON for the values it holds (NaN, Infinity, `1e999`, a lone
surrogate) keeps its API's own 4xx, and its journal entry lists those values as contract
violations at their fields, with whatever else the check finds (an unknown field beside them).
So is JSON text in a form field whose schema says it carries JSON (`contentMediaType` and
`contentSchema`, NeuroLinker's `form`): each way it breaks that schema is a violation under
`/body/form`."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mock

JSON = {"Content-Type": "application/json"}
# (API, path, body with a field for the value and an unknown field, the value's pointer)
BODIES = [
    ("neuralanalog", "/neuralanalog/from-link", '{"url": %s, "bogus": 1}', "/body/url"),
    (
        "camb",
        "/camb/apis/audio-separation-results",
        '{"run_ids": [%s], "bogus": 1}',
        "/body/run_ids/0",
    ),
    (
        "neurolinker",
        "/neurolinker/api/v1/generate-schema",
        '{"description": %s, "bogus": 1}',
        "/body/description",
    ),
    (
        "neuraldraft",
        "/neuraldraft/v1/blog-posts",
        '{"type": "ai", "topic": %s, "bogus": 1}',
        "/body/topic",
    ),
]
NOT_NUMBERS = ["NaN", "-Infinity", "1e999", "9" * 400]


def violations(client: TestClient, api: str) -> list[dict[str, Any]]:
    answer = client.get("/__mock__/violations", params={"api": api})
    assert answer.status_code == 200
    return answer.json()["violations"]


def said(found: list[dict[str, Any]], expected: list[tuple[str, str]]) -> bool:
    """Whether `found` are violations at the pointers of `expected`, in order, each message
    beginning with its words."""
    return len(found) == len(expected) and all(
        v["pointer"] == pointer and v["message"].startswith(words)
        for v, (pointer, words) in zip(found, expected, strict=True)
    )


@pytest.mark.parametrize(("api", "path", "body", "pointer"), BODIES)
@pytest.mark.parametrize("value", [*NOT_NUMBERS, '"\\ud800"'])
def test_a_value_no_answer_could_hold_is_a_violation_at_its_field(
    mock: Mock, api: str, path: str, body: str, pointer: str, value: str
) -> None:
    headers = mock.headers(api, **JSON)
    answer = mock.client.post(path, content=body % value, headers=headers)
    assert answer.status_code in (400, 422), answer.text
    string = value.startswith('"')
    shown = "\\ud800" if string else value if len(value) <= 24 else value[:24] + "..."
    words = "holds a lone UTF-16 surrogate" if string else f"holds {shown}: NaN and Infinity"
    found = violations(mock.client, api)
    assert said(found, [(pointer, words), ("/body/bogus", "unknown field 'bogus'")]), found
    assert found[0]["value"] == shown
    assert found[0]["request_id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize(
    ("key", "value", "pointer", "words", "shown"),
    [
        # a lone surrogate in the key itself: named escaped, and the journal stays readable
        ("\\udc00", "1", "/body/\\udc00", "holds a lone", "\\udc00"),
        # RFC 6901: the `/` of a key is `~1` in the pointer, as for any other violation
        ("a/b", "NaN", "/body/a~1b", "holds NaN", "NaN"),
    ],
)
def test_a_key_is_named_at_its_escaped_pointer(
    mock: Mock, key: str, value: str, pointer: str, words: str, shown: str
) -> None:
    headers = mock.headers("neuraldraft", **JSON)
    body = f'{{"type": "ai", "topic": "Tea", "{key}": {value}}}'
    answer = mock.client.post("/neuraldraft/v1/blog-posts", content=body, headers=headers)
    assert answer.status_code == 400
    found = violations(mock.client, "neuraldraft")
    assert said(found, [(pointer, words), (pointer, "unknown field")]), found
    assert found[0]["value"] == shown
    assert mock.client.get("/__mock__/journal").status_code == 200


def test_a_body_too_deep_is_refused_without_a_violation_but_one_holding_nan_has_one(
    mock: Mock,
) -> None:
    """Nesting is a limit of the server's, not of the contract's."""
    headers = mock.headers("neuraldraft", **JSON)
    post = functools.partial(mock.client.post, "/neuraldraft/v1/blog-posts", headers=headers)
    assert post(content="[" * 100 + "]" * 100).status_code == 400
    assert post(content='{"type": "ai", "topic": "Tea", "tags": ["ok", NaN]}').status_code == 400
    assert said(violations(mock.client, "neuraldraft"), [("/body/tags/1", "holds NaN")])


# --- JSON text in a form field ---------------------------------------------------------------

URL_MODE = '{"documents_url": ["https://example.com/a.pdf"], '
FIELDS_URL_MODE = URL_MODE + '"json_schema": {"type": "object"}, '
EXTRACT, EXTRACT_FIELDS = "/neurolinker/api/v1/extract", "/neurolinker/api/v1/extract-fields"


def submit(mock: Mock, path: str, form: str, multipart: bool) -> int:
    headers = mock.headers("neurolinker")
    if multipart:
        return mock.client.post(path, files={"form": (None, form)}, headers=headers).status_code
    return mock.client.post(path, data={"form": form}, headers=headers).status_code


@pytest.mark.parametrize("multipart", [True, False])
@pytest.mark.parametrize(
    ("path", "form", "status", "expected"),
    [
        (
            EXTRACT,
            URL_MODE + '"enrichment_mode": "ultra"}',
            422,
            [("/body/form/enrichment_mode", "Input should be 'base' or 'turbo'")],
        ),
        (
            EXTRACT,
            URL_MODE + '"enrichment_mod": "turbo", "aliass": "x"}',
            200,
            [
                ("/body/form/enrichment_mod", "unknown field 'enrichment_mod'"),
                ("/body/form/aliass", "unknown field 'aliass'"),
            ],
        ),
        (EXTRACT, URL_MODE + '"alias": NaN}', 422, [("/body/form/alias", "holds NaN")]),
        (
            EXTRACT,
            URL_MODE + '"a/b": NaN}',
            422,
            [("/body/form/a~1b", "holds NaN"), ("/body/form/a~1b", "unknown field 'a/b'")],
        ),
        (EXTRACT, "not json", 422, [("/body/form", "Invalid JSON")]),
        (
            EXTRACT_FIELDS,
            FIELDS_URL_MODE + '"aliass": "x"}',
            200,
            [("/body/form/aliass", "unknown field 'aliass'")],
        ),
        (
            EXTRACT_FIELDS,
            FIELDS_URL_MODE + '"alias": 1}',
            422,
            [("/body/form/alias", "Input should be a valid string")],
        ),
    ],
)
def test_json_in_a_form_field_is_checked_against_its_content_schema(
    mock: Mock,
    multipart: bool,
    path: str,
    form: str,
    status: int,
    expected: list[tuple[str, str]],
) -> None:
    """The contract says what `form` carries (`contentMediaType: application/json` and its
    `contentSchema`): each way that JSON breaks it is journalled, while the API keeps its own
    answer (a 200 for fields it ignores)."""
    assert submit(mock, path, form, multipart) == status
    assert said(violations(mock.client, "neurolinker"), expected)
