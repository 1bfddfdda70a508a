"""Polling lifecycles of the sample API: `running` a few times, then `done` or `failed`."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from mockserver.contracts.strategies.bodies import pin

STATUS_OPERATIONS = {"job": "get_job"}


@st.composite
def lifecycle(draw: st.DrawFn, object_type: str) -> list[dict[str, Any]]:
    first = draw(pin("sample", "get_job", status="running"))
    polls = draw(st.integers(0, 3))
    end = draw(st.sampled_from(["done", "failed"]))
    keep = {"id": first["id"], "created_at": first["created_at"]}
    return [first, *([{**first}] * polls), {**first, **keep, "status": end}]
