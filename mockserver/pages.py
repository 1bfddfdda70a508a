"""A small HTML page per job, for people: where an API links to its web UI, the mock links here.

The page shows the job's summary (state, scenario, timeline, outcome) and the simple values of
its data; a value naming another job links to that job's page (a request to its documents).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from mockserver.engine.clock import isoformat
from mockserver.engine.jobs import Job, JobStore
from mockserver.engine.journal import Entry, mask

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5rem}"
    "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}.state{font-weight:bold}"
)
# the dashboard uses the whole window and fits 1280 px: IDs, keys and paths break anywhere,
# the buttons that end a job wrap inside their cell
DASHBOARD_STYLE = (
    STYLE + "body{max-width:none;margin:1rem}table{width:100%}"
    ".long{overflow-wrap:anywhere}.actions{display:flex;flex-wrap:wrap;gap:.2rem}"
)
MAX_LIST = 50  # longer lists are cut on the page


def job_page(job: Job, now: float, store: JobStore) -> str:
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


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
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


def _value(value: Any, store: JobStore) -> str:
    if isinstance(value, list | tuple):
        shown = [_value(item, store) for item in value[:MAX_LIST]]
        more = f" … ({len(value) - MAX_LIST} more)" if len(value) > MAX_LIST else ""
        return "<br>".join(shown) + more
    if isinstance(value, str) and store.lookup(value) is not None:
        return f'<a href="../{quote(value, safe="")}/page">{escape(value)}</a>'
    return escape("" if value is None else str(value))


# --- the dashboard ----------------------------------------------------------------------------

CLOCK_STEPS = ((10, "+10 s"), (60, "+1 min"), (600, "+10 min"), (3600, "+1 h"))
# buttons carry their admin call in data attributes; one listener posts it and reloads
SCRIPT = """
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-path]");
  if (!button) return;
  const token = new URLSearchParams(location.search).get("token");  // the admin API's, if any
  const headers = {"Content-Type": "application/json"};
  if (token) headers["X-Mock-Admin-Token"] = token;
  const answer = await fetch(button.dataset.path, {
    method: "POST", headers, body: button.dataset.body,
  });
  if (!answer.ok) alert((await answer.json()).error || answer.status);
  location.reload();
});
"""


def dashboard(
    jobs: list[Job],
    total: int | None,
    more: bool,
    entries: list[Entry],
    now: float,
    clock: dict[str, Any],
    outcomes: dict[str, tuple[str, ...]],
) -> str:
    """The server for people: its clock with buttons that move it; `jobs`, newest first (of
    `total`, when known; `more`: older ones are kept) with their state, a link to each job's
    page and buttons that end a running one; the journal's latest `entries`, newest first,
    with what they broke of the contract."""
    rows = []
    for job in jobs:
        summary = job.summary(now)
        actions = (
            ""
            if summary["terminal"]
            else '<span class="actions">'
            + "".join(
                _button(word, f"jobs/{quote(job.id, safe='')}/transition", {"outcome": word})
                for word in outcomes.get(job.api, ())
            )
            + "</span>"
        )
        rows.append(
            (
                escape(job.api),
                escape(job.kind),
                f'<a class="long" href="jobs/{quote(job.id, safe="")}/page">{escape(job.id)}</a>',
                _long(mask(job.tenant) or ""),
                f'<span class="state">{escape(summary["state"])}</span>',
                escape(job.scenario or "default"),
                isoformat(job.created_at),
                actions,
            )
        )
    steps = " ".join(
        _button(label, "clock/advance", {"seconds": seconds}) for seconds, label in CLOCK_STEPS
    )
    if not more:
        shown = f"{len(jobs)} job{'' if len(jobs) == 1 else 's'}"
    elif total is None:
        shown = f"The newest {len(jobs)} jobs shown, older ones kept"
    else:
        shown = f"{total} jobs, the newest {len(jobs)} shown"
    refresh = "" if clock["mode"] == "manual" else "<meta http-equiv='refresh' content='5'>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{refresh}<title>Mock server</title>"
        f"<style>{DASHBOARD_STYLE}</style></head><body><h1>Mock server</h1>"
        f"<p>Clock ({escape(clock['mode'])}): <b>{escape(clock['iso'])}</b> {steps}</p>"
        f"<p>{shown}. Filter with <code>?api=</code> and <code>?tenant=</code>; "
        f'<a href="journal">journal</a>, <a href="violations">violations</a>.</p>'
        + _table(
            ("API", "Kind", "ID", "Tenant", "State", "Scenario", "Created", "End it now"), rows
        )
        + "<h2>Latest requests</h2>"
        + _table(
            ("Time", "API", "Tenant", "Request", "Status", "Contract violations"),
            [_request_row(entry) for entry in entries],
        )
        + f"<script>{SCRIPT}</script></body></html>"
    )


def unknown_api(name: str, known: list[str]) -> str:
    """The dashboard asked for an API this server does not emulate."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Mock server</title>"
        f"<style>{STYLE}</style></head><body><h1>Mock server</h1>"
        f"<p>There is no API named {escape(repr(name))} on this server; it emulates: "
        f"{escape(', '.join(known))}. "
        f'<a href="dashboard">All jobs</a>.</p></body></html>'
    )


def _request_row(entry: Entry) -> tuple[str, ...]:
    query = f"?{entry.query}" if entry.query else ""
    broken = "<br>".join(escape(f"{v.pointer}: {v.message}") for v in entry.violations)
    return (
        isoformat(entry.time),
        escape(entry.api or ""),
        _long(mask(entry.tenant) or ""),
        _long(f"{entry.method} {entry.path}{query}"),
        str(entry.status or "no answer"),
        broken,
    )


def _long(text: str) -> str:
    return f'<span class="long">{escape(text)}</span>'


def _button(label: str, path: str, body: dict[str, Any]) -> str:
    attributes = f'data-path="{escape(path)}" data-body="{escape(json.dumps(body))}"'
    return f"<button {attributes}>{escape(label)}</button>"
