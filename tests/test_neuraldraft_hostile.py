"""Neural Draft against a hostile client: post ids in other scripts' digits, a megabyte topic
copied into every text and language, a 401 without its challenge, a repeated
Idempotency-Key.

Every response is checked against `contracts/neuraldraft.yaml` by the `mock` fixture.
"""

from __future__ import annotations

from itertools import product
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mockserver.apis.neuraldraft.models import SUMMARY_CHARS, TITLE_CHARS
from mockserver.apis.neuraldraft.posts import QUOTED
from tests.conftest import Mock, make_mock

BASE = "/neuraldraft/v1"
LONG = "cold brew " * 10_000  # 100 KB: within the body limit, no headline's length
LANGUAGES = ["".join(pair) for pair in product("abcdfghijk", "klmno")]  # 50, not `en`


def headers(mock: Mock, **extra: str) -> dict[str, str]:
    return mock.headers("neuraldraft", **extra)


def post(mock: Mock, path: str, body: Any) -> httpx.Response:
    return mock.client.post(BASE + path, headers=headers(mock), json=body)


def get(mock: Mock, path: str) -> httpx.Response:
    return mock.client.get(BASE + path, headers=headers(mock))


def problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


# --- a post id is ASCII digits ---------------------------------------------------------------


@pytest.mark.parametrize("sent", ["²", "①", "٤", "１", "4²"])
def test_a_post_id_in_other_digits_is_an_unknown_post(mock: Mock, sent: str) -> None:
    """`int` refuses `²` and `①` (a 500 once) and reads `٤` as 4 and `１` as 1 (another
    post's address): only ASCII digits are an id, the rest a 404 as an unknown post gets."""
    for number in range(4):  # posts 1 to 4 of each kind: a digit read as one would find it
        assert post(mock, "/blog-posts", {"title": f"Post {number}"}).status_code == 201
        social = {"title": f"Post {number}", "platforms": ["twitter"]}
        assert post(mock, "/social-posts", social).status_code == 201
    for path, what in (("/blog-posts/", "Blog post"), ("/social-posts/", "Social post")):
        refused = problem(get(mock, path + quote(sent)), 404, "not_found")
        assert refused["detail"] == f"{what} {sent} not found."
    assert get(mock, "/blog-posts/4").status_code == 200


# --- generated text is bounded, whatever the client sends --------------------------------------


def completed(mock: Mock, job: httpx.Response) -> dict[str, Any]:
    assert job.status_code == 202, job.text
    mock.advance(3_600)
    body: dict[str, Any] = get(mock, f"/jobs/{job.json()['id']}").json()
    assert body["status"] == "completed"
    return body


def within_bounds(text: dict[str, Any], tag: str = "") -> None:
    """Each text of a post or a translation quotes at most its bound (after its `[fr] `)."""
    for name, bound in QUOTED.items():
        assert text[name] is None or len(text[name]) <= len(tag) + bound, (name, tag)


def test_a_long_topic_and_its_translations_are_bounded(mock: Mock) -> None:
    """A 100 KB topic was copied into six texts, then again into every language a
    translation landed: 50 languages made a post of some 60 MB, and the serving worker held
    every other key's requests up while it wrote it."""
    job = completed(mock, post(mock, "/blog-posts", {"type": "ai", "topic": LONG}))
    title, post_id = job["result"]["title"], job["result"]["post_id"]
    assert len(title) == TITLE_CHARS and title.startswith("Cold Brew Cold") and title[-1] == "…"
    completed(mock, post(mock, f"/blog-posts/{post_id}/translate", {"target_langs": LANGUAGES}))
    answer = get(mock, f"/blog-posts/{post_id}")
    data = answer.json()["data"]
    assert (data["title"], data["meta_title"]) == (title, title)
    assert len(data["excerpt"]) == len(data["meta_description"]) == SUMMARY_CHARS
    assert data["excerpt"] == LONG[: SUMMARY_CHARS - 1].rstrip() + "…"
    assert data["content"].startswith(f"<h1>{title}</h1>\n<p>cold brew cold")
    within_bounds(data)
    own, *translated = data["translations"]
    assert [t["lang"] for t in translated] == sorted(LANGUAGES)
    assert own == {"lang": "en", **{name: data[name] for name in QUOTED}}
    for translation in translated:
        tag = f"[{translation['lang']}] "
        assert translation == {"lang": translation["lang"]} | {
            name: tag + data[name]
            for name in QUOTED  # a generated post's texts fit whole
        }
    per_language = sum(QUOTED.values()) + 5 * len("[ab] ") + 200  # and the JSON around it
    assert len(answer.content) < (1 + len(translated)) * per_language


def test_a_short_topic_is_quoted_whole(mock: Mock) -> None:
    """Up to the bound of each text the topic shows whole, as it always did: a topic of a
    meta description's length (160) is the excerpt, and cut in the headline (100)."""
    topic = "x" * SUMMARY_CHARS
    post_id = completed(mock, post(mock, "/blog-posts", {"type": "ai", "topic": topic}))
    data = get(mock, f"/blog-posts/{post_id['result']['post_id']}").json()["data"]
    assert (data["excerpt"], data["meta_description"]) == (topic, topic)
    assert data["title"] == "X" + "x" * (TITLE_CHARS - 2) + "…"
    assert data["content"] == f"<h1>{data['title']}</h1>\n<p>{topic}</p>"


def test_a_long_manual_post_is_translated_in_bounded_texts(mock: Mock) -> None:
    """A manual post keeps the texts sent; a translation job quotes each up to its bound,
    not a copy of a megabyte per language."""
    sent = {"title": LONG, "content": LONG, "excerpt": LONG, "meta_description": LONG}
    created = post(mock, "/blog-posts", sent)
    assert created.status_code == 201, created.text
    post_id = created.json()["data"]["id"]
    completed(mock, post(mock, f"/blog-posts/{post_id}/translate", {"target_langs": ["fr"]}))
    own, french = get(mock, f"/blog-posts/{post_id}/translations").json()["data"]
    assert own["content"] == LONG
    within_bounds(french, "[fr] ")
    assert french["meta_title"] is None
    assert french["content"] == "[fr] " + LONG[: QUOTED["content"] - 1].rstrip() + "…"


def test_a_generated_social_post_and_content_plan_have_bounded_titles(mock: Mock) -> None:
    """A custom title was the post's title, its result's and each platform's copy."""
    platforms = ["facebook", "instagram", "twitter", "tiktok", "linkedin"]
    body = {"type": "social_post.generate", "custom_title": LONG, "platforms": platforms}
    job = mock.client.post(f"{BASE}/jobs", headers=headers(mock), json=body).json()
    mock.advance(3_600)
    result = get(mock, f"/jobs/{job['job_id']}").json()["result"]
    assert result["title"] == LONG[: TITLE_CHARS - 1].rstrip() + "…"
    social = get(mock, f"/social-posts/{result['social_post_id']}").json()["data"]
    assert social["title"] == result["title"]
    assert social["content"] == {name: f"{result['title']} #{name}" for name in platforms}
    # about a blog post of the key: the post's title as a headline
    manual = post(mock, "/blog-posts", {"title": LONG}).json()["data"]
    about = post(mock, "/social-posts", {"ai": {"post_id": manual["id"]}})
    mock.advance(3_600)
    result = get(mock, f"/jobs/{about.json()['id']}").json()["result"]
    assert len(result["title"]) == TITLE_CHARS and result["title"].startswith("Cold Brew")
    plan = {"type": "content_plan.generate", "topic": LONG}
    job = mock.client.post(f"{BASE}/jobs", headers=headers(mock), json=plan).json()
    mock.advance(3_600)
    assert len(get(mock, f"/jobs/{job['job_id']}").json()["result"]["title"]) == TITLE_CHARS


# --- every 401 names its scheme --------------------------------------------------------------


@pytest.fixture
def revoking() -> Any:
    yield from make_mock(keys={"ndsk_test_revoked": {"status": 401}})


def test_every_401_says_www_authenticate_bearer(revoking: Mock) -> None:
    """RFC 7235 §3.1: a 401 carries `WWW-Authenticate`; only a malformed key's did."""
    for sent in [
        {},  # no key: the base class's 401
        {"Authorization": "Bearer ndsk_test_revoked"},  # refused by the config
        {"Authorization": "Bearer ndsk_test_" + "k" * 5_000},  # longer than any key
        {"Authorization": "Bearer sk_live_other"},  # not a Neural Draft key
    ]:
        answer = revoking.client.get(f"{BASE}/jobs/job_x", headers=sent)
        problem(answer, 401, "unauthorized")
        assert answer.headers.get_list("www-authenticate") == ["Bearer"], str(sent)[:60]


# --- a repeated Idempotency-Key --------------------------------------------------------------


def test_a_repeated_idempotency_key_is_a_400(mock: Mock) -> None:
    """Two keys on one request are a client's bug: the first used and the second dropped,
    a retry sent with the second alone ran anew."""
    sent = [*headers(mock).items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    answer = mock.client.post(f"{BASE}/images", headers=sent, json={"prompt": "x"})
    refused = problem(answer, 400, "bad_request")
    assert refused["detail"] == (
        "Idempotency-Key: the header is given twice ('a' and 'b'): give it once"
    )
    assert "x-ratelimit-remaining" in answer.headers  # counted, as every keyed answer
    first = mock.client.post(
        f"{BASE}/images", headers=headers(mock, **{"Idempotency-Key": "a"}), json={"prompt": "x"}
    )
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
