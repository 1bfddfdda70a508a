"""A small HTML page per job, for people: where an API links to its web UI, the mock links here.

The page shows the job's summary (state, scenario, timeline, outcome) and the simple values of
its data; a value naming another job links to that job's page (a request to its documents).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from html import escape
from typing import Any
from urllib.parse import quote

from mockserver.engine.clock import isoformat
from mockserver.engine.jobs import Job, Store

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5rem}"
    "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}.state{font-weight:bold}"
)
MAX_LIST = 50  # longer lists are cut on the page


def job_page(job: Job, now: float, store: Store) -> str:
    summary = job.summary(now)
    finished = summary["finished_at"]
    facts = [
        ("API", escape(job.api)),
        ("Kind", escape(job.kind)),
        ("ID", escape(job.id)),
        ("State", f'<span class="state">{escape(summary["state"])}</span>'),
        ("Scenario", escape(summary["scenario"] or "default")),
        ("Created", isoformat(job.created_at)),
        ("Finished", isoformat(finished) if finished is not None else "not yet"),
        ("Outcome message", escape((summary["outcome"] or {}).get("message") or "")),
        ("Timing", "one phase per status read" if summary["per_poll"] else "clock time"),
        ("JSON", f'<a href="../{quote(job.id, safe="")}">admin API summary</a>'),
    ]
    phases = [
        (escape(p["state"]), f"{p['duration']:g}", escape(p["detail"])) for p in summary["phases"]
    ]
    data = [(escape(key), _value(value, store)) for key, value in _simple(job.data)]
    title = f"{escape(job.api)} {escape(job.kind)} {escape(job.id)}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        + _table(("Field", "Value"), facts)
        + "<h2>Phases</h2>"
        + _table(("State", "Seconds (or reads)", "Detail"), phases)
        + "<h2>Data</h2>"
        + _table(("Key", "Value"), data)
        + "</body></html>"
    )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _simple(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Scalars and lists of scalars, with a dataclass's fields one level down."""
    for key, value in data.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type) and not prefix:
            yield from _simple(
                {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, f"{key}."
            )
        elif _scalar(value) or (
            isinstance(value, list | tuple) and all(_scalar(item) for item in value)
        ):
            yield prefix + key, value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _value(value: Any, store: Store) -> str:
    if isinstance(value, list | tuple):
        shown = [_value(item, store) for item in value[:MAX_LIST]]
        more = f" … ({len(value) - MAX_LIST} more)" if len(value) > MAX_LIST else ""
        return "<br>".join(shown) + more
    if isinstance(value, str) and store.lookup(value) is not None:
        return f'<a href="../{quote(value, safe="")}/page">{escape(value)}</a>'
    return escape("" if value is None else str(value))
