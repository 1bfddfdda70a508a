"""`GET /v1/jobs/{id}/stream`: a job's progress as Server-Sent Events, until it ends.

Nothing is pushed by the job itself (its state is a function of time), so the stream reads
the job again whenever it may have changed: at once when the clock is moved by hand (a clock
listener wakes it) or a job is cancelled, and on the system clock twice a second. A per-poll
job (`mode=poll`) moves with the status reads, on any worker sharing the store, whatever the
clock: its stream reads it twice a second too. It sends only what changed. A job that no
longer exists for the API (forgotten by a reset, the clock set back before its creation) ends
the stream as a status read answers it then, `not_found`; nothing is built for it.

While a block of virtual time is open on the manual clock (`Clock.virtual`), the client
reading the stream sleeps no more: nothing would move the clock. The stream moves it itself,
on the block's budget, to the job's next change or its next keep-alive, as the wait would
pass on the real service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from mockserver.apis.neuraldraft.models import (
    CANCELLED,
    CANCELLED_MESSAGE,
    COMPLETED,
    Progress,
    error_of,
    percent_changes_at,
    progress_of,
)
from mockserver.engine.clock import Clock
from mockserver.engine.jobs import Job
from mockserver.engine.signals import Signal

SYSTEM_RECHECK_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = ": keep-alive\n\n"
# past a change the job's hints put a hair early (`Job.changes_at`), so a virtual wait ends
# after it; also the least a virtual wait moves the clock, so it never waits for nothing
PAST_CHANGE_SECONDS = 2e-3


class Wakeup(Signal):
    """Tells open streams that a job changed while the clock stood still (a cancel)."""


def frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


# the last frame for a job that no longer exists: what its status read answers, as an event
GONE = frame("error", {"code": "not_found", "message": "Job not found."})


def changes(before: Progress | None, after: Progress) -> list[str]:
    """The frames that take a client from `before` to `after`: steps first, then progress."""
    steps = [
        frame("step", step.as_dict())
        for index, step in enumerate(after.steps)
        if before is None or before.steps[index] != step
    ]
    progress = frame("progress", {"progress": after.progress, "message": after.message})
    if before is None:  # on connect: the whole picture, progress first
        return [progress, *steps]
    moved = (before.progress, before.message) != (after.progress, after.message)
    return [*steps, progress] if moved else steps


def final(job: Job, state: Progress, result: Callable[[Job], dict[str, Any]]) -> str:
    """The last frame: `done` with the result, or `error` for a failed or cancelled job."""
    assert state.outcome is not None
    if state.status == COMPLETED:
        return frame("done", {"result": result(job)})
    if state.status == CANCELLED:
        return frame("error", {"code": "cancelled", "message": CANCELLED_MESSAGE})
    return frame("error", error_of(job, state.outcome))


async def events(
    current: Callable[[], Job | None],
    clock: Clock,
    wakeup: Wakeup,
    result: Callable[[Job], dict[str, Any]],
) -> AsyncIterator[str]:
    """Frames for the job `current()` reads, from now until its terminal event, or until
    `current()` finds it gone (None) or not created yet (`GONE`); never busy-waits.

    It sleeps until the clock is moved by hand or a job is cancelled; on the system clock, and
    for a per-poll job, it also looks again twice a second, since time or status reads move
    the job there with no signal. Each time it reads the job again (another worker sharing the
    store may have changed it). In a block of virtual time it moves the clock instead
    (`next_change`); when the block's budget runs out, the stream closes.
    """
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    def moved() -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the stream is over anyway
            loop.call_soon_threadsafe(wake.set)

    removers = (clock.on_change(moved), wakeup.listen(moved))
    try:
        before: Progress | None = None
        quiet = 0.0
        while True:
            wake.clear()
            job = current()
            now = clock.now()
            if job is None or job.created_at > now:
                yield GONE
                return
            state = progress_of(job, now)
            for text in changes(before, state):
                yield text
                quiet = 0.0
            if state.terminal:
                yield final(job, state, result)
                return
            before = state
            block = clock.virtual
            if block is not None:  # the wait passes at once, on the block's budget
                change, due = next_change(job, now), now + KEEPALIVE_SECONDS - quiet
                if not block.wait_until(min(change, due), f"the event stream of job {job.id}"):
                    return  # out of virtual time: the client stops waiting
                if change < due:
                    quiet += change - now
                else:
                    quiet = 0.0
                    yield KEEPALIVE
                await asyncio.sleep(0)  # a client that left is heard before the next move
                continue
            # time, or status reads on any worker, move these jobs with no signal to wake it
            unheard = job.plan.per_poll or not clock.manual
            timeout = SYSTEM_RECHECK_SECONDS if unheard else KEEPALIVE_SECONDS
            try:
                await asyncio.wait_for(wake.wait(), timeout)
            except TimeoutError:
                quiet += timeout
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield KEEPALIVE
    finally:
        for remove in removers:
            remove()


def next_change(job: Job, now: float) -> float:
    """When the stream of `job` (as it stands at `now`) next has something to send, a hair
    late rather than early: inf for a job only a hand can move (stalled, per-poll)."""
    hint = job.changes_at(now)
    if hint is None:  # a per-poll plan: reads of the status move it, not time
        return math.inf
    return max(min(hint, percent_changes_at(job, now)), now) + PAST_CHANGE_SECONDS
