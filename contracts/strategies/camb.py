"""Camb lifecycles: PENDING, then one terminal state; `run_id` only on SUCCESS (the contract's
oneOf)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from mockserver.contracts.lifecycle import lifecycle as contract_lifecycle
from mockserver.contracts.strategies.bodies import pin
from mockserver.contracts.strategies.timeline import live_polls

STATUS_OPERATIONS = {"audio_separation": "get_audio_separation_status"}
CYCLE = contract_lifecycle("camb", "audio_separation")
CAMB_TERMINAL = CYCLE.terminal


@st.composite
def lifecycle(draw: st.DrawFn, object_type: str) -> list[dict[str, Any]]:
    operation = STATUS_OPERATIONS[object_type]
    live = draw(live_polls())
    running = st.sampled_from(CYCLE.initial)
    bodies = [draw(pin("camb", operation, status=draw(running))) for _ in range(live)]
    outcome = draw(st.sampled_from(CAMB_TERMINAL))
    return [*bodies, draw(pin("camb", operation, status=outcome))]
