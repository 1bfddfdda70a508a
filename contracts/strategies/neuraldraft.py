"""Neural Draft lifecycles: queued, worked, then ended (the contract's `x-lifecycle` names the
states: its first two running states, its end states with success first); steps finish in
order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from mockserver.contracts.lifecycle import lifecycle as contract_lifecycle
from mockserver.contracts.strategies.bodies import component, pin
from mockserver.contracts.strategies.timeline import Clock, ascending, delays, instants, live_polls

STATUS = "get_job"
STATUS_OPERATIONS = dict.fromkeys(
    (
        "blog_post.generate",
        "social_post.generate",
        "image.generate",
        "translation.batch",
        "content_plan.generate",
        "website.generate",
        "video.generate",
    ),
    STATUS,
)
ND_STEPS: dict[str, tuple[str, ...]] = {
    "blog_post.generate": ("research", "write", "image", "translate", "seo"),
    "social_post.generate": ("write", "media"),
    "image.generate": ("generate", "upload"),
    "content_plan.generate": ("research", "plan"),
    "website.generate": ("plan", "write", "build"),
    "video.generate": ("generate", "upload"),
}
LANGUAGES = ("fr", "de", "es", "it", "pt-BR", "ja", "zh-Hans")
CLOCK = Clock("seconds", zulu=True)  # the docs' `2026-04-19T10:14:02Z`


@st.composite
def lifecycle(draw: st.DrawFn, job_type: str) -> list[dict[str, Any]]:
    clock, created = CLOCK, draw(instants())
    names = ND_STEPS.get(job_type) or tuple(
        draw(st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=4, unique=True))
    )
    identity = {
        "id": draw(component("neuraldraft", "Job", "id")),
        "type": job_type,
        "created_at": clock.stamp(created),
    }
    cycle = contract_lifecycle("neuraldraft", job_type)
    queued, working = cycle.stages(2)
    success = cycle.terminal[0]
    live = draw(live_polls())
    pending = draw(st.integers(0, live))
    done = [0] * pending + ascending(draw, st.integers(0, len(names)), live - pending)
    progress = [0] * pending + ascending(draw, st.integers(0, 99), live - pending)
    moments = [created]
    for _ in range(live + 1):
        moments.append(moments[-1] + draw(delays()))
    bodies = []
    for index in range(live):
        state = queued if index < pending else working
        active = state == working and done[index] < len(names) and draw(st.booleans())
        body = draw(pin("neuraldraft", STATUS, status=state, type=job_type)) | identity
        body |= {
            "progress": progress[index],
            "steps": _job_steps(names, done[index], active),
            "updated_at": clock.stamp(moments[index + 1]),
        }
        bodies.append(body)
    outcome = draw(st.sampled_from(cycle.terminal))
    last_done, last_progress = (done[-1], progress[-1]) if live else (0, 0)
    final_done = len(names) if outcome == success else draw(st.integers(last_done, len(names)))
    body = draw(pin("neuraldraft", STATUS, status=outcome, type=job_type)) | identity
    body |= {
        "progress": 100 if outcome == success else draw(st.integers(last_progress, 99)),
        "steps": _job_steps(names, final_done, False),
        "updated_at": clock.stamp(moments[-1]),
    }
    if outcome == success and job_type == "translation.batch":
        body["result"] = {**body["result"], "locales": list(names)}
    return [*bodies, body]


def _job_steps(names: Iterable[str], done: int, active: bool) -> list[dict[str, Any]]:
    """The first `done` steps completed; the next one active when `active`."""
    return [
        {"name": name, "completed": index < done, "active": active and index == done}
        for index, name in enumerate(names)
    ]
