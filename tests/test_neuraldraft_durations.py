"""Neural Draft: the default durations docs/neuraldraft.md states for `after=` are the ones
jobs take, read off the page and checked through HTTP on the manual clock.

Every response is checked against `contracts/neuraldraft.yaml` by the `mock` fixture.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import Mock

BASE = "/neuraldraft/v1"
PAGE = Path(__file__).parent.parent / "docs" / "neuraldraft.md"
DEFAULTS = re.compile(
    r"blog (\d+) s, (\d+) s with `translate_to_all: true`, (\d+) s less with "
    r"`enable_research: false`; image (\d+) s, social (\d+) s, video (\d+) s, translation "
    r"(\d+) s \+ (\d+) s per language"
)


def documented() -> dict[str, float]:
    """The page's default durations, by the request each is checked with below."""
    found = DEFAULTS.search(" ".join(PAGE.read_text().split()))
    assert found, "the `completed` row of docs/neuraldraft.md states no default durations"
    blog, translated, research, image, social, video, queue, per_language = map(
        float, found.groups()
    )
    return {
        "blog": blog,
        "blog, translated": translated,
        "blog, no research": blog - research,
        "image": image,
        "social": social,
        "video": video,
        "translation of 2": queue + 2 * per_language,
    }


REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "blog": ("/blog-posts", {"type": "ai", "topic": "Cold brew"}),
    "blog, translated": (
        "/blog-posts",
        {"type": "ai", "topic": "Cold brew", "translate_to_all": True},
    ),
    "blog, no research": (
        "/blog-posts",
        {"type": "ai", "topic": "Cold brew", "enable_research": False},
    ),
    "image": ("/images", {"prompt": "A cup of coffee"}),
    "social": ("/jobs", {"type": "social_post.generate", "custom_title": "Launch"}),
    "video": ("/videos", {"prompt": "Slow dolly through a sunlit studio"}),
    "translation of 2": ("/content/hero.title/translate", {"target_langs": ["fr", "de"]}),
}


def job_id(body: dict[str, Any]) -> str:
    """A create's job id, however its answer wraps it (`{data: Job}`, `{job_id}`, the Job)."""
    job = body.get("data", body)
    return str(job.get("job_id") or job["id"])


def status(mock: Mock, job: str) -> str:
    answer = mock.client.get(f"{BASE}/jobs/{job}", headers=mock.headers("neuraldraft"))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def test_each_kind_completes_after_the_documented_default(mock: Mock) -> None:
    """The page said blog 420 s: an AI post without `translate_to_all` took 315 s."""
    headers = mock.headers("neuraldraft")
    jobs = {}
    for name, (path, body) in REQUESTS.items():
        created = mock.client.post(BASE + path, headers=headers, json=body)
        assert created.status_code == 202, created.text
        jobs[name] = job_id(created.json())
    now = 0.0
    for seconds, name in sorted((seconds, name) for name, seconds in documented().items()):
        mock.advance(seconds - 0.5 - now)
        assert status(mock, jobs[name]) == "processing", name
        mock.advance(0.5)
        now = seconds
        assert status(mock, jobs[name]) == "completed", name
