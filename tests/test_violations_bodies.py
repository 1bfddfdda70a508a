"""A body that is no valid JSON for the values it holds (NaN, Infinity, `1e999`, a lone
surrogate) keeps its API's own 4xx, and its journal entry lists those values as contract
violations at their fields, with whatever else the check finds (an unknown field beside them).
So is JSON text in a form field whose schema names the schema of that JSON (NeuroLinker's
`form`): each way it breaks that schema is a violation under `/body/form`."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import ServerConfig, apis, create_app
from mockserver.contracts import Contract
from mockserver.validation import CONTENT_SCHEMA
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


def test_a_key_with_a_lone_surrogate_is_named_escaped_and_the_journal_stays_readable(
    mock: Mock,
) -> None:
    headers = mock.headers("neuraldraft", **JSON)
    body = '{"type": "ai", "topic": "Tea", "\\udc00": 1}'
    answer = mock.client.post("/neuraldraft/v1/blog-posts", content=body, headers=headers)
    assert answer.status_code == 400
    found = violations(mock.client, "neuraldraft")
    assert said(found, [("/body/\\udc00", "holds a lone"), ("/body/\\udc00", "unknown field")])
    assert [v["value"] for v in found] == ["\\udc00", 1]
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

FORM_SCHEMAS = {  # NeuroLinker's form bodies, and the schema of the JSON their `form` holds
    "ExtractMultipartBody": "ExtractForm",
    "ExtractUrlencodedBody": "ExtractForm",
}
URL_MODE = '{"documents_url": ["https://example.com/a.pdf"], '


@pytest.fixture
def annotated() -> Iterator[TestClient]:
    """A server whose NeuroLinker contract names, on its `form` fields, the schema of the JSON
    they hold (`x-content-schema`), as the contract must for the check to read them."""
    app = create_app(ServerConfig(clock="manual", seed=7))
    service = app.state.services["neurolinker"]
    document = copy.deepcopy(service.contract.document)
    for body, form in FORM_SCHEMAS.items():
        field = document["components"]["schemas"][body]["properties"]["form"]
        field[CONTENT_SCHEMA] = {"$ref": f"#/components/schemas/{form}"}
    service.contract = Contract("neurolinker", document)
    with TestClient(app) as client:
        yield client


def submit(client: TestClient, form: str, multipart: bool) -> int:
    service = apis.service_class("neurolinker")
    headers = service.auth_headers(service.api_key("acme"))
    path = "/neurolinker/api/v1/extract"
    if multipart:
        return client.post(path, files={"form": (None, form)}, headers=headers).status_code
    return client.post(path, data={"form": form}, headers=headers).status_code


@pytest.mark.parametrize("multipart", [True, False])
@pytest.mark.parametrize(
    ("form", "status", "expected"),
    [
        (
            URL_MODE + '"enrichment_mode": "ultra"}',
            422,
            [("/body/form/enrichment_mode", "Input should be 'base' or 'turbo'")],
        ),
        (
            URL_MODE + '"enrichment_mod": "turbo", "aliass": "x"}',
            200,
            [
                ("/body/form/enrichment_mod", "unknown field 'enrichment_mod'"),
                ("/body/form/aliass", "unknown field 'aliass'"),
            ],
        ),
        (URL_MODE + '"alias": NaN}', 422, [("/body/form/alias", "holds NaN")]),
        ("not json", 422, [("/body/form", "Invalid JSON")]),
    ],
)
def test_json_in_a_form_field_is_checked_against_its_schema(
    annotated: TestClient,
    multipart: bool,
    form: str,
    status: int,
    expected: list[tuple[str, str]],
) -> None:
    assert submit(annotated, form, multipart) == status
    assert said(violations(annotated, "neurolinker"), expected)
