"""Neural Draft: what outlasts a job, and what a reset or an idle key leaves behind.

A post, its translations and a generated social post are the key's content: they stay when
the store evicts the jobs that made them (`store_capacity`), as an uploaded image does. A
rate window whose requests have all left is forgotten by the next request past a sweep's
time, whichever key makes it. A reset cuts short the webhook attempts under way, for the
endpoints and deliveries it forgot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from mockserver.apis.neuraldraft.guards import RateLimiter
from mockserver.stores import MemoryStore, StateStore, key
from tests.conftest import Mock, make_mock
from tests.encoding_store import EncodingStore, state_store
from tests.test_neuraldraft import BASE, create, job
from tests.test_neuraldraft_webhook_delivery import (
    WAIT,
    hanging,
    hooked,
    in_background,
    only_delivery,
    release,
    tenant,
    webhooks,
)
from tests.webhook_receiver import Receiver

__all__ = ["release", "state_store"]  # fixtures: the tests on `small` run on memory and encoded

OTHER = "another-key"  # the key whose Neural Analog imports fill the store
LANGUAGES = ["de", "en", "es", "fr", "it"]  # the post's own, `translate_to_all`'s, one asked


@pytest.fixture
def small(state_store: StateStore | None) -> Iterator[Mock]:
    """A server whose store keeps 5 jobs: 16 of another key's evict every job before them."""
    with contextmanager(make_mock)(state_store, store_capacity=5) as mock:
        yield mock


def get(mock: Mock, path: str) -> Any:
    return mock.client.get(BASE + path, headers=mock.headers("neuraldraft"))


def evict_every_job(mock: Mock) -> None:
    """16 Neural Analog imports of another key, each done within 30 s (the finding's
    steps): the store keeps none of Neural Draft's jobs after them."""
    headers = mock.headers("neuralanalog", key=OTHER)
    for made in range(16):
        imported = mock.client.post(
            "/neuralanalog/from-link", headers=headers, json={"url": "https://x/a.wav"}
        )
        assert imported.status_code == 200, imported.text
        if made % 8 == 7:
            mock.advance(30)
    assert mock.state.store.count(tenant(mock.key)) == 0


def languages(mock: Mock, post_id: int) -> list[str]:
    listed = get(mock, f"/blog-posts/{post_id}/translations")
    assert listed.status_code == 200, listed.text
    return sorted(translation["lang"] for translation in listed.json()["data"])


# --- content outlasts the jobs that made it ---------------------------------------------------


def test_a_post_and_its_translations_stay_when_their_jobs_are_evicted(small: Mock) -> None:
    """The post of an evicted job was a 404, the key's posts empty, and so were the languages
    its jobs had landed. The translation job here is never read before it is evicted."""
    body = {"type": "ai", "topic": "cold brew", "translate_to_all": True}
    writing = create(small, "/blog-posts", body).json()["id"]
    small.advance(2_000)
    post_id = job(small, writing)["result"]["post_id"]
    translating = create(small, f"/blog-posts/{post_id}/translate", {"target_langs": ["it"]})
    assert translating.status_code == 202, translating.text
    small.advance(100)
    evict_every_job(small)
    assert get(small, f"/jobs/{writing}").status_code == 404
    listed = get(small, "/blog-posts").json()["data"]
    assert [post["id"] for post in listed] == [post_id]
    assert sorted(t["lang"] for t in listed[0]["translations"]) == LANGUAGES
    shown = get(small, f"/blog-posts/{post_id}").json()["data"]
    assert shown == listed[0] and shown["status"] == "published"
    assert languages(small, post_id) == LANGUAGES
    again = create(small, f"/blog-posts/{post_id}/translate", {"target_langs": ["ja"]})
    assert again.status_code == 202, again.text
    assert small.client.post("/__mock__/reset").status_code == 200  # a reset clears it all
    assert get(small, f"/blog-posts/{post_id}").status_code == 404
    assert get(small, "/blog-posts").json()["data"] == []


@pytest.mark.parametrize(
    ("scenario", "reads", "landed"),
    [
        ("cancelled; after=45", 0, ["en", "it", "ja"]),  # two of three languages in
        ("completed; mode=poll", 4, ["en", "it", "ja", "ko"]),  # queue, then one per read
    ],
)
def test_an_evicted_translation_leaves_the_languages_it_landed(
    small: Mock, scenario: str, reads: int, landed: list[str]
) -> None:
    """A job cut short by its scenario, or moved by status reads, lands what it landed then."""
    post = create(small, "/blog-posts", {"title": "Tea", "status": "published"}).json()["data"]
    body = {"target_langs": ["it", "ja", "ko"]}
    headers = {"X-Mock-Scenario": scenario}
    translating = create(small, f"/blog-posts/{post['id']}/translate", body, **headers)
    for _ in range(reads):
        job(small, translating.json()["id"])
    small.advance(100)
    assert languages(small, post["id"]) == landed
    evict_every_job(small)
    assert languages(small, post["id"]) == landed


def test_a_cancel_settles_what_the_translation_landed_before_it(small: Mock) -> None:
    """Settled at its create as landing all three, the job cancelled after one lands one."""
    post = create(small, "/blog-posts", {"title": "Tea", "status": "published"}).json()["data"]
    body = {"target_langs": ["it", "ja", "ko"]}
    translation = create(small, f"/blog-posts/{post['id']}/translate", body).json()["id"]
    small.advance(30)  # `it` landed (2 s queued, 20 s a language)
    cancel = small.client.post(
        f"{BASE}/jobs/{translation}/cancel", headers=small.headers("neuraldraft")
    )
    assert cancel.status_code == 200, cancel.text
    small.advance(100)
    evict_every_job(small)
    assert languages(small, post["id"]) == ["en", "it"]


@pytest.mark.parametrize(("scenario", "status"), [("completed", "published"), ("failed", "failed")])
def test_a_generated_social_post_stays_when_its_job_is_evicted(
    small: Mock, scenario: str, status: str
) -> None:
    """It was a 404 once its job was gone."""
    body = {"type": "social_post.generate", "topic": "Tea"}
    assert create(small, "/jobs", body, **{"X-Mock-Scenario": scenario}).status_code == 202
    small.advance(100)
    social_id = 1  # the key's first (a failed job's answer shows no `result` to name it)
    before = get(small, f"/social-posts/{social_id}").json()["data"]
    evict_every_job(small)
    after = get(small, f"/social-posts/{social_id}")
    assert after.status_code == 200, after.text
    assert after.json()["data"] == before and before["status"] == status


def test_an_admin_transition_settles_a_social_post_anew(small: Mock) -> None:
    """Settled as published at its create, the post of a job forced to fail fails."""
    handle = create(small, "/jobs", {"type": "social_post.generate", "topic": "Tea"}).json()
    forced = small.client.post(
        f"/__mock__/jobs/{handle['job_id']}/transition", json={"outcome": "failed"}
    )
    assert forced.status_code == 200, forced.text
    evict_every_job(small)
    assert get(small, "/social-posts/1").json()["data"]["status"] == "failed"


# --- rate windows -----------------------------------------------------------------------------


@pytest.mark.parametrize("store", [MemoryStore, EncodingStore])
def test_idle_rate_windows_go_with_the_next_request_of_any_key(store: type[StateStore]) -> None:
    """3,000 one-off keys left 3,000 windows until a reset: only past 10,000 did a new key
    forget two of them."""
    kept = store()
    limiter = RateLimiter(60, False, kept, "neuraldraft")
    once = [f"ndsk_test_once-{number}" for number in range(3_000)]
    busy, late = "ndsk_test_busy", "ndsk_test_late"
    for tenant_key in once:
        limiter.hit(tenant_key, 0.0)
    limiter.hit(busy, 3_590.0)
    limiter.hit(late, 3_600.0)  # an hour on: the one-off keys are idle

    def held() -> list[str]:
        names = [*once, busy, late]
        found = kept.get_many([key(name, "neuraldraft", "rate") for name in names])
        return [name for name, window in zip(names, found, strict=True) if window]

    assert held() == [busy, late]
    assert limiter.hit(busy, 3_600.5).remaining == 58  # a window in use keeps its count
    assert limiter.hit(once[0], 3_600.5).remaining == 59  # a key back makes a new window
    limiter.hit(late, 3_700.0)
    assert held() == [late]  # the one made anew is forgotten in turn


# --- a reset and the webhook attempts under way -------------------------------------------------


def test_a_reset_cuts_short_the_attempts_under_way(mock: Mock, release: threading.Event) -> None:
    """A clock move waited for the attempts to the endpoints a reset had forgotten: 30 s an
    attempt to a receiver that hangs, whoever reset."""
    with Receiver([], respond=hanging(release)) as slow:
        hooked(mock.client, mock.key, slow.url)
        moving = in_background(lambda: mock.advance(8 * 3600))
        assert slow.arrived.wait(WAIT)
        delivery = only_delivery(webhooks(mock), mock.key)
        assert mock.client.post("/__mock__/reset").status_code == 200
        moving.join(WAIT)
        assert not moving.is_alive()
        release.set()
        dispatcher, owner = webhooks(mock), tenant(mock.key)
        assert dispatcher.deliveries(owner) == [] and dispatcher.endpoints(owner) == []
        attempts = [
            key(owner, "neuraldraft", "delivery", delivery.id, "attempt", str(n))
            for n in range(1, 7)
        ]
        assert dispatcher.delivery(owner, delivery.id) is None
        assert mock.state.backend.get_many(attempts) == [None] * 6
        assert len(slow.received) == 1
