"""The `hung` verdict, in the same words wherever a client is caught waiting for ever: the
client check (`mockserver check-client`) and the pytest plugin's virtual time."""

from __future__ import annotations

from collections.abc import Iterable

from mockserver.engine.jobs import Job
from mockserver.engine.journal import Entry
from mockserver.verdicts import last_running_read


def polls_after_end(job: Job, entries: Iterable[Entry], now: float) -> int | None:
    """Requests naming `job` at or after the moment it ended, and after the last status read
    that showed it running (a cancel sent at that read's clock time is the end: the read came
    before it); None while it is running."""
    finished = job.finished_at(now)
    if finished is None:
        return None
    named = [entry for entry in entries if job.id in entry.path]
    last = last_running_read(job.api, named, job.id)
    return sum(1 for entry in named[last + 1 :] if entry.time >= finished)


def short_id(job: Job) -> str:
    return short(job.id)


def short(job_id: str) -> str:
    """A job ID as reasons name it: its first 8 characters when it is long (a UUID)."""
    return job_id if len(job_id) <= 12 else job_id[:8] + "…"


def hung_reason(cause: str, jobs: Iterable[Job], entries: Iterable[Entry], now: float) -> str:
    """Why a client counts as hung: `cause` (the budget that ran out), then each job, its
    final state and how many polls came after its end."""
    entries = list(entries)
    parts = []
    for job in jobs:
        state = job.snapshot(now).state
        polls = polls_after_end(job, entries, now)
        if polls is None:
            parts.append(f"{job.api} job {short_id(job)} still {state}")
        else:
            plural = "" if polls == 1 else "s"
            parts.append(
                f"{job.api} job {short_id(job)} ended {state}, {polls} poll{plural} after the end"
            )
    return "; ".join([cause, *parts] if parts else [cause, "no job was started"])
