"""Neural Draft's shortcuts on the create path give what the plain way gives.

Each test builds the answer both ways (the shortcut and the general code it stands in for)
and compares them, on inputs where a careless shortcut would differ.
"""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.apis.neuraldraft.guards import Limits
from mockserver.apis.neuraldraft.models import STEP_SHAPES_KEPT, Progress, title_of
from mockserver.apis.neuraldraft.posts import BlogPost, Registry
from mockserver.engine.plan import Phase
from mockserver.stores import MemoryStore, key
from tests.conftest import Mock
from tests.encoding_store import state_store

__all__ = ["state_store"]  # the fixture: the tests on `mock` run on memory and encoded

ODD = ["tea", "a:b", "50%", "{x}", "*"]  # plain, and each character keys escape


@pytest.mark.parametrize("tenant", ODD)
@pytest.mark.parametrize("name", ODD)
def test_a_registry_keeps_names_and_suffixes_under_the_keys_key_makes(
    tenant: str, name: str
) -> None:
    store = MemoryStore()
    posts: Registry[BlogPost] = Registry(
        store, "neuraldraft", "blog-posts", 10, name_of=lambda post: post.slug
    )
    assert posts.claim(tenant, name)
    posts.add(tenant, lambda number: BlogPost(number, name, "Tea", "draft", 0.0))
    assert store.get(key(tenant, "neuraldraft", "blog-posts", "named", name)) == 1
    assert posts.named(tenant, name) == posts.get(tenant, 1)
    assert posts.next_suffix(tenant, name) == 2
    assert store.get(key(tenant, "neuraldraft", "blog-posts", "suffix", name)) == 1


# --- the Job body: its steps written straight from the phases --------------------------------

BASE = "/neuraldraft/v1"
BLOG = {"type": "ai", "topic": "How to brew cold brew at home"}


def _shown(body: dict[str, Any]) -> str:
    """A Job body in one line: status, progress, message, its steps (`c` completed, `a`
    active, `.` neither), when it changed, and its error code if any."""
    steps = "".join(
        "ca"[step["active"]] if step["completed"] or step["active"] else "."
        for step in body["steps"]
    )
    error = body.get("error", {}).get("code", "")
    shown = [body["status"], body["progress"], body["message"], steps, body["updated_at"], error]
    return " ".join(str(part) for part in shown)


def _walk(
    mock: Mock, path: str, body: dict[str, Any], scenario: str, moves: list[float]
) -> list[str]:
    """The Job of a create, then read after each move of the clock (a negative move: cancel)."""
    headers = mock.headers("neuraldraft", **{"X-Mock-Scenario": scenario})
    created = mock.client.post(BASE + path, headers=headers, json=body)
    assert created.status_code == 202, created.text
    seen, job_id = [_shown(created.json())], created.json()["id"]
    for seconds in moves:
        if seconds < 0:
            answer = mock.client.post(f"{BASE}/jobs/{job_id}/cancel", headers=headers)
        else:
            mock.advance(seconds)
            answer = mock.client.get(f"{BASE}/jobs/{job_id}", headers=headers)
        seen.append(_shown(answer.json()))
    return seen


TRANSLATION = {"target_langs": ["de", "fr", "ja"]}
WALKS = {  # name: (path, body, scenario, moves)
    "completes": ("/blog-posts", BLOG, "completed; after=100", [1, 29, 30, 39, 1, 400]),
    "steps off and on": (
        "/blog-posts",
        {**BLOG, "translate_to_all": True, "enable_research": False},
        "completed; after=100",
        [10, 40, 60],
    ),
    "fails": ("/blog-posts", BLOG, "failed; after=50; code=content_policy_violation", [49, 1, 9]),
    "fails at once": ("/blog-posts", BLOG, "failed; after=0", [1]),
    "cancelled": ("/blog-posts", BLOG, "completed; after=400", [150, -1, 1000]),
    "stalls": ("/blog-posts", BLOG, "stalled", [86_400]),
    "per poll": ("/blog-posts", BLOG, "completed; mode=poll", [0] * 7),
    "translates": ("/content/home/translate", TRANSLATION, "cancelled; after=30", [10, 20, 30]),
    "an image": ("/images", {"prompt": "x"}, "completed; after=10", [5, 5]),
}


# each Job as the plain code showed it (a Step object per step, then `as_dict`)
SHOWN = {
    "completes": [
        "pending 0 Queued ..... 2026-01-01T00:00:00Z ",
        "processing 0 Researching the topic a.... 2026-01-01T00:00:00Z ",
        "processing 29 Writing the post ca... 2026-01-01T00:00:19Z ",
        "processing 59 Writing the post ca... 2026-01-01T00:00:19Z ",
        "processing 98 Optimising for search cccca 2026-01-01T00:01:20Z ",
        "completed 100 Done ccccc 2026-01-01T00:01:40Z ",
        "completed 100 Done ccccc 2026-01-01T00:01:40Z ",
    ],
    "steps off and on": [
        "pending 0 Queued ..... 2026-01-01T00:00:00Z ",
        "processing 9 Writing the post ca... 2026-01-01T00:00:00Z ",
        "processing 49 Generating the cover image cca.. 2026-01-01T00:00:36Z ",
        "completed 100 Done ccccc 2026-01-01T00:01:40Z ",
    ],
    "fails": [
        "pending 0 Queued ..... 2026-01-01T00:00:00Z ",
        "processing 15 Researching the topic a.... 2026-01-01T00:00:02Z ",
        "failed 15 Generation failed ..... 2026-01-01T00:00:50Z content_policy_violation",
        "failed 15 Generation failed ..... 2026-01-01T00:00:50Z content_policy_violation",
    ],
    "fails at once": [
        "failed 0 Generation failed ..... 2026-01-01T00:00:00Z upstream_unavailable",
        "failed 0 Generation failed ..... 2026-01-01T00:00:00Z upstream_unavailable",
    ],
    "cancelled": [
        "pending 0 Queued ..... 2026-01-01T00:00:00Z ",
        "processing 37 Writing the post ca... 2026-01-01T00:01:18Z ",
        "cancelled 37 Cancelled c.... 2026-01-01T00:02:30Z ",
        "cancelled 37 Cancelled c.... 2026-01-01T00:02:30Z ",
    ],
    "stalls": [
        "pending 0 Queued ..... 2026-01-01T00:00:00Z ",
        "processing 99 Optimising for search cccca 2026-01-01T00:04:12Z ",
    ],
    "per poll": [
        "pending 0 Queued ..... 2026-01-01T00:00:00Z ",
        "processing 0 Researching the topic a.... 2026-01-01T00:00:00Z ",
        "processing 25 Writing the post ca... 2026-01-01T00:00:00Z ",
        "processing 50 Generating the cover image cca.. 2026-01-01T00:00:00Z ",
        "processing 75 Optimising for search cccca 2026-01-01T00:00:00Z ",  # no translation
        "completed 100 Done ccccc 2026-01-01T00:00:00Z ",
        "completed 100 Done ccccc 2026-01-01T00:00:00Z ",
        "completed 100 Done ccccc 2026-01-01T00:00:00Z ",
    ],
    "translates": [
        "pending 0 Queued ... 2026-01-01T00:00:00Z ",
        "processing 13 Translating to German a.. 2026-01-01T00:00:02Z ",
        "cancelled 46 Cancelled c.. 2026-01-01T00:00:30Z ",
        "cancelled 46 Cancelled c.. 2026-01-01T00:00:30Z ",
    ],
    "an image": [
        "pending 0 Queued .. 2026-01-01T00:00:00Z ",
        "processing 47 Generating the image a. 2026-01-01T00:00:00Z ",
        "completed 100 Done cc 2026-01-01T00:00:10Z ",
    ],
}


@pytest.mark.parametrize("name", WALKS)
def test_job_bodies_show_the_steps_as_before(mock: Mock, name: str) -> None:
    path, body, scenario, moves = WALKS[name]
    assert _walk(mock, path, body, scenario, moves) == SHOWN[name]


def test_step_dicts_are_made_once_per_timeline_and_position_and_stay_right() -> None:
    queue = Phase("pending", 2.0)
    mine = (queue, Phase("processing", 1.0, "write"), Phase("processing", 1.0, "seo"))
    alike = (queue, Phase("processing", 1.0, "write"), Phase("processing", 1.0, "seo"))
    other = (queue, Phase("processing", 1.0, "WRITE"), Phase("processing", 1.0, "SEO"))

    def steps(phases: tuple[Phase, ...], done: int, active: int) -> list[dict[str, Any]]:
        return Progress("processing", 0, "", phases, done, active, None, 0.0).step_dicts()

    first = steps(mine, 1, 1)
    assert first == [
        {"name": "write", "completed": True, "active": False},
        {"name": "seo", "completed": False, "active": True},
    ]
    assert steps(mine, 1, 1) is first  # kept for the next body at that position
    assert steps(alike, 1, 1) == first  # equal phases, another tuple: made for it
    assert [step["name"] for step in steps(other, 1, 1)] == ["WRITE", "SEO"]
    assert steps(mine, 2, -1) == [
        {"name": "write", "completed": True, "active": False},
        {"name": "seo", "completed": True, "active": False},
    ]
    for done in range(STEP_SHAPES_KEPT + 1):  # past the bound, what was kept is let go
        steps(mine, done, -1)
    again = steps(mine, 1, 1)
    assert again == first and again is not first


# --- a generated post: its fields from the topic ---------------------------------------------


@pytest.mark.parametrize("topic", ["How to brew cold brew at home", "  ünïcode  ß tea ", "!!!"])
def test_a_generated_post_is_made_from_its_topic(topic: str) -> None:
    title = title_of(topic)
    post = BlogPost.generated(7, "tea", topic, 1.5, "job_x")
    assert post == BlogPost(
        7,
        "tea",
        title,
        "published",
        1.5,
        content=f"<h1>{title}</h1>\n<p>{topic}</p>",
        excerpt=topic,
        meta_title=title,
        meta_description=topic,
        job_id="job_x",
    )
    other = BlogPost.generated(8, "tea-2", topic, 1.5, "job_y")
    other.tags.append("mine")
    assert post.tags == []  # each post its own list


# --- rate-limit headers: encoded once per distinct value --------------------------------------


def test_rate_limit_headers_are_encoded_as_the_answer_writes_them() -> None:
    seen = set()
    for limits in [Limits(60, 59, 1_767_225_660), Limits(60, 0, 1_767_225_661), Limits(3, 0, 9)]:
        encoded = limits.encoded()
        plain = tuple((k.lower().encode(), v.encode()) for k, v in limits.headers().items())
        assert encoded == plain and limits.encoded() is encoded  # made once
        assert isinstance(encoded, tuple)  # no caller can change what the next one gets
        seen.add(encoded)
    assert len(seen) == 3
    assert Limits(60, 59, 7).headers() == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "59",
        "X-RateLimit-Reset": "7",
    }
