"""Neural Draft: what a job leaves behind once the store has evicted it.

The store keeps 5 jobs (`store_capacity`); another key's flood of cancelled images evicts the
ended jobs before them. The webhook events a job had triggered are still delivered, a
generated image keeps its link, and a tag a kept post carries keeps its one id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from mockserver.stores import StateStore
from tests.conftest import Mock, make_mock
from tests.encoding_store import state_store
from tests.test_neuraldraft import BASE, create, job, register

__all__ = ["state_store"]  # fixture: each test runs on memory and on a shared store's encoding

OTHER = "another-key"  # the key whose cancelled images flood the store
POLLED = {"X-Mock-Scenario": "completed; mode=poll"}


@pytest.fixture
def small(state_store: StateStore | None) -> Iterator[Mock]:
    with contextmanager(make_mock)(state_store, store_capacity=5) as mock:
        yield mock


def get(mock: Mock, path: str) -> Any:
    answer = mock.client.get(BASE + path, headers=mock.headers("neuraldraft"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def flood(mock: Mock, images: int = 7) -> None:
    """Another key creates and cancels `images` images: ended jobs, evicting older ones."""
    headers = mock.headers("neuraldraft", key=OTHER)
    for _ in range(images):
        made = mock.client.post(f"{BASE}/images", headers=headers, json={"prompt": "x"})
        assert made.status_code == 202, made.text
        cancelled = mock.client.post(f"{BASE}/jobs/{made.json()['id']}/cancel", headers=headers)
        assert cancelled.status_code == 200, cancelled.text


def read_until_done(mock: Mock, job_id: str) -> None:
    for _ in range(10):
        if job(mock, job_id)["status"] == "completed":
            return
    raise AssertionError(f"{job_id} never completed")


# --- webhook events ---------------------------------------------------------------------------


def test_the_events_of_a_job_ended_by_its_last_read_survive_its_eviction(small: Mock) -> None:
    """A per-poll job ends on a status read, between clock moves: its events were made at the
    next move's tick, from the jobs still stored, and a flood before it lost them all."""
    register(small, "http://127.0.0.1:9/", ["blog_post.translated", "social_post.published"])
    post = create(small, "/blog-posts", {"title": "Tea", "status": "published"}).json()["data"]
    body = {"target_langs": ["ja", "ko"]}
    translating = create(small, f"/blog-posts/{post['id']}/translate", body, **POLLED)
    read_until_done(small, translating.json()["id"])
    social = create(small, "/social-posts", {"ai": {"topic": "launch"}}, **POLLED)
    read_until_done(small, social.json()["id"])
    flood(small)
    gone = small.client.get(
        f"{BASE}/jobs/{social.json()['id']}", headers=small.headers("neuraldraft")
    )
    assert gone.status_code == 404, gone.text
    small.advance(0)
    events = sorted(d["event"] for d in get(small, "/webhook-deliveries")["data"])
    assert events == ["blog_post.translated"] * 2 + ["social_post.published"]


def test_a_cancelled_translation_keeps_the_events_of_the_languages_it_landed(
    small: Mock,
) -> None:
    """A cancel ends a job between clock moves too: the languages it landed on its last read
    were delivered only if no flood came before the next move."""
    register(small, "http://127.0.0.1:9/", ["content.changed"])
    body = {"target_langs": ["ja", "ko", "it"]}
    translating = create(small, "/content/home.hero/translate", body, **POLLED).json()["id"]
    for _ in range(3):  # the queue, then one language per read
        job(small, translating)
    cancel = f"{BASE}/jobs/{translating}/cancel"
    assert small.client.post(cancel, headers=small.headers("neuraldraft")).status_code == 200
    flood(small)
    small.advance(0)
    events = [d["event"] for d in get(small, "/webhook-deliveries")["data"]]
    assert events == ["content.changed"] * 2


# --- a generated image ------------------------------------------------------------------------


def test_a_generated_image_keeps_its_jobs_link_once_the_job_is_evicted(small: Mock) -> None:
    """Its `url` became `https://cdn.neuraldraft.io/gone`, documented nowhere. It stays the
    job's signed link, which answers 404 `NoSuchKey` as any evicted job's file link does."""
    made = create(small, "/images", {"prompt": "hero", "key": "hero.main"}).json()["id"]
    small.advance(60)
    link = get(small, "/images/hero.main")["url"]
    assert link.split("?")[0].endswith(f"/__mock__/files/{made}/image.png")
    assert small.client.get(link).status_code == 200
    flood(small, 8)
    image = get(small, "/images/hero.main")
    assert image["url"].split("?")[0] == link.split("?")[0] and image["generated"] is True
    assert image["width"] == 1920 and image["mime_type"] == "image/png"
    gone = small.client.get(image["url"])
    assert gone.status_code == 404 and gone.json()["error"] == "NoSuchKey"


# --- tags ---------------------------------------------------------------------------------------


def tags_of(answer: Any) -> list[tuple[int, str]]:
    assert answer.status_code == 201, answer.text
    return [(tag["id"], tag["name"]) for tag in answer.json()["data"]["tags"]]


def listed_tags(mock: Mock) -> dict[str, int]:
    return {tag["name"]: tag["id"] for tag in get(mock, "/tags")["data"]}


def test_a_tag_a_kept_post_carries_keeps_its_one_id(small: Mock) -> None:
    """Five posts tagged `shared` and one tag of their own each: the sixth tag evicted
    `shared`, which every post still showed as id 1; `GET /tags` lost it, `tags: [1]` was a
    422, and the name `shared` made a second tag, id 7."""
    for number in range(1, 6):
        body = {"title": f"P{number}", "content": "x", "tags": ["shared", f"t{number}"]}
        assert tags_of(create(small, "/blog-posts", body))[0] == (1, "shared")
    assert listed_tags(small) == {"shared": 1, **{f"t{n}": n + 1 for n in range(1, 6)}}
    by_id = create(small, "/blog-posts", {"title": "P6", "content": "x", "tags": [1]})
    assert tags_of(by_id) == [(1, "shared")]  # post 1 is evicted: `t1` no kept post carries
    by_name = create(small, "/blog-posts", {"title": "P7", "content": "x", "tags": ["shared"]})
    assert tags_of(by_name) == [(1, "shared")]
    fresh = create(small, "/blog-posts", {"title": "P8", "content": "x", "tags": ["new"]})
    assert tags_of(fresh) == [(7, "new")]
    assert "t1" not in listed_tags(small) and listed_tags(small)["shared"] == 1
