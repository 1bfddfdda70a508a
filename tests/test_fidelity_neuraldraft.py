"""Neural Draft against its public docs: the docs' own examples, retyped, checked both ways.

Each example (the page it comes from in a comment) must validate against
`contracts/neuraldraft.yaml`, and the mock's answer to the same request must have the same
keys, with values of the same types and formats. Pages: docs.neuraldraft.io.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mockserver.contracts import load
from mockserver.contracts.validate import validate_request
from tests.conftest import Mock, make_mock

BASE = "/neuraldraft/v1"
CONTRACT = load("neuraldraft")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# --- the docs' examples ---------------------------------------------------------------------

# /api-reference/jobs/get-job-status
JOB_PROCESSING = {
    "id": "job_2Ngd9KqLmRpW",
    "type": "blog_post.generate",
    "status": "processing",
    "progress": 64,
    "message": "Translating to French",
    "steps": [
        {"name": "research", "completed": True, "active": False},
        {"name": "write", "completed": True, "active": False},
        {"name": "image", "completed": True, "active": False},
        {"name": "translate", "completed": False, "active": True},
        {"name": "seo", "completed": False, "active": False},
    ],
    "created_at": "2026-04-19T10:14:02Z",
    "updated_at": "2026-04-19T10:18:42Z",
}
# /errors ("Shape")
VALIDATION_PROBLEM = {
    "type": "https://api.neuraldraft.io/errors/validation_failed",
    "title": "Validation failed",
    "status": 422,
    "code": "validation_failed",
    "detail": "One or more fields failed validation.",
    "instance": "req_2Nh4PqRsTuVw",
    "errors": {
        "customer_email": ["The customer email field must be a valid email."],
        "starts_at": ["The starts at field must be a valid ISO 8601 date."],
    },
}
# /rate-limits ("Hitting the ceiling")
RATE_LIMITED_PROBLEM = {
    "type": "https://api.neuraldraft.io/errors/rate_limited",
    "title": "Too many requests",
    "status": 429,
    "code": "rate_limited",
    "detail": "Rate limit exceeded for project prj_2NgcaXxFqLPo. Retry after 14 seconds.",
    "instance": "req_2Nh4PqRsTuVw",
}
# /rate-limits ("Response headers", the example)
RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit": "60",
    "x-ratelimit-remaining": "47",
    "x-ratelimit-reset": "1745007660",
    "x-request-id": "req_2Nh4PqRsTuVw",
}
# /webhooks ("Subscribe")
WEBHOOKS_PAGE_REQUEST = {
    "url": "https://example.com/api/neural-draft",
    "events": ["order.paid", "order.refunded", "blog_post.published"],
}
WEBHOOKS_PAGE_RESPONSE = {
    "id": "whe_2NgcaXxFqLPo",
    "url": "https://example.com/api/neural-draft",
    "events": ["order.paid", "order.refunded", "blog_post.published"],
    "is_active": True,
    "signing_secret": "whsec_OmtQ9X5gTzUv7sR1kBhJnAeYpV2cDfWiM3oP",
    "created_at": "2026-04-19T10:14:22Z",
}
# /api-reference/webhooks/create-a-webhook-endpoint
CREATE_ENDPOINT_REQUEST = {
    "url": "https://hooks.lakesideyoga.uk/neural-draft",
    "events": ["order.paid", "order.fulfilled", "blog_post.published"],
}
CREATE_ENDPOINT_RESPONSE = {
    "id": "whe_2NgcaXxFqLPo",
    "url": "https://hooks.lakesideyoga.uk/neural-draft",
    "events": ["order.paid", "order.fulfilled", "blog_post.published"],
    "is_active": True,
    "signing_secret": "whsec_OmtQ9X5gTzUv7sR1kBhJnAeYpV2cDfWiM3oP",
    "last_delivery_status": None,
    "last_delivery_at": None,
    "created_at": "2026-04-19T10:30:00Z",
}
# /api-reference/webhooks/update-a-webhook-endpoint (its answer is a placeholder, below)
UPDATE_ENDPOINT_REQUEST = {
    "events": ["order.paid", "order.fulfilled", "order.created", "blog_post.published"]
}
# /api-reference/webhooks/list-recent-webhook-deliveries
DELIVERIES = {
    "data": [
        {
            "id": "whd_2Nh4PqRsTuVw",
            "endpoint_id": "whe_2NgcaXxFqLPo",
            "event": "order.paid",
            "status": "success",
            "response_status": 200,
            "attempts": 1,
            "next_retry_at": None,
            "delivered_at": "2026-04-19T09:11:01Z",
            "created_at": "2026-04-19T09:10:58Z",
        },
        {
            "id": "whd_2Nh5XyZAbCdE",
            "endpoint_id": "whe_2NgcaXxFqLPo",
            "event": "blog_post.published",
            "status": "failed",
            "response_status": 502,
            "attempts": 4,
            "next_retry_at": "2026-04-19T10:30:00Z",
            "delivered_at": None,
            "created_at": "2026-04-19T08:00:14Z",
        },
    ],
    "meta": {"page": 1, "page_size": 20, "total": 2},
}
# /api-reference/webhooks/retry-a-webhook-delivery (types as the docs render them)
RETRIED = {
    "id": "whd_2Nh4PqRsTuVw",
    "endpoint_id": "whe_2NgcaXxFqLPo",
    "event": "blog_post.published",
    "status": "success",
    "attempts": 2,
    "created_at": "2023-11-07T05:31:56Z",
    "response_status": 123,
    "response_body": "<string>",
    "next_retry_at": "2023-11-07T05:31:56Z",
    "delivered_at": "2023-11-07T05:31:56Z",
}
# /pillars/social ("Quick example")
SOCIAL_REQUEST = {
    "type": "social_post.generate",
    "custom_title": "Launching our v1 API",
    "platforms": ["facebook", "instagram", "twitter", "linkedin"],
    "tone": "warm",
    "media_type": "image",
    "visual_style": "minimal_brand",
}
SOCIAL_RESPONSE = {"job_id": "job_2Nh4PqRsTuVw", "status": "pending"}
# /pillars/blog ("Quick example", curl)
MANUAL_POST_CURL = {
    "title": "Five things we shipped this week",
    "content": "<p>It was a busy week.</p>",
    "excerpt": "Highlights from the past seven days.",
    "language_code": "en",
    "status": "published",
    "tags": ["weekly", "changelog"],
}
# /pillars/blog ("Quick example", SDK: blogPosts.create adds type "manual")
MANUAL_POST_SDK = {
    "type": "manual",
    "title": "Five things we shipped this week",
    "content": "<p>It was a busy week.</p>",
    "excerpt": "Highlights from the past seven days.",
    "language_code": "en",
    "status": "published",
}
# /pillars/blog (workflow 1, SDK: blogPosts.generateAi adds type "ai")
AI_POST = {
    "type": "ai",
    "topic": "Why API-first beats site-builder-first for SMBs",
    "style": "thought_leadership",
    "word_count": 1200,
    "primary_keyword": "API-first CMS",
    "translate_to_all": True,
}
# /api-reference/blog/translate-a-blog-post
TRANSLATE_POST = {"target_langs": ["fr", "de", "es"]}
# /api-reference/content/translate-a-content-key
TRANSLATE_CONTENT = {"target_langs": ["fr", "de", "es"]}
CONTENT_JOB = {
    "id": "job_2Ngd9KqLmRpW",
    "type": "translation.batch",
    "status": "pending",
    "progress": 0,
    "created_at": "2026-04-19T10:14:02Z",
}
# /api-reference/images/generate-a-brand-consistent-image
IMAGE_REQUEST = {
    "prompt": "Serene yoga studio at dawn",
    "style": "photorealistic",
    "aspect_ratio": "16:9",
    "key": "hero.background",
}
# Answers the docs render from their schema with every field filled in (`"<string>"`,
# `result: {}` next to `error` on a pending job): not examples of a real answer, and at odds
# with the docs' own prose (`result` "when status is completed"). Kept here to say so.
PLACEHOLDERS = {
    "/api-reference/blog/translate-a-blog-post": {
        "id": "job_2Ngd9KqLmRpW",
        "type": "blog_post.generate",
        "status": "pending",
        "created_at": "2023-11-07T05:31:56Z",
        "progress": 50,
        "message": "<string>",
        "steps": [{"name": "<string>", "completed": True, "active": True}],
        "result": {},
        "error": {"code": "upstream_unavailable", "message": "<string>"},
        "updated_at": "2023-11-07T05:31:56Z",
    },
    "/api-reference/webhooks/update-a-webhook-endpoint": {
        "id": "whe_2NgcaXxFqLPo",
        "url": "<string>",
        "events": ["blog_post.published"],
        "is_active": True,
        "created_at": "2023-11-07T05:31:56Z",
        "last_delivery_status": "success",
        "last_delivery_at": "2023-11-07T05:31:56Z",
    },
}


# --- how answers are compared ---------------------------------------------------------------


def kind(value: Any) -> str:
    """A value's JSON type, and for strings its format where the docs show one."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        if TIMESTAMP.match(value):
            return "timestamp"
        if value.startswith(("https://", "http://")):
            return "uri"
        return "string"
    return "null" if value is None else type(value).__name__


def assert_same_shape(docs: Any, mock: Any, where: str = "$") -> None:
    """Same keys at every level, same kinds of values (`null` only where the docs have one
    or the mock's state has none yet, as `next_retry_at` of a delivered delivery)."""
    if isinstance(docs, dict):
        assert isinstance(mock, dict), where
        assert set(mock) == set(docs), (where, sorted(set(mock) ^ set(docs)))
        for key in docs:
            assert_same_shape(docs[key], mock[key], f"{where}.{key}")
    elif isinstance(docs, list):
        assert isinstance(mock, list), where
        for item in mock:
            assert_same_shape(docs[0], item, f"{where}[]")
    elif docs is not None and mock is not None:
        assert kind(mock) == kind(docs), (where, docs, mock)


def body_problems(operation_id: str, status: int, body: Any) -> list[str]:
    """What `body`, as the answer `status` of the operation, breaks in the contract."""
    operation = CONTRACT.by_id(operation_id)
    response = CONTRACT.resolve(operation.response(status))
    [(_, media)] = response["content"].items()
    validator = CONTRACT.validator(media["schema"])
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


def request_problems(method: str, path: str, body: dict[str, Any]) -> list[str]:
    found = validate_request(CONTRACT, method, path, content_type="application/json", body=body)
    return [str(problem) for problem in found]


def post(mock: Mock, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return mock.client.post(BASE + path, headers=mock.headers("neuraldraft", **headers), json=body)


def get(mock: Mock, path: str, **params: Any) -> httpx.Response:
    return mock.client.get(BASE + path, headers=mock.headers("neuraldraft"), params=params)


# --- every example validates against the contract -------------------------------------------

ANSWERS = [
    ("get_job", 200, JOB_PROCESSING),
    ("create_blog_post", 422, VALIDATION_PROBLEM),
    ("get_job", 429, RATE_LIMITED_PROBLEM),
    ("create_webhook_endpoint", 201, WEBHOOKS_PAGE_RESPONSE),
    ("create_webhook_endpoint", 201, CREATE_ENDPOINT_RESPONSE),
    ("list_webhook_deliveries", 200, DELIVERIES),
    ("retry_webhook_delivery", 202, RETRIED),
    ("create_job", 202, SOCIAL_RESPONSE),
    ("translate_content", 202, CONTENT_JOB),
]
REQUESTS = [
    ("POST", "/v1/webhook-endpoints", WEBHOOKS_PAGE_REQUEST),
    ("POST", "/v1/webhook-endpoints", CREATE_ENDPOINT_REQUEST),
    ("PATCH", "/v1/webhook-endpoints/whe_2NgcaXxFqLPo", UPDATE_ENDPOINT_REQUEST),
    ("POST", "/v1/jobs", SOCIAL_REQUEST),
    ("POST", "/v1/blog-posts", MANUAL_POST_CURL),
    ("POST", "/v1/blog-posts", MANUAL_POST_SDK),
    ("POST", "/v1/blog-posts", AI_POST),
    ("POST", "/v1/blog-posts/142/translate", TRANSLATE_POST),
    ("POST", "/v1/content/hero.headline/translate", TRANSLATE_CONTENT),
    ("POST", "/v1/images", IMAGE_REQUEST),
]


@pytest.mark.parametrize(("operation_id", "status", "body"), ANSWERS)
def test_each_documented_answer_validates(operation_id: str, status: int, body: Any) -> None:
    assert body_problems(operation_id, status, body) == []


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_each_documented_request_validates(method: str, path: str, body: Any) -> None:
    assert request_problems(method, path, body) == []


def test_the_docs_placeholder_answers_are_placeholders() -> None:
    """Not held against the contract: each is the docs' schema rendering, not an answer."""
    for page, body in PLACEHOLDERS.items():
        assert "<string>" in str(body), page
    assert body_problems("translate_blog_post", 202, PLACEHOLDERS[next(iter(PLACEHOLDERS))])


def test_contract_refuses_what_the_docs_do_not_allow() -> None:
    invented_topic = {**WEBHOOKS_PAGE_REQUEST, "events": ["blog_post.generated"]}
    assert request_problems("POST", "/v1/webhook-endpoints", invented_topic)
    assert request_problems("POST", "/v1/images", {**IMAGE_REQUEST, "aspect_ratio": "2:3"})
    assert body_problems("get_job", 200, {**JOB_PROCESSING, "created_at": "2026-04-19T10:14Z"})


# --- the mock answers the same requests the same way ----------------------------------------


def test_a_polled_job_reads_like_the_docs_example(mock: Mock) -> None:
    created = post(mock, "/blog-posts", {**AI_POST}, **{"X-Mock-Scenario": "completed; after=460"})
    mock.advance(280)
    polled = get(mock, f"/jobs/{created.json()['id']}").json()
    assert_same_shape(JOB_PROCESSING, polled)
    assert (polled["status"], [s["name"] for s in polled["steps"]]) == (
        "processing",
        [s["name"] for s in JOB_PROCESSING["steps"]],
    )


def test_a_422_reads_like_the_errors_page(mock: Mock) -> None:
    answer = post(mock, "/blog-posts", {"type": "ai", "topic": 5, "word_count": "long"})
    assert answer.status_code == 422
    problem = answer.json()
    assert_same_shape({**VALIDATION_PROBLEM, "errors": None}, {**problem, "errors": None})
    assert problem["title"] == VALIDATION_PROBLEM["title"]
    assert set(problem["errors"]) == {"topic", "word_count"}
    assert all(
        isinstance(m, list) and all(isinstance(t, str) for t in m)
        for m in problem["errors"].values()
    )
    assert problem["instance"] == answer.headers["x-request-id"]


@pytest.fixture
def limited() -> Iterator[Mock]:
    yield from make_mock(rate_limit=2)


def test_rate_limit_headers_and_429_read_like_the_rate_limits_page(limited: Mock) -> None:
    answers = [get(limited, "/webhook-endpoints") for _ in range(3)]
    for answer in answers:
        for name, value in RATE_LIMIT_HEADERS.items():
            pattern = r"req_[A-Za-z0-9]+" if name == "x-request-id" else r"\d+"
            assert re.fullmatch(pattern, value) and re.fullmatch(pattern, answer.headers[name])
        assert answer.headers["x-ratelimit-limit"] == "2"  # the configured limit
    refused = answers[-1]
    assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()
    assert_same_shape(RATE_LIMITED_PROBLEM, refused.json())
    assert refused.json()["title"] == "Too many requests"


def test_webhook_endpoints_read_like_the_docs(mock: Mock) -> None:
    created = post(mock, "/webhook-endpoints", CREATE_ENDPOINT_REQUEST)
    assert created.status_code == 201
    assert_same_shape(CREATE_ENDPOINT_RESPONSE, created.json())
    assert created.json()["events"] == CREATE_ENDPOINT_REQUEST["events"]
    page = post(mock, "/webhook-endpoints", WEBHOOKS_PAGE_REQUEST)
    docs_keys = {*WEBHOOKS_PAGE_RESPONSE, "last_delivery_status", "last_delivery_at"}
    assert set(page.json()) == docs_keys  # the API reference's two fields besides
    path = f"{BASE}/webhook-endpoints/{created.json()['id']}"
    patched = mock.client.patch(
        path, headers=mock.headers("neuraldraft"), json=UPDATE_ENDPOINT_REQUEST
    )
    assert patched.status_code == 200
    # the update page's keys (its values are placeholders), typed as the create page's
    updated_keys = set(PLACEHOLDERS["/api-reference/webhooks/update-a-webhook-endpoint"])
    assert set(patched.json()) == updated_keys
    assert_same_shape({k: CREATE_ENDPOINT_RESPONSE[k] for k in updated_keys}, patched.json())
    invented = post(
        mock, "/webhook-endpoints", {**WEBHOOKS_PAGE_REQUEST, "events": ["blog_post.generated"]}
    )
    assert invented.status_code == 422 and set(invented.json()["errors"]) == {"events.0"}


def test_deliveries_read_like_the_docs_and_are_retried(mock: Mock) -> None:
    # nothing listens on port 9: every attempt fails, as the docs' second delivery did
    endpoint = post(
        mock, "/webhook-endpoints", {"url": "http://127.0.0.1:9/", "events": ["image.generated"]}
    )
    post(mock, "/images", IMAGE_REQUEST, **{"X-Mock-Scenario": "completed; after=10"})
    mock.advance(10)
    # failed from its first failed attempt, its retry waiting: the docs' example delivery
    listed = get(mock, "/webhook-deliveries", endpoint_id=endpoint.json()["id"], status="failed")
    assert listed.status_code == 200
    assert_same_shape(DELIVERIES, listed.json())
    [delivery] = listed.json()["data"]
    assert (delivery["attempts"], delivery["next_retry_at"]) == (1, "2026-01-01T00:00:40Z")
    retried = post(mock, f"/webhook-deliveries/{delivery['id']}/retry", {})
    assert retried.status_code == 202
    assert_same_shape(RETRIED, retried.json())
    mock.advance(0)  # the dispatcher's next tick sends it
    assert get(mock, "/webhook-deliveries").json()["data"][0]["attempts"] == 2
    assert get(mock, "/webhook-deliveries", status="success").json()["meta"]["total"] == 0
    assert post(mock, "/webhook-deliveries/whd_nope/retry", {}).status_code == 404


def test_social_post_job_answers_like_the_social_pillar(mock: Mock) -> None:
    answer = post(mock, "/jobs", SOCIAL_REQUEST)
    assert answer.status_code == 202
    assert_same_shape(SOCIAL_RESPONSE, answer.json())
    mock.advance(120)
    result = get(mock, f"/jobs/{answer.json()['job_id']}").json()["result"]
    assert result["platforms"] == SOCIAL_REQUEST["platforms"]
    social = get(mock, f"/social-posts/{result['social_post_id']}")
    assert social.status_code == 200 and social.json()["data"]["media_type"] == "image"


def test_manual_posts_are_created_at_once_with_integer_ids(mock: Mock) -> None:
    curl = post(mock, "/blog-posts", MANUAL_POST_CURL)
    sdk = post(mock, "/blog-posts", MANUAL_POST_SDK)
    assert curl.status_code == sdk.status_code == 201
    first, second = curl.json()["data"], sdk.json()["data"]
    assert (first["id"], second["id"]) == (1, 2)
    assert first["status"] == "published" and first["published_at"] == "2026-01-01T00:00:00Z"
    assert [tag["name"] for tag in first["tags"]] == ["weekly", "changelog"]
    assert get(mock, f"/blog-posts/{first['id']}").json() == {"data": first}
    assert second["slug"] == first["slug"] + "-2"  # a derived slug steps aside
    assert get(mock, f"/blog-posts/{first['slug']}").json()["data"]["id"] == 1
    taken = post(mock, "/blog-posts", {**MANUAL_POST_SDK, "slug": first["slug"]})
    assert taken.status_code == 409 and taken.json()["code"] == "conflict"  # the errors page
    listed = get(mock, "/blog-posts", page_size=1).json()
    assert listed["meta"] == {"page": 1, "page_size": 1, "total": 2}
    assert [p["id"] for p in listed["data"]] == [2]
    # the docs' Astro loader pages with `per_page`: the same size by another name
    astro = get(mock, "/blog-posts", status="published", lang="en", per_page=1, page=2).json()
    assert astro["meta"] == {"page": 2, "page_size": 1, "total": 2}
    assert [p["id"] for p in astro["data"]] == [1]
    assert get(mock, "/blog-posts", per_page=101).status_code == 422
    translated = post(mock, f"/blog-posts/{first['id']}/translate", TRANSLATE_POST)
    assert translated.status_code == 202 and translated.json()["type"] == "translation.batch"


def test_ai_post_is_readable_once_its_job_completed(mock: Mock) -> None:
    job = post(mock, "/blog-posts", AI_POST, **{"X-Mock-Scenario": "completed; after=10"}).json()
    assert get(mock, "/blog-posts").json()["data"] == []
    mock.advance(10)
    result = get(mock, f"/jobs/{job['id']}").json()["result"]
    assert isinstance(result["post_id"], int)
    post_body = get(mock, f"/blog-posts/{result['post_id']}").json()["data"]
    assert (post_body["slug"], post_body["title"], post_body["status"]) == (
        result["slug"],
        result["title"],
        "published",
    )


def test_content_translation_answers_the_documented_fields(mock: Mock) -> None:
    answer = post(mock, "/content/hero.headline/translate", TRANSLATE_CONTENT)
    assert answer.status_code == 202
    shown = answer.json()
    # the docs' example shows five fields; the mock also sends the optional ones
    assert_same_shape(CONTENT_JOB, {key: shown[key] for key in CONTENT_JOB})
    assert set(shown) - set(CONTENT_JOB) == {"message", "steps", "updated_at"}


@pytest.mark.parametrize("ratio", ["1:1", "16:9", "9:16", "4:5", "4:3", "3:2"])
def test_every_documented_aspect_ratio_is_accepted(mock: Mock, ratio: str) -> None:
    assert post(mock, "/images", {**IMAGE_REQUEST, "aspect_ratio": ratio}).status_code == 202


def test_402_says_out_of_credits_unless_configured_otherwise() -> None:
    scenario = {"X-Mock-Scenario": "out_of_credits"}
    for mock in make_mock():
        assert post(mock, "/images", IMAGE_REQUEST, **scenario).json()["code"] == "out_of_credits"
    for mock in make_mock(credits_error_code="insufficient_credits"):
        refused = post(mock, "/images", IMAGE_REQUEST, **scenario).json()
        assert (refused["code"], refused["type"]) == (
            "insufficient_credits",
            "https://api.neuraldraft.io/errors/insufficient_credits",
        )
    with pytest.raises(ValueError, match="credits_error_code"):
        next(make_mock(credits_error_code="broke"))


def test_idempotency_key_reused_with_other_parameters_is_idempotency_conflict(mock: Mock) -> None:
    key = {"Idempotency-Key": "7f9c2ba4"}
    assert post(mock, "/images", IMAGE_REQUEST, **key).status_code == 202
    other = post(mock, "/images", {**IMAGE_REQUEST, "prompt": "Another"}, **key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
