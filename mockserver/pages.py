"""A small HTML page per job, for people: where an API links to its web UI, the mock links here.

The page shows the job's summary (state, scenario, timeline, outcome) and the simple values of
its data; a value naming another job links to that job's page (a request to its documents).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from mockserver.admin_guard import page_signature
from mockserver.engine.clock import isoformat
from mockserver.engine.jobs import Job, JobStore
from mockserver.engine.journal import Entry, mask

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5rem}"
    "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}.state{font-weight:bold}"
    # what a client sent may be thousands of characters without a space: it breaks anywhere
    ".long{overflow-wrap:anywhere}"
)
# the dashboard uses the whole window and fits 1280 px: IDs, keys, paths and what a client sent
# break anywhere, each at most 30rem wide (wider, one column would leave the others a
# character's width), and the buttons that end a job wrap inside their cell
DASHBOARD_STYLE = (
    STYLE + "body{max-width:none;margin:1rem}table{width:100%}"
    ".long{display:inline-block;max-width:30rem}"
    ".actions{display:flex;flex-wrap:wrap;gap:.2rem}"
)
MAX_LIST = 50  # longer lists are cut on the page
# every page: its language for screen readers, and no icon (a browser would ask for
# /favicon.ico, a 404 in its console)
HEAD = "<!doctype html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"


@dataclasses.dataclass(frozen=True, slots=True)
class Links:
    """Where a page's links go. An admin page's carry the `?token=` it was opened with (a
    token server answers a link without it 401); a page opened by its signed link (`signed`)
    links its own key's jobs alone, each signed, and nothing of the admin API."""

    token: str | None = None
    signed: bool = False

    @property
    def query(self) -> str:
        return "" if self.token is None else "?" + urlencode({"token": self.token})

    def page(self, job: Job, other: Job) -> str | None:
        """The href of `other`'s page on `job`'s, or None where it may not be linked."""
        name = quote(other.id, safe="")
        if not self.signed:
            return f"../{name}/page{self.query}"
        if other.tenant != job.tenant:
            return None
        return f"../{name}/page?signature={page_signature(other)}"


def job_page(job: Job, now: float, store: JobStore, links: Links, style: str) -> str:
    """`job`'s page; its times in `style`, as its API writes them (NeuroLinker's to the
    microsecond: whole seconds would disagree with what its client reads)."""
    summary = job.summary(now)
    finished = summary["finished_at"]
    facts = [
        ("API", escape(job.api)),
        ("Kind", escape(job.kind)),
        ("ID", escape(job.id)),
        ("State", f'<span class="state">{escape(summary["state"])}</span>'),
        ("Scenario", _long(summary["scenario"] or "default")),
        ("Created", isoformat(job.created_at, style)),
        ("Finished", isoformat(finished, style) if finished is not None else "not yet"),
        ("Outcome message", _long((summary["outcome"] or {}).get("message") or "")),
        ("Timing", "one phase per status read" if summary["per_poll"] else "clock time"),
    ]
    if not links.signed:
        summary_link = f"../{quote(job.id, safe='')}{links.query}"
        facts.append(("JSON", f'<a href="{escape(summary_link)}">admin API summary</a>'))
    phases = [
        (escape(p["state"]), f"{p['duration']:g}", escape(p["detail"])) for p in summary["phases"]
    ]
    data = [
        (escape(key), _breaking(_value(value, store, job, links)))
        for key, value in _simple(job.data)
    ]
    title = f"{escape(job.api)} {escape(job.kind)} {escape(job.id)}"
    return (
        f"{HEAD}<title>{title}</title>"
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


def _value(value: Any, store: JobStore, job: Job, links: Links) -> str:
    if isinstance(value, list | tuple):
        shown = [_value(item, store, job, links) for item in value[:MAX_LIST]]
        more = f" … ({len(value) - MAX_LIST} more)" if len(value) > MAX_LIST else ""
        return "<br>".join(shown) + more
    other = store.lookup(value) if isinstance(value, str) else None
    href = links.page(job, other) if other is not None else None
    if href is not None:
        return f'<a href="{escape(href)}">{escape(str(value))}</a>'
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
  const text = await answer.text();  // read whole before the reload, which would abort it
  if (!answer.ok) {  // the admin API's JSON, or a proxy's page
    let message = text;
    try { message = JSON.parse(text).error || text; } catch {}
    alert(message || answer.status);
  }
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
    endings: Mapping[str, tuple[str, ...]],
    styles: Mapping[tuple[str, str], str],
    links: Links,
) -> str:
    """The server for people: its clock with buttons that move it; `jobs`, newest first (of
    `total`, when known; `more`: older ones are kept) with their state, a link to each job's
    page and a button per word a running one can end in (`endings`, by job ID: a job missing
    from it is of an API this server does not serve, and has none), their times as their API
    writes them (`styles`, by API and kind); the journal's latest `entries`, newest first,
    with what they broke of the contract."""
    rows = [
        _job_row(job, now, endings.get(job.id), styles[job.api, job.kind], links) for job in jobs
    ]
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
    query = escape(links.query)
    return (
        f"{HEAD}{refresh}<title>Mock server</title>"
        f"<style>{DASHBOARD_STYLE}</style></head><body><h1>Mock server</h1>"
        f"<p>Clock ({escape(clock['mode'])}): <b>{escape(clock['iso'])}</b> {steps}</p>"
        f"<p>{shown}. Filter with <code>?api=</code>, <code>?tenant=</code> and "
        "<code>?status=</code>; "
        f'<a href="journal{query}">journal</a>, <a href="violations{query}">violations</a>.</p>'
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


def _job_row(
    job: Job, now: float, words: tuple[str, ...] | None, style: str, links: Links
) -> tuple[str, ...]:
    """A job's row: its page's link and, while it runs, the buttons that end it."""
    summary = job.summary(now)
    name = quote(job.id, safe="")
    return (
        escape(job.api),
        escape(job.kind),
        f'<a class="long" href="jobs/{name}/page{escape(links.query)}">{escape(job.id)}</a>',
        _long(mask(job.tenant) or ""),
        f'<span class="state">{escape(summary["state"])}</span>',
        _long(job.scenario or "default"),
        isoformat(job.created_at, style),
        "" if summary["terminal"] else _ending(job, words),
    )


def _ending(job: Job, words: tuple[str, ...] | None) -> str:
    """A button per word a running job can end in, each naming the job to a screen reader
    (the word alone says not which); `words` None: its API is not served here."""
    if words is None:
        return "not served here"
    name = quote(job.id, safe="")
    buttons = "".join(
        _button(
            word,
            f"jobs/{name}/transition",
            {"outcome": word},
            f"end {job.api} {job.kind} {job.id} as {word}",
        )
        for word in words
    )
    return f'<span class="actions">{buttons}</span>'


def refusal(message: str, home: str | None) -> str:
    """A page refused, in the admin API's words (`message`); `home`: the dashboard's href,
    None on a page opened by its signed link (it links nothing of the admin API)."""
    link = "" if home is None else f'<p><a href="{escape(home)}">All jobs</a></p>'
    return (
        f"{HEAD}<title>Mock server</title>"
        f"<style>{STYLE}</style></head><body><h1>Mock server</h1>"
        f"<p>{escape(message)}</p>{link}</body></html>"
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
        _breaking(broken),
    )


def _long(text: str) -> str:
    return _breaking(escape(text))


def _breaking(html: str) -> str:
    """`html`, breaking anywhere (`.long`): it may hold text of any length a client sent."""
    return f'<span class="long">{html}</span>'


def _button(label: str, path: str, body: dict[str, Any], described: str | None = None) -> str:
    """A button posting `body` to `path`; `described`: its accessible name, when the label
    alone does not say what it does."""
    attributes = f'data-path="{escape(path)}" data-body="{escape(json.dumps(body))}"'
    if described is not None:
        attributes += f' aria-label="{escape(described)}"'
    return f"<button {attributes}>{escape(label)}</button>"
