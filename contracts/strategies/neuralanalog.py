"""Neural Analog lifecycles: `status` (the contract sets its flags), `completed_at`, stems on a
finished split, workflow steps."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from mockserver.contracts.lifecycle import lifecycle as contract_lifecycle
from mockserver.contracts.strategies.bodies import ABSENT, component, pin, present
from mockserver.contracts.strategies.formats import uuids
from mockserver.contracts.strategies.timeline import (
    Clock,
    ascending,
    delays,
    instants,
    live_polls,
)

# the docs print whole seconds with `Z` (`2026-05-05T10:15:30Z`); the contract says so too
DOCUMENTED_CLOCK = Clock("seconds", zulu=True)

STATUS = "get_status"
STATUS_OPERATIONS = dict.fromkeys(
    ("audio", "upscaled", "mastered", "stem_split", "stem", "workflow"), STATUS
)
NA_DOWNLOADABLE = ("audio", "upscaled", "mastered", "stem")


@st.composite
def lifecycle(draw: st.DrawFn, object_type: str) -> list[dict[str, Any]]:
    clock, created = DOCUMENTED_CLOCK, draw(instants())
    object_id = draw(uuids())
    identity = {
        "object_type": object_type,
        "object_id": object_id,
        "audio_id": object_id if object_type == "audio" else draw(uuids()),
        "created_at": clock.stamp(created),
    }
    cycle = contract_lifecycle("neuralanalog", object_type)
    outcome = draw(st.sampled_from(cycle.terminal))
    live_states = [name for name, state in cycle.states.items() if not state.terminal]
    plan = draw(_workflow_plans()) if object_type == "workflow" else []
    live = draw(live_polls())
    # workflow position: step i not started (2i) or running (2i + 1)
    positions = ascending(draw, st.integers(0, 2 * len(plan) - 1), live) if plan else [0] * live
    bodies = []
    for position in positions:
        state = draw(st.sampled_from(live_states))
        body = draw(_na_body(object_type, state)) | identity
        if plan:
            running = "in_progress" if position % 2 else "pending"
            body["steps"] = _workflow_steps(plan, position // 2, running)
        bodies.append(body)
    body = draw(_na_body(object_type, outcome)) | identity
    finished = created + draw(delays())
    body["completed_at"] = clock.stamp(finished) if outcome == "completed" else None
    if outcome == "completed" and object_type in NA_DOWNLOADABLE:
        body["download_url"] = draw(present("neuralanalog", "StatusResponse", "download_url"))
    if plan:
        done = (
            len(plan)
            if outcome == "completed"
            else draw(st.integers(positions[-1] // 2 if positions else 0, len(plan) - 1))
        )
        body["steps"] = _workflow_steps(plan, done, "failed")
    if object_type == "stem_split" and outcome == "completed":
        body["stems"] = draw(
            st.lists(
                component("neuralanalog", "StemEntry"),
                min_size=1,
                max_size=6,
                unique_by=lambda s: s["stem_id"],
            )
        )
    return [*bodies, body]


def _na_body(object_type: str, state: str) -> SearchStrategy[dict]:
    """A status body in `state` whose links and extensions a lifecycle then sets (the contract
    sets its flags, and a failure's `error_message`)."""
    pins: dict[str, Any] = {
        "object_type": object_type,
        "status": state,
        "download_url": None,
        "completed_at": None,
        "stems": ABSENT,
    }
    if state != "failed":
        pins["error_message"] = None
    if object_type != "workflow":
        pins["steps"] = ABSENT
    return pin("neuralanalog", STATUS, **pins)


def _workflow_plans() -> SearchStrategy[list[tuple[str, str]]]:
    """Step types of a run, each with the ID of the object it will produce."""
    step = st.tuples(st.sampled_from(["upscale", "master", "stems"]), uuids())
    return st.lists(step, min_size=1, max_size=3)


def _workflow_steps(plan: list[tuple[str, str]], done: int, current: str) -> list[dict[str, Any]]:
    """Steps before `done` completed, step `done` in state `current`, later ones pending; an
    object ID appears once its step has started."""
    steps = []
    for index, (kind, object_id) in enumerate(plan):
        state = "completed" if index < done else current if index == done else "pending"
        steps.append(
            {"type": kind, "status": state, "object_id": None if state == "pending" else object_id}
        )
    return steps
