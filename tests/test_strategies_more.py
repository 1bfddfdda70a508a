"""contracts.strategies, from a user's probe: timestamps a pattern pins are real times, a `not`
of an `anyOf` is drawn, and request bodies carry no field the mock calls unknown."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from mockserver import apis
from mockserver.contracts import load
from mockserver.contracts.strategies import from_schema, responses
from tests.conftest import make_mock
from tests.test_strategies import _json_answers, assert_valid

CHECK = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T|$)")
ANSWERS = [
    (api, op.id, status, media)
    for api in apis.names()
    for op in load(api).operations
    for status, media in _json_answers(api, op.id)
    if 200 <= status < 300
]
REQUESTS = {  # one JSON request of each API, posted where no path parameter is needed
    "neuralanalog": ("import_from_link", "FromLinkRequest"),
    "camb": ("get_audio_separation_runs_results", "GetAudioSeparationRunsResultsRequest"),
    "neurolinker": ("generate_schema", "GenerateSchemaRequest"),
    "neuraldraft": ("create_blog_post", "CreateBlogPostRequest"),
}


def _timestamps(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _timestamps(v)]
    if isinstance(value, list):
        return [t for v in value for t in _timestamps(v)]
    return [value] if isinstance(value, str) and TIMESTAMP.match(value) else []


def _parses(text: str) -> None:
    if "T" in text:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    else:
        date.fromisoformat(text)


@pytest.mark.parametrize(("api", "operation", "status", "media"), ANSWERS)
def test_every_drawn_timestamp_is_a_real_time(
    api: str, operation: str, status: int, media: str
) -> None:
    @CHECK
    @given(responses(api, operation, status))
    def check(body: Any) -> None:
        for text in _timestamps(body):
            _parses(text)
        assert_valid(api, operation, status, media, body)

    check()


def test_a_negated_any_of_is_drawn() -> None:
    schema = {"$ref": "#/components/schemas/RegenerateImageRequest"}

    @settings(CHECK, max_examples=100)
    @given(from_schema("neuraldraft", schema))
    def check(body: dict[str, Any]) -> None:
        regenerate = "prompt" in body or body.get("regenerate") is True
        assert ("prompt" if regenerate else "url") in body, body

    check()


@pytest.mark.parametrize("api", sorted(REQUESTS))
def test_generated_request_bodies_draw_no_unknown_field(api: str) -> None:
    operation, name = REQUESTS[api]
    spec = load(api).by_id(operation)
    path = apis.services()[api].prefix + spec.template
    bodies = from_schema(api, {"$ref": f"#/components/schemas/{name}"})
    server = make_mock()
    mock = next(server)

    @settings(CHECK, max_examples=50)
    @given(bodies)
    def post(body: dict[str, Any]) -> None:
        mock.client.post(path, headers=mock.headers(api), json=body)
        found = mock.client.get("/__mock__/violations", params={"api": api}).json()
        assert found["count"] == 0, found["violations"]

    post()
    next(server, None)  # closes the client and checks the answers against the contract
