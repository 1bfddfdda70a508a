"""Behaviour verdicts: the client bugs that no single response shows, read from the journal
entries of one flow (one tenant's requests, in order).

Pure functions of the entries and the API's contract (its create operations, their links, its
`x-lifecycle`), so they judge a recording as well as a live run:

- `altered`: a retried request differs from the one it retries (fields dropped or changed).
- `duplicated`: a create sent again after its answer was lost (a timeout or a 5xx), without
  the API's idempotency mechanism, made a second job: the client followed the second job
  (asked about it later) and never the first, whose answer it did not have. Creates each
  followed, or followed alike (by webhooks, never asking), are separate jobs on purpose.
- `hasty`: status polls of one job closer together than the API's pace, or a request sent
  before the `Retry-After` of the answer it retries had passed; `never_slept` says it of a
  flow stopped for asking again and again while the clock stood still.
- `lingered`: status polls of a job that had already been seen ended.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from mockserver.contracts import Contract, load
from mockserver.contracts.lifecycle import lifecycles_of, min_poll_interval
from mockserver.engine.journal import BODY_LIMIT, Entry, Journal
from mockserver.engine.scenarios import Scenario, origin
from mockserver.faults.operations import creating_operations

ALTERED, DUPLICATED, HASTY, LINGERED = "altered", "duplicated", "hasty", "lingered"
VERDICTS = (ALTERED, DUPLICATED, HASTY, LINGERED)
RETRYABLE = frozenset({0, 408, 409, 429, 500, 502, 503, 504})  # 0: no answer (dropped)
READS_AFTER_END = 1  # status reads of an ended job that are still fine (a last look)
INTERVALS_SHOWN = 10
# how the mock refuses a scenario it cannot apply to a request (`X-Mock-Scenario: ...` for a
# header, `key scenario: ...` for one bound to the API key, ...)


@dataclass(frozen=True)
class Finding:
    """One behaviour verdict: its word, a sentence, and the fields `--json` shows."""

    verdict: str
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason, **self.details}


@dataclass(frozen=True)
class ApiFacts:
    """What the verdicts need to know of one API, read from its contract once."""

    api: str
    contract: Contract
    creates: frozenset[str]  # operationIds that start a job
    job_ids: Mapping[str, tuple[str, ...]]  # create operationId -> JSON pointers of the new ID
    polls: Mapping[str, tuple[str, str, frozenset[str]]]  # status op -> (id param, field, ends)
    idempotency_header: str | None
    pace: float  # seconds between two polls of one job below which polling is hasty


@cache
def facts(api: str) -> ApiFacts:
    contract = load(api)
    creates = creating_operations(contract)
    by_id = {op.id: op for op in contract.operations}
    job_ids = {name: tuple(_id_pointers(contract, by_id[name])) for name in creates}
    polls: dict[str, tuple[str, str, frozenset[str]]] = {}
    for cycle in lifecycles_of(api).values():
        _, _, ends = polls.get(cycle.operation, ("", "", frozenset()))
        polls[cycle.operation] = (cycle.id_parameter, cycle.state_field, ends | set(cycle.terminal))
    header = next(
        (
            param["name"]
            for name in sorted(creates)
            for param in by_id[name].parameters()
            if param.get("in") == "header" and param.get("name", "").lower() == "idempotency-key"
        ),
        None,
    )
    return ApiFacts(
        api, contract, frozenset(creates), job_ids, polls, header, min_poll_interval(api)
    )


def _id_pointers(contract: Contract, operation: Any) -> list[str]:
    """Where a create's answer holds the new job's ID: its links' `$response.body#/...`."""
    pointers = []
    for status, response in operation.spec.get("responses", {}).items():
        if str(status).startswith("2"):
            for link in contract.resolve(response).get("links", {}).values():
                for value in contract.resolve(link).get("parameters", {}).values():
                    if isinstance(value, str) and value.startswith("$response.body#/"):
                        pointers.append(value.removeprefix("$response.body#"))
    return pointers


def behaviour(api: str, entries: Sequence[Entry]) -> list[Finding]:
    """Every behaviour verdict on one flow's entries (in the order they were made)."""
    known = facts(api)
    calls = [_Call.of(known, entry) for entry in entries]
    return [
        *altered_retries(calls),
        *duplicate_jobs(known, calls),
        *hasty_polls(known, calls),
        *polls_after_end(known, calls),
    ]


@dataclass(frozen=True)
class _Call:
    entry: Entry
    operation: str | None
    params: Mapping[str, str]

    @classmethod
    def of(cls, known: ApiFacts, entry: Entry) -> _Call:
        found = known.contract.operation(entry.method, entry.path)
        if found is None:
            return cls(entry, None, {})
        return cls(entry, found[0].id, found[1])

    @property
    def label(self) -> str:
        return f"{self.entry.method} {self.entry.path}"


# --- altered: a retry that is not the same request ---------------------------------------------


def altered_retries(calls: Sequence[_Call]) -> list[Finding]:
    """A request answered with a retryable status (or not at all), then sent again to the same
    operation with other fields."""
    found = []
    for index, call in enumerate(calls):
        if call.operation is None or call.entry.status not in RETRYABLE:
            continue
        if call.entry.method in ("GET", "HEAD", "DELETE"):
            continue
        retry = next((c for c in calls[index + 1 :] if c.operation == call.operation), None)
        if retry is None:
            continue
        before, after = request_fields(call.entry), request_fields(retry.entry)
        if before is None or after is None:
            continue
        dropped = sorted(set(before) - set(after))
        changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
        added = sorted(set(after) - set(before))
        if not (dropped or changed or added):
            continue
        parts = [
            f"without {', '.join(dropped)}" if dropped else "",
            f"with {', '.join(changed)} changed" if changed else "",
            f"with {', '.join(added)} added" if added else "",
        ]
        status = call.entry.status or "no answer"
        found.append(
            Finding(
                ALTERED,
                f"retried {call.label} after {status} "
                + " and ".join(filter(None, parts))
                + f" ({call.entry.id} -> {retry.entry.id})",
                {
                    "request": call.entry.id,
                    "retry": retry.entry.id,
                    "after_status": call.entry.status,
                    "dropped": dropped,
                    "changed": changed,
                    "added": added,
                },
            )
        )
    return found


def request_fields(entry: Entry) -> dict[str, Any] | None:
    """The fields of a request body: JSON members, form fields, multipart parts (a file part
    as its file name and size). None when the body cannot be compared (cut off, unreadable)."""
    if entry.request_parts is not None:
        fields: dict[str, Any] = {}
        for part in entry.request_parts:
            value = (
                {"filename": part["filename"], "size": part["size"]}
                if "filename" in part
                else part.get("value")
            )
            fields.setdefault(part["name"], []).append(value)
        return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}
    body = entry.request_body
    if not body:
        return {}
    if len(body) >= BODY_LIMIT and entry.request_size > len(body):
        return None
    kind = entry.request_type.lower()
    if "json" in kind:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return dict(data) if isinstance(data, dict) else {"(body)": data}
    if kind.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {"(body)": body}


# --- duplicated: a second job from a resubmitted create ----------------------------------------


def duplicate_jobs(known: ApiFacts, calls: Sequence[_Call]) -> list[Finding]:
    """Two creates with the same fields that made two jobs, the first never asked about again
    and the second asked about after its create: the first answer did not reach the client,
    which sent the create anew and followed the job that answer made. A client that asks
    about neither (it follows both by webhooks) shows no lost answer."""
    made = [
        (index, call, job)
        for index, call in enumerate(calls)
        if call.operation in known.creates
        and 200 <= call.entry.status < 300
        and (job := _new_job(known, call))
    ]
    found = []
    reported: set[str] = set()
    for position, (index, call, job) in enumerate(made):
        if job in reported or _asked_about(job, calls[index + 1 :]):
            continue
        fields = request_fields(call.entry)
        if fields is None:
            continue
        twin = next(
            (
                (later, other)
                for after, later, other in made[position + 1 :]
                if later.operation == call.operation
                and other != job
                and request_fields(later.entry) == fields
                and _asked_about(other, calls[after + 1 :])
            ),
            None,
        )
        if twin is None:
            continue
        later, other = twin
        reported.add(job)
        mechanism = (
            f"without the same {known.idempotency_header}"
            if known.idempotency_header
            else f"and {known.api} has no idempotency mechanism"
        )
        found.append(
            Finding(
                DUPLICATED,
                f"sent {call.label} again {mechanism}: job {job} was made twice, as {other}; "
                f"{job} was never asked about again, {other} was",
                {
                    "first_job": job,
                    "duplicate_job": other,
                    "requests": [call.entry.id, later.entry.id],
                    "idempotency_header": known.idempotency_header,
                },
            )
        )
    return found


def _new_job(known: ApiFacts, call: _Call) -> str | None:
    try:
        body = json.loads(call.entry.response_body)
    except ValueError:
        return None
    for pointer in known.job_ids.get(call.operation or "", ()):
        value: Any = body
        for token in pointer.strip("/").split("/"):
            value = value.get(token) if isinstance(value, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def _asked_about(job: str, calls: Sequence[_Call]) -> bool:
    return any(job in call.params.values() for call in calls)


# --- hasty and lingered: polling -----------------------------------------------------------------


def _polls(known: ApiFacts, calls: Sequence[_Call]) -> dict[str, list[tuple[_Call, str | None]]]:
    """Status reads per job, each with the state it showed (None: no state in the answer)."""
    by_job: dict[str, list[tuple[_Call, str | None]]] = defaultdict(list)
    for call in calls:
        spec = known.polls.get(call.operation or "")
        if spec is None or call.entry.method != "GET":
            continue
        id_parameter, state_field, _ = spec
        job = call.params.get(id_parameter)
        if job is None:
            continue
        state = None
        if 200 <= call.entry.status < 300:
            try:
                body = json.loads(call.entry.response_body)
            except ValueError:
                body = None
            state = body.get(state_field) if isinstance(body, dict) else None
        by_job[job].append((call, state))
    return by_job


def last_running_read(api: str, entries: Sequence[Entry], job: str) -> int:
    """The index in `entries` of the last status read of `job` that answered a state that is
    not an end, -1 when none did: the job had not ended by then, though its end may bear the
    same clock time (a cancel sent right after a read, with no sleep between)."""
    known = facts(api)
    calls = [_Call.of(known, entry) for entry in entries]
    running = {
        id(call)
        for call, state in _polls(known, calls).get(job, [])
        if state is not None and state not in known.polls[call.operation or ""][2]
    }
    return max((index for index, call in enumerate(calls) if id(call) in running), default=-1)


def hasty_polls(known: ApiFacts, calls: Sequence[_Call]) -> list[Finding]:
    """Polls of one job closer together than the pace (more than one such gap), and requests
    sent before the `Retry-After` of the answer they follow had passed."""
    found = []
    for job, polls in _polls(known, calls).items():
        times = [call.entry.time for call, _ in polls]
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
        fast = [gap for gap in gaps if gap < known.pace]
        if len(fast) > 1:
            found.append(
                Finding(
                    HASTY,
                    f"polled job {job} {len(polls)} times, {len(fast)} of them less than "
                    f"{known.pace:g} s apart (shortest {min(fast):g} s)",
                    {
                        "job": job,
                        "polls": len(polls),
                        "too_fast": len(fast),
                        "pace": known.pace,
                        "intervals": gaps[:INTERVALS_SHOWN],
                    },
                )
            )
    early = []
    for index, call in enumerate(calls):
        wait = _seconds(call.entry.retry_after)
        if wait is None or call.operation is None:
            continue
        retry = next((c for c in calls[index + 1 :] if c.operation == call.operation), None)
        if retry is not None and retry.entry.time - call.entry.time < wait:
            early.append((call, retry, wait))
    if early:
        call, retry, wait = early[0]
        gap = round(retry.entry.time - call.entry.time, 3)
        found.append(
            Finding(
                HASTY,
                f"sent {retry.label} {gap:g} s after a {call.entry.status} that said "
                f"Retry-After: {wait:g}" + (f" ({len(early)} times)" if len(early) > 1 else ""),
                {
                    "early_retries": len(early),
                    "intervals": [round(r.entry.time - c.entry.time, 3) for c, r, _ in early][
                        :INTERVALS_SHOWN
                    ],
                    "retry_after": [w for _, _, w in early][:INTERVALS_SHOWN],
                },
            )
        )
    return found


def never_slept(api: str, entries: Sequence[Entry]) -> Finding:
    """The `hasty` finding of a flow that was stopped for never sleeping: its polls of the
    job it polled most, else the requests it made while the clock stood still at its end."""
    known = facts(api)
    polls = [
        f for f in hasty_polls(known, [_Call.of(known, e) for e in entries]) if "polls" in f.details
    ]
    if polls:
        return max(polls, key=lambda finding: finding.details["polls"])
    still = [entry for entry in entries if entry.time == entries[-1].time]
    labels = Counter(f"{entry.method} {entry.path}" for entry in still)
    label, count = labels.most_common(1)[0] if labels else ("nothing", 0)
    gaps = [round(b.time - a.time, 3) for a, b in itertools.pairwise(still)]
    return Finding(
        HASTY,
        f"sent {len(still)} requests without sleeping, {len(gaps)} of them 0 s apart "
        f"(most: {label}, {count} times)",
        {"requests": len(still), "too_fast": len(gaps), "intervals": gaps[:INTERVALS_SHOWN]},
    )


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def polls_after_end(known: ApiFacts, calls: Sequence[_Call]) -> list[Finding]:
    """Status reads of a job after one that showed it ended, beyond a last look."""
    found = []
    for job, polls in _polls(known, calls).items():
        ends = known.polls[polls[0][0].operation or ""][2]
        ended = next((i for i, (_, state) in enumerate(polls) if state in ends), None)
        if ended is None:
            continue
        after = polls[ended + 1 :]
        if len(after) > READS_AFTER_END:
            first, state = polls[ended]
            span = round(after[-1][0].entry.time - first.entry.time, 3)
            found.append(
                Finding(
                    LINGERED,
                    f"polled job {job} {len(after)} more times over {span:g} s after it "
                    f"was seen {state}",
                    {
                        "job": job,
                        "state": state,
                        "polls_after_end": len(after),
                        "seconds_after_end": span,
                    },
                )
            )
    return found


# --- not applicable: a scenario the mock refused ---------------------------------------------


def scenario_refused(api: str, entries: Sequence[Entry], scenario: Scenario) -> str | None:
    """Why the mock could not apply `scenario`, the flow's, to its create (a `partial` for a
    request of one document...), or None: the row then says nothing of the client."""
    creates = facts(api).creates
    prefix = f"{origin(scenario)}: "  # how the mock's 400 refusing it begins
    for call in (_Call.of(facts(api), entry) for entry in entries):
        if call.operation not in creates or call.entry.status != 400:
            continue
        try:
            body = json.loads(call.entry.response_body)
        except ValueError:
            continue
        for text in _texts(body):
            if text.startswith(prefix):
                why = text[len(prefix) :]
                return f"the API cannot produce this scenario for the flow's request: {why}"
    return None


def _texts(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _texts(value)]
    if isinstance(node, list):
        return [text for value in node for text in _texts(value)]
    return []


# --- for a test's teardown ------------------------------------------------------------------


def findings_of(
    journal: Journal, keys: Mapping[str, str], since: int = 0
) -> list[tuple[str, Finding]]:
    """The behaviour verdicts on the requests made with `keys` (API name -> the test's key),
    among the entries numbered above `since` (the journal's count when the test began)."""
    entries = journal.entries(since=since)  # read once for every API
    return [
        (api, finding)
        for api, key in keys.items()
        for finding in behaviour(api, [e for e in entries if e.api == api and e.tenant == key])
    ]


def describe_findings(found: Sequence[tuple[str, Finding]], marker: str) -> str:
    lines = [f"  {api}: {finding.verdict}: {finding.reason}" for api, finding in found]
    return (
        f"the client under test misbehaved across requests ({len(found)} finding"
        f"{'' if len(found) == 1 else 's'}):\n" + "\n".join(lines) + "\n"
        f"(mark the test @pytest.mark.{marker} if that is intended)"
    )
