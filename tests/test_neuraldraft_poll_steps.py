"""Neural Draft per poll (`mode=poll`): the steps a request switched off complete at once,
as on the clock, and `after=` has no say in where a failing or cancelled job stops; a
failed or cancelled job never shows every step done.

Every response is checked against `contracts/neuraldraft.yaml` by the `mock` fixture.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Mock
from tests.encoding_store import state_store

__all__ = ["state_store"]  # the fixture: the tests on `mock` run on memory and encoded

BASE = "/neuraldraft/v1"
TOPIC = {"type": "ai", "topic": "Cold brew at home"}
SWITCHED_OFF = {  # the blog inputs that switch steps off, and the steps they switch off
    "no research": ({"enable_research": False}, {"research", "translate"}),
    "research, no translation": ({}, {"translate"}),
    "translation, no research": (
        {"enable_research": False, "translate_to_all": True},
        {"research"},
    ),
}


def create(mock: Mock, path: str, body: dict[str, Any], scenario: str) -> str:
    headers = mock.headers("neuraldraft", **{"X-Mock-Scenario": scenario})
    answer = mock.client.post(BASE + path, headers=headers, json=body)
    assert answer.status_code == 202, answer.text
    created: dict[str, Any] = answer.json()
    return str(created.get("data", created)["id"])


def read(mock: Mock, job_id: str) -> dict[str, Any]:
    answer = mock.client.get(f"{BASE}/jobs/{job_id}", headers=mock.headers("neuraldraft"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def steps(body: dict[str, Any]) -> tuple[tuple[str, bool, bool], ...]:
    return tuple((step["name"], step["completed"], step["active"]) for step in body["steps"])


def walk(mock: Mock, job_id: str, seconds: float) -> list[dict[str, Any]]:
    """The job read until it has ended, the clock moved `seconds` after each read."""
    seen = [read(mock, job_id)]
    while seen[-1]["status"] in ("pending", "processing"):
        mock.advance(seconds)
        seen.append(read(mock, job_id))
    return seen


@pytest.mark.parametrize("name", SWITCHED_OFF)
def test_per_poll_a_switched_off_step_completes_at_once_as_on_the_clock(
    mock: Mock, name: str
) -> None:
    inputs, off = SWITCHED_OFF[name]
    body = {**TOPIC, **inputs}
    timed = walk(mock, create(mock, "/blog-posts", body, "completed"), 1.0)
    polled = walk(mock, create(mock, "/blog-posts", body, "completed; mode=poll"), 0.0)
    # each read moves one step on, through the steps as the clock shows them after the queue
    worked = [(r["message"], steps(r)) for r in timed if r["status"] != "pending"]
    assert [(r["message"], steps(r)) for r in polled] == list(dict.fromkeys(worked))
    shown = [step for r in polled for step in steps(r)]
    assert not [step for step in shown if step[0] in off and step[2]]


def test_a_cancel_per_poll_keeps_a_switched_off_step_completed(mock: Mock) -> None:
    job_id = create(
        mock, "/blog-posts", {**TOPIC, "enable_research": False}, "completed; mode=poll"
    )
    first = read(mock, job_id)
    assert first["message"] == "Writing the post"
    assert steps(first)[:2] == (("research", True, False), ("write", False, True))
    cancel = f"{BASE}/jobs/{job_id}/cancel"
    cancelled = mock.client.post(cancel, headers=mock.headers("neuraldraft")).json()
    assert cancelled["status"] == "cancelled"
    assert [completed for _, completed, _ in steps(cancelled)] == [True] + [False] * 4
    assert steps(read(mock, job_id)) == steps(cancelled)


def test_a_cancel_on_the_clock_where_a_switched_off_step_ends_keeps_it_completed(
    mock: Mock,
) -> None:
    """`after=255`: the queue is 2 s and the research step, switched off, ends with it."""
    job_id = create(
        mock, "/blog-posts", {**TOPIC, "enable_research": False}, "completed; after=255"
    )
    mock.advance(2)
    assert steps(read(mock, job_id))[0] == ("research", True, False)
    cancel = f"{BASE}/jobs/{job_id}/cancel"
    cancelled = mock.client.post(cancel, headers=mock.headers("neuraldraft")).json()
    assert [completed for _, completed, _ in steps(cancelled)] == [True] + [False] * 4


JOBS = {  # path, body
    "image": ("/images", {"prompt": "A cup of coffee"}),
    "blog": ("/blog-posts", TOPIC),
    "blog, no research": ("/blog-posts", {**TOPIC, "enable_research": False}),
    "translation": ("/content/home/translate", {"target_langs": ["de", "fr"]}),
}


def ended(mock: Mock, path: str, body: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    """Every read of a per-poll job, to two reads past its end, without `id` and
    `created_at`: what tells two jobs apart."""
    job_id = create(mock, path, body, scenario)
    seen = walk(mock, job_id, 0.0)
    seen += [read(mock, job_id), read(mock, job_id)]
    return [{k: v for k, v in r.items() if k not in ("id", "created_at")} for r in seen]


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
@pytest.mark.parametrize("job", JOBS)
def test_per_poll_a_job_stops_part_of_the_way(mock: Mock, outcome: str, job: str) -> None:
    path, body = JOBS[job]
    last = ended(mock, path, body, f"{outcome}; mode=poll")[-1]
    assert last["status"] == outcome and last["progress"] < 99
    assert not all(completed for _, completed, _ in steps(last))


@pytest.mark.parametrize("after", ["0", "10"])
def test_after_with_mode_poll_is_refused(mock: Mock, after: str) -> None:
    """Seconds have no say per poll: `failed; mode=poll; after=10` ended at 99 % with every
    step done, and ignored, `after=` would change nothing the test could see."""
    headers = mock.headers(
        "neuraldraft", **{"X-Mock-Scenario": f"failed; mode=poll; after={after}"}
    )
    answer = mock.client.post(f"{BASE}/images", headers=headers, json={"prompt": "A cup"})
    assert answer.status_code == 400, answer.text
    assert "options after= and mode=poll conflict" in answer.json()["detail"]


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
@pytest.mark.parametrize(
    ("path", "body", "usual"),
    [
        ("/images", {"prompt": "A cup of coffee"}, 40),
        ("/videos", {"prompt": "A cup of coffee"}, 120),
        ("/blog-posts", TOPIC, 315),
    ],
)
def test_on_the_clock_after_the_usual_length_never_ends_with_every_step_done(
    mock: Mock, outcome: str, path: str, body: dict[str, Any], usual: float
) -> None:
    """`after=` as long as the job usually lasts is honoured as a longer one is: the steps
    stretched, the job stops as far through them as by default."""
    job_id = create(mock, path, body, f"{outcome}; after={usual}")
    mock.advance(usual - 1)
    assert read(mock, job_id)["status"] == "processing"
    mock.advance(1)
    last = read(mock, job_id)
    assert last["status"] == outcome and last["progress"] < 99
    assert not all(completed for _, completed, _ in steps(last))
