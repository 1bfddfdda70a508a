"""Neural Draft against its public docs, second pass: the rate window on a manual clock, a
missing body field, `translate_to_all`, and credits for image registration.

Every response is checked against `contracts/neuraldraft.yaml` by the `mock` fixture. Real time
is faked (as the fault-window tests fake it): no test sleeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mockserver.apis.neuraldraft import guards
from tests.conftest import Mock, make_mock
from tests.test_neuraldraft import register
from tests.test_neuraldraft_endpoints import (
    BASE,
    get,
    gif,
    headers,
    post,
    problem,
    put,
    upload,
)
from tests.webhook_receiver import Receiver

START = 1_767_225_600  # the manual clock's start
OUT_OF_CREDITS = {"X-Mock-Scenario": "out_of_credits"}


# --- the rate window closes in real time too --------------------------------------------------


@pytest.fixture
def real_time(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The rate limiter's real time, moved by the test (`real[0] += seconds`)."""
    real = [1_000_000.0]
    fake = SimpleNamespace(time=lambda: real[0], monotonic=time.monotonic)
    monkeypatch.setattr(guards, "time", fake)
    return real


@pytest.fixture
def limited(real_time: list[float]) -> Iterator[Mock]:
    yield from make_mock(rate_limit=3)


def test_a_client_honouring_retry_after_gets_in_though_the_manual_clock_stood_still(
    limited: Mock, real_time: list[float]
) -> None:
    """The docs: "429 rate_limited ... Honour Retry-After". An SDK sleeps for it in real time;
    on a manual clock nobody moves, the window used to stay shut for ever."""
    h = headers(limited)
    for _ in range(3):
        assert get(limited, "/webhook-endpoints").status_code == 200
        real_time[0] += 10  # the requests come 10 real seconds apart
    refused = limited.client.get(f"{BASE}/webhook-endpoints", headers=h)
    problem(refused, 429, "rate_limited")
    # the oldest request leaves 60 real seconds after it: 30 s from now; the window is full
    # again 50 s from now, a second of the server clock (which stood still at START)
    assert (refused.headers["retry-after"], refused.headers["x-ratelimit-reset"]) == (
        "30",
        str(START + 50),
    )
    real_time[0] += 29
    early = limited.client.get(f"{BASE}/webhook-endpoints", headers=h)
    assert (early.status_code, early.headers["retry-after"]) == (429, "1")
    assert early.headers["x-ratelimit-reset"] == str(START + 21)
    real_time[0] += 1  # Retry-After honoured
    let_in = limited.client.get(f"{BASE}/webhook-endpoints", headers=h)
    assert let_in.status_code == 200
    assert let_in.headers["x-ratelimit-remaining"] == "0"  # two of the three are still in
    assert let_in.headers["x-ratelimit-reset"] == str(START + 60)  # the newest, just made


def test_each_request_leaves_by_whichever_clock_passes_its_minute_first(
    limited: Mock, real_time: list[float]
) -> None:
    assert get(limited, "/webhook-endpoints").status_code == 200
    limited.advance(50)  # the server clock runs ahead of real time
    real_time[0] += 20
    for _ in range(2):
        assert get(limited, "/webhook-endpoints").status_code == 200
    refused = get(limited, "/webhook-endpoints")
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "10")  # server
    assert refused.headers["x-ratelimit-reset"] == str(START + 50 + 60)
    limited.advance(10)
    real_time[0] += 60  # the two later ones leave by real time (server clock: 10 s on)
    again = get(limited, "/webhook-endpoints")
    assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "2"
    assert again.headers["x-ratelimit-reset"] == str(START + 60 + 60)


def test_headers_count_down_and_refill_in_real_time_when_the_limit_is_not_enforced(
    real_time: list[float],
) -> None:
    for mock in make_mock():
        counted = [get(mock, "/tags").headers["x-ratelimit-remaining"] for _ in range(3)]
        assert counted == ["59", "58", "57"]
        real_time[0] += 60
        refilled = get(mock, "/tags")
        assert refilled.headers["x-ratelimit-remaining"] == "59"
        assert refilled.headers["x-ratelimit-reset"] == str(START + 60)


# --- a missing body field is a 400 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/images", {}, "Missing required body field: prompt."),
        (
            "/webhook-endpoints",
            {"events": ["image.generated"]},
            "Missing required body field: url.",
        ),
        ("/blog-posts", {}, "Missing required body field: title."),
        ("/jobs", {"topic": "x"}, "Missing required body field: type."),
        ("/videos", {"aspect_ratio": "9:16"}, "Missing required body field: prompt."),
        ("/social-posts", {"title": "x"}, "Missing required body field: platforms."),
        ("/social-posts", {"ai": {"tone": "warm"}}, "Missing required body field: ai.topic."),
        (
            "/content/k/translate",
            {"source_lang": "en"},
            "Missing required body field: target_langs.",
        ),
        (
            "/blog-posts",
            {"type": "ai", "word_count": 0},  # malformed first: the 400 wins over the 422
            "Missing required body field: topic. "
            "Also invalid: word_count: Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_missing_body_field_is_a_400_naming_it(
    mock: Mock, path: str, body: dict[str, Any], detail: str
) -> None:
    """The errors page: "400 bad_request — Malformed request — invalid JSON, missing required
    body field"; `errors` only on a 422."""
    answer = problem(post(mock, path, body), 400, "bad_request")
    assert answer["detail"] == detail
    assert answer["title"] == "Bad request" and "errors" not in answer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"regenerate": False}, "url"),
        ({"regenerate": True}, "prompt"),
        ({"regenerate": True, "url": "https://x.io/a.png"}, "prompt"),
    ],
)
def test_a_replace_missing_the_field_of_its_mode_is_a_400(
    mock: Mock, body: dict[str, Any], field: str
) -> None:
    upload(mock, gif(1, 1), key="logo")
    answer = problem(put(mock, "/images/logo", body), 400, "bad_request")
    assert answer["detail"] == f"Missing required body field: {field}."
    assert get(mock, "/images/logo").json()["mime_type"] == "image/gif"  # untouched


def _refused(answer: httpx.Response, status: int) -> dict[str, Any]:
    """A problem (strict mode's request check refuses before the rate limit is counted)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.parametrize("strict", [False, True])
def test_an_upload_without_its_key_is_a_400_and_an_empty_key_a_422(strict: bool) -> None:
    for mock in make_mock(strict=strict):
        missing = _refused(upload(mock, gif(1, 1), key=None), 400)
        assert (missing["code"], missing["detail"]) == (
            "bad_request",
            "Missing required body field: key.",
        )
        empty = _refused(upload(mock, gif(1, 1), key=""), 422)
        assert set(empty["errors"]) == {"key"}  # sent empty: sent, not missing
        no_file = mock.client.post(
            BASE + "/images", headers=headers(mock), files={"key": (None, "k")}
        )
        assert _refused(no_file, 400)["detail"] == "Missing required body field: file."


def test_a_body_missing_a_field_stores_no_idempotent_answer(mock: Mock) -> None:
    again = {"Idempotency-Key": "fix-and-resend"}
    assert post(mock, "/images", {}, **again).status_code == 400
    assert post(mock, "/images", {"prompt": "x"}, **again).status_code == 202


# --- translate_to_all: the project's languages ------------------------------------------------


def _ai_post(mock: Mock, translate: bool) -> str:
    body = {"type": "ai", "topic": "Cold brew at home", "translate_to_all": translate}
    created = post(mock, "/blog-posts", body, **{"X-Mock-Scenario": "completed; after=100"})
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def test_translate_to_all_lands_the_project_languages_with_the_post(mock: Mock) -> None:
    """The contract: "Translate the post into all of the project's languages"; the mock's
    project languages are fr, de and es. Without `translate_to_all`, none."""
    untranslated = _ai_post(mock, translate=False)
    job_id = _ai_post(mock, translate=True)
    mock.advance(99)
    steps = {s["name"]: s["completed"] for s in get(mock, f"/jobs/{job_id}").json()["steps"]}
    assert steps["translate"] and not steps["seo"]
    mock.advance(1)
    finished = get(mock, f"/jobs/{job_id}").json()
    assert finished["status"] == "completed"
    post_id = finished["result"]["post_id"]
    translations = get(mock, f"/blog-posts/{post_id}/translations").json()["data"]
    assert [t["lang"] for t in translations] == ["en", "de", "es", "fr"]
    assert translations[3]["title"] == "[fr] Cold Brew At Home"
    shown = get(mock, f"/blog-posts/{post_id}").json()["data"]
    assert [t["lang"] for t in shown["translations"]] == ["en", "de", "es", "fr"]
    listed = {p["id"]: p for p in get(mock, "/blog-posts").json()["data"]}
    assert [t["lang"] for t in listed[post_id]["translations"]] == ["en", "de", "es", "fr"]
    # a later write of one of them wins, as over a translation job's
    written = put(mock, f"/blog-posts/{post_id}/translations/fr", {"title": "Café froid"})
    assert written.status_code == 200, written.text
    after = get(mock, f"/blog-posts/{post_id}/translations").json()["data"]
    assert [t["title"] for t in after if t["lang"] == "fr"] == ["Café froid"]
    other = get(mock, f"/jobs/{untranslated}").json()["result"]["post_id"]
    only_own = get(mock, f"/blog-posts/{other}/translations").json()["data"]
    assert [t["lang"] for t in only_own] == ["en"]


def test_translate_to_all_fires_blog_post_translated_per_language(mock: Mock) -> None:
    """The webhooks page: `blog_post.translated` — "A post translation finishes (per
    language)"; it fires after the post's `blog_post.published`, the post named by id (and
    not at all for a post without `translate_to_all`)."""
    with Receiver([]) as receiver:
        register(mock, receiver.url, ["blog_post.published", "blog_post.translated"])
        job_id = _ai_post(mock, translate=True)
        mock.advance(99)
        assert receiver.received == []
        mock.advance(1)
        _ai_post(mock, translate=False)
        mock.advance(100)
        events = [json.loads(body) for _, body in receiver.received]
    assert [(e["type"], e["data"].get("lang")) for e in events] == [
        ("blog_post.published", None),
        ("blog_post.translated", "fr"),
        ("blog_post.translated", "de"),
        ("blog_post.translated", "es"),
        ("blog_post.published", None),
    ]
    published, *translated, _ = events
    post_id = published["data"]["blog_post"]["id"]
    langs = [t["lang"] for t in published["data"]["blog_post"]["translations"]]
    assert langs == ["en", "de", "es", "fr"]
    for event in translated:
        assert event["data"]["blog_post"] == {"id": post_id}
        assert event["data"]["job"]["id"] == job_id
        assert event["created_at"] == published["created_at"] == "2026-01-01T00:01:40Z"


# --- credits: registering an image costs one ------------------------------------------------


def test_an_upload_out_of_credits_is_a_402_and_registers_nothing(mock: Mock) -> None:
    """The pricing page: "every credit-consuming operation returns 402 out_of_credits";
    "Image register (URL swap or multipart upload) | 1"."""
    refused = mock.client.post(
        BASE + "/images",
        headers=headers(mock, **OUT_OF_CREDITS),
        files={"file": ("hero.gif", gif(1, 1))},
        data={"key": "hero"},
    )
    assert problem(refused, 402, "out_of_credits")["title"] == "Out of credits"
    problem(get(mock, "/images/hero"), 404, "not_found")
    bad_file = mock.client.post(
        BASE + "/images",
        headers=headers(mock, **OUT_OF_CREDITS),
        files={"file": ("hero.gif", b"plain text")},
        data={"key": "hero"},
    )
    problem(bad_file, 422, "validation_failed")  # no image: nothing to charge for
    # replacing by upload costs nothing (the replace page: "Costs 0 credits")
    assert upload(mock, gif(1, 1), key="hero").status_code == 201
    replaced = mock.client.put(
        BASE + "/images/hero",
        headers=headers(mock, **OUT_OF_CREDITS),
        files={"file": ("hero.gif", gif(2, 2))},
    )
    assert replaced.status_code == 200, replaced.text


def test_a_url_registered_out_of_credits_is_a_402_and_keeps_the_old_image(mock: Mock) -> None:
    url = {"url": "https://images.example.com/hero.jpg"}
    problem(put(mock, "/images/hero", url, **OUT_OF_CREDITS), 402, "out_of_credits")
    problem(get(mock, "/images/hero"), 404, "not_found")
    assert upload(mock, gif(1, 1), key="hero").status_code == 201
    problem(put(mock, "/images/hero", url, **OUT_OF_CREDITS), 402, "out_of_credits")
    assert get(mock, "/images/hero").json()["mime_type"] == "image/gif"


def test_a_queued_out_of_credits_refuses_an_upload_and_other_scenarios_wait_for_a_job(
    mock: Mock,
) -> None:
    def queue(outcome: str) -> None:
        body = {"api": "neuraldraft", "outcome": outcome, "tenant": f"ndsk_test_{mock.key}"}
        assert mock.client.post("/__mock__/scenarios", json=body).status_code == 201

    queue("out_of_credits")
    problem(upload(mock, gif(1, 1), key="a"), 402, "out_of_credits")
    assert upload(mock, gif(1, 1), key="a").status_code == 201  # the refusal is used up
    queue("failed")
    assert put(mock, "/images/b", {"url": "https://x.io/b.png"}).status_code == 201
    created = post(mock, "/images", {"prompt": "x"})  # the queued failure is the job's
    mock.advance(60)
    assert get(mock, f"/jobs/{created.json()['id']}").json()["status"] == "failed"


def test_a_window_kept_by_an_older_version_counts_its_requests_as_gone(
    limited: Mock, real_time: list[float]
) -> None:
    """A persisted store may hold a window as request times alone (the format before real
    time was kept): it is read as empty, not a crash on every request of its key."""
    assert get(limited, "/webhook-endpoints").status_code == 200
    (entry,) = limited.state.journal.entries()
    window = guards._window("neuraldraft", entry.tenant)
    limited.state.backend.set(window, [float(START)] * 3)
    answer = get(limited, "/webhook-endpoints")
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-remaining"] == "2"


@pytest.mark.parametrize("url", ["http://", "http://hooks.example.com:99999", "ftp://x.io/h"])
def test_a_webhook_url_no_delivery_could_reach_is_refused_in_words(mock: Mock, url: str) -> None:
    """The refusal quoted the URL pattern, a 150-character regex, as its message."""
    answer = post(mock, "/webhook-endpoints", {"url": url, "events": ["image.generated"]})
    body = problem(answer, 422, "validation_failed")
    assert body["errors"] == {
        "url": [
            "must be an absolute http or https URL with a host, and a port from 1 to 65535 if "
            "one is given"
        ]
    }
