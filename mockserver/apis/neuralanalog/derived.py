"""The jobs made from each track, listed per track in the state store as they are made.

An archive or a `use_restored` master reads its track's own jobs through this list, not every
job of the key (an archive of one track among 60,000 jobs took 5.8 s). The list lives beside
the key's jobs (`{tenant}` hash tag), so one read finds it and one more its jobs, on every
store and from any worker (a push is atomic). A job forgotten since (evicted) is let go from
the list when the list is read. Past `store_capacity` lists, each new one has the oldest
looked at: let go if its track is gone, else put back in line, so the lists kept stay about
as many as the tracks kept.
"""

from __future__ import annotations

from mockserver.engine.jobs import Job
from mockserver.service import Ctx
from mockserver.stores import key


def note(ctx: Ctx, job: Job) -> None:
    """List `job` under the track it was made from (`job.data["audio_id"]`)."""
    audio_id = job.data["audio_id"]
    if ctx.state.backend.push(_listed(ctx, ctx.tenant, audio_id), job.id) == 1:
        _keep(ctx, [ctx.tenant, audio_id])


def made_from(ctx: Ctx, audio_id: str) -> list[Job]:
    """The jobs made from track `audio_id`, oldest first: two reads, however many jobs the key
    has. The IDs of jobs forgotten since are let go from the list."""
    backend, listed = ctx.state.backend, _listed(ctx, ctx.tenant, audio_id)
    ids = backend.items(listed)
    jobs = ctx.state.store.read_ahead(ctx.service.name, ctx.tenant, ids)
    for job_id, job in zip(ids, jobs, strict=True):
        if job is None:
            backend.remove(listed, job_id)
    return [job for job in jobs if job is not None]


def _keep(ctx: Ctx, track: list[str]) -> None:
    """A track's list was started: past `store_capacity` lists, the oldest one is looked at,
    forgotten if its track is, else put back in line (one look per new list)."""
    backend, order = ctx.state.backend, key(None, ctx.service.name, "made-from")
    if backend.push(order, track) <= ctx.state.store.capacity:
        return
    oldest = backend.pop(order)
    if oldest is None:
        return
    tenant, audio_id = oldest
    if ctx.state.store.get(ctx.service.name, tenant, audio_id) is None:
        backend.delete(_listed(ctx, tenant, audio_id))
    else:
        backend.push(order, oldest)


def _listed(ctx: Ctx, tenant: str, audio_id: str) -> str:
    return key(tenant, ctx.service.name, "made-from", audio_id)
