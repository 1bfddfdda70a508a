"""Neural Analog's HTTP handlers: each reads a request, touches the store, answers JSON."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NoReturn

from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from mockserver.apis.neuralanalog import derived
from mockserver.apis.neuralanalog.models import (
    COMPLETED,
    DOWNLOADABLE,
    FAILED,
    IN_PROGRESS,
    KINDS,
    LINK_DURATION,
    STEP_KINDS,
    UNREADABLE_DURATION,
    VERSION_OF_KIND,
    ZIP_BYTES_PER_SECOND,
    Stem,
    mastered_stem_tone,
    stems_for,
    tone_for,
)
from mockserver.config import ServerConfig
from mockserver.engine.artifacts import DEFAULT_BITS, AudioInfo, as_rendered, probe_audio
from mockserver.engine.jobs import Job, JobStore
from mockserver.engine.plan import EPSILON, Outcome, Phase, Plan
from mockserver.engine.scenarios import Scenario
from mockserver.errors import ApiError, FieldError, invalid
from mockserver.service import Ctx

LABELS = {
    "audio": "Audio",
    "upscaled": "Upscaled audio",
    "mastered": "Mastered audio",
    "stem_split": "Stem split",
    "stem": "Stem",
    "workflow": "Workflow run",
}
ARCHIVE_TTL = 86_400
RESTORE_FIRST = "restore_first"  # a master's data: it restores the track first (use_restored)
RESTORATION = "restoration_id"  # such a master's data: the restoration it made
MASTER = "master_id"  # that restoration's data: the master it was made for
WORKFLOW = "workflow_id"  # a workflow step's data: the workflow it is a step of
# such a step's data while it has not started: in poll mode until the workflow's reads reach
# it; for ever once the workflow failed before it. It has no object meanwhile (a 404)
WAITING = "waiting"
IMPORT_MESSAGE = "File uploaded successfully"  # the from-file page's example
# the from-link page could not be read: the contract's example (nothing is uploaded)
LINK_MESSAGE = "Audio import started"
EMPTY_AUDIO = "Source audio is empty: it holds no samples"
UNDECODABLE = "Source audio could not be decoded"
LINKED_AUDIO = AudioInfo(LINK_DURATION)  # every imported link's (a value: shared by the jobs)
ID_SHOWN = 64  # characters of an ID a message echoes (a UUID has 36; one of 5,000 was echoed)


# --- import ---------------------------------------------------------------------------------


async def from_file(ctx: Ctx) -> Response:
    body = await ctx.body()
    upload: UploadFile = body["audio"]
    content = await upload.read()
    name = upload.filename or "upload"
    info = probe_audio(content)
    scenario = ctx.scenario(name)
    usable = info is not None and info.duration > 0
    if not usable and scenario.source == "default":
        # what no decoder opens, or opens empty, fails its import, as the real service's would
        failure = {"message": EMPTY_AUDIO if info is not None else UNDECODABLE}
        scenario = Scenario(FAILED, failure, "content")
    source = body.get("file_source", "from_file")
    kept = info if info is not None and usable else AudioInfo(UNREADABLE_DURATION)
    return _import(ctx, kept, name, source, scenario, IMPORT_MESSAGE)


async def from_link(ctx: Ctx) -> Response:
    body = await ctx.body()
    link = body.get("url") or body.get("link") or ""  # the contract requires one
    return _import(ctx, LINKED_AUDIO, link, "from_link", ctx.scenario(link), LINK_MESSAGE)


def _import(
    ctx: Ctx, info: AudioInfo, name: str, source: str, scenario: Scenario, message: str
) -> Response:
    audio_id = ctx.new_uuid()
    data = {
        "audio_id": audio_id,
        "info": info,
        "tone": tone_for("audio"),
        "source": source,
        "name": name,
    }
    ctx.create_job("audio", audio_id, scenario, data)
    return ctx.json({"audio_id": audio_id, "status": IN_PROGRESS, "message": message})


# --- processing -----------------------------------------------------------------------------


def _ready(ctx: Ctx, object_id: str, kind: str) -> Job:
    """A source object that exists, finished, and did not fail; else a clear 404/409."""
    if kind == "stem":
        job, _ = _stem(ctx, object_id)
        return job
    job = _object(ctx, object_id, kind)
    snap = job.snapshot(ctx.now)
    if not snap.terminal:
        raise ApiError(
            409, f"{LABELS[kind]} {job.id} is still processing; wait until it is completed"
        )
    if snap.outcome and snap.outcome.state != COMPLETED:
        # one message for a source to process and an artifact to download alike
        raise ApiError(
            409, f"{LABELS[kind]} {job.id} failed ({snap.outcome.message}): it has no output"
        )
    return job


def _object(ctx: Ctx, object_id: str, kind: str) -> Job:
    """This key's `kind` object named by its own ID, else a 404: a stem's alias of its split
    (`stem:<stem_id>`) names no object."""
    job = ctx.state.store.get(ctx.service.name, ctx.tenant, object_id)
    if job is None or job.id != object_id or job.kind != kind or not _appeared(job, ctx.now):
        raise ApiError(404, f"{LABELS[kind]} {_shown(object_id)} not found")
    return job


def _shown(object_id: str) -> str:
    """An ID for a message, cut short: a body or path may hold one of any length."""
    return object_id if len(object_id) <= ID_SHOWN else object_id[:ID_SHOWN] + "..."


def _latest(ctx: Ctx, audio_id: str, kind: str) -> Job | None:
    """The newest completed `kind` object made from audio `audio_id`, among the track's own."""
    made = [job for job in derived.made_from(ctx, audio_id) if job.kind == kind]
    return next((job for job in reversed(made) if _completed(ctx, job)), None)


def _completed(ctx: Ctx, job: Job) -> bool:
    if not _appeared(job, ctx.now):  # a step not started: forced to complete, it waits
        return False
    snap = job.snapshot(ctx.now)
    return snap.terminal and snap.outcome is not None and snap.outcome.state == COMPLETED


def _child(ctx: Ctx, kind: str, source: Job, extra: dict[str, Any]) -> Job:
    scenario = ctx.scenario()
    job_id = ctx.new_uuid()
    data = {
        "audio_id": source.data["audio_id"],
        "info": source.data["info"],
        "tone": tone_for(kind),
        **extra,
    }
    aliases = _stem_aliases(ctx, data)
    job = ctx.create_job(kind, job_id, scenario, data, *aliases)
    derived.note(ctx, job)
    return job


def _as_asked(
    info: AudioInfo, bit_depth: int | None = None, target_lufs: float | None = None
) -> AudioInfo:
    """The source's audio as an object's files are written: at the bit depth it asked (else
    16) and the loudness it asked (else the usual level); never its source's (a split of a
    24-bit master asked for nothing)."""
    return replace(info, bits=bit_depth or DEFAULT_BITS, loudness=target_lufs)


def _stem_aliases(ctx: Ctx, data: dict[str, Any]) -> list[str]:
    if "preset" not in data or "version" not in data:
        return []
    preset, version = data["preset"], data["version"]
    count = len(stems_for(preset, version, [""] * 64))
    data["stems"] = stems_for(preset, version, [ctx.new_uuid() for _ in range(count)])
    return [f"stem:{stem.stem_id}" for stem in data["stems"]]


async def upscale(ctx: Ctx) -> Response:
    body = await ctx.body()
    source = _ready(ctx, body["audio_id"], "audio")
    job = _child(ctx, "upscaled", source, {"preset": body.get("preset")})
    return _started(ctx, {"id": job.id}, job, "Restoration started")


async def master(ctx: Ctx) -> Response:
    """A master of the track; of a restoration (`upscaled_id`; `use_restored`: the newest
    completed one, else one made now, which the master waits for, as the docs' "use or create
    a restored source" says); or of one of the track's stems (`stem_id`: the docs master "an
    audio file or stem" without naming the field, inferred from /create-stems's)."""
    body = await ctx.body()
    audio = _ready(ctx, body["audio_id"], "audio")
    preset = body.get("preset", "universal_enhancer")
    extra: dict[str, Any] = {"master_preset": preset}
    source = audio
    if body.get("stem_id") is not None:
        source, stem = _stem(ctx, body["stem_id"])
        _of_audio(source, audio.id, f"Stem {stem.stem_id}")
        extra.update(stem_id=stem.stem_id, tone=mastered_stem_tone(stem))
    elif body.get("upscaled_id"):
        source = _ready(ctx, body["upscaled_id"], "upscaled")
        _of_audio(source, audio.id, f"{LABELS['upscaled']} {source.id}")
    elif body.get("use_restored"):
        source = _latest(ctx, audio.id, "upscaled") or audio
        if source is audio:
            extra[RESTORE_FIRST] = True
    extra["info"] = _as_asked(source.data["info"], body.get("bit_depth"), body.get("target_lufs"))
    job = _child(ctx, "mastered", source, extra)
    if extra.get(RESTORE_FIRST):
        job.data[RESTORATION] = _restoration_before(ctx, job, preset).id
    return _started(ctx, {"id": job.id}, job, "Mastering started")


def _of_audio(source: Job, audio_id: str, what: str) -> None:
    """A 404 for a source made from another track than `audio_id` names (the master or split
    would be filed under the other track, its `audio_id` not the one sent)."""
    if source.data["audio_id"] != audio_id:
        raise ApiError(404, f"{what} not found for audio {_shown(audio_id)}")


def _restoration_before(ctx: Ctx, master: Job, preset: str) -> Job:
    """The restoration a `use_restored` master makes: it runs through the master's first
    phase and completes with it (a failure is the master's, as its scenario says), so it is
    the restored version from then on. In poll mode the master moves with its own reads:
    the restoration waits for them (`restoration_follows`), not for reads of its own."""
    restoring, per_poll = master.plan.phases[0], master.plan.per_poll
    plan = Plan((restoring,), None if per_poll else Outcome(COMPLETED), per_poll)
    data = {
        **master.data,
        "info": _as_asked(master.data["info"]),
        "tone": tone_for("upscaled"),
        "preset": preset,
        MASTER: master.id,
    }
    for name in ("master_preset", RESTORE_FIRST):
        del data[name]
    job = ctx.create_job("upscaled", ctx.new_uuid(), Scenario(COMPLETED), data, plan=plan)
    derived.note(ctx, job)
    return job


def restoration_follows(store: JobStore, master: Job, now: float) -> None:
    """The restoration of a `use_restored` master ends with the master's first phase: it
    completes once the master is past that phase, however it got there (its clock, its
    reads, a forced completion), and fails with a master forced to fail in it."""
    restoration = store.lookup(master.data[RESTORATION])
    if restoration is None or restoration.snapshot(now).terminal:
        return
    snap = master.snapshot(now)
    restored = snap.phase >= 1 and len(master.plan.phases) > 1  # a forced end cuts phases
    if restored or (snap.outcome is not None and snap.outcome.state == COMPLETED):
        restoration.force(now, Outcome(COMPLETED))
    elif snap.outcome is not None:  # forced to fail while restoring
        restoration.force(now, Outcome(FAILED, snap.outcome.message))
    else:
        return
    store.save(restoration)


def master_follows(store: JobStore, restoration: Job, now: float) -> None:
    """The restoration a `use_restored` master waits for was forced to end: a master still
    restoring fails with a failed one, and masters from now on after a completed one."""
    master = store.lookup(restoration.data[MASTER])
    outcome = restoration.plan.outcome
    if master is None or outcome is None:
        return
    snap = master.snapshot(now)
    if snap.terminal or snap.phase >= 1:
        return
    if outcome.state == COMPLETED:
        restoring, *rest = master.plan.phases
        done = Phase(restoring.state, master.position(now), restoring.detail)
        master.plan = Plan((done, *rest), master.plan.outcome, master.plan.per_poll)
    else:
        message = f"Restoration {restoration.id} failed: {outcome.message}"
        master.force(now, Outcome(FAILED, message))
    store.save(master)


async def create_stems(ctx: Ctx) -> Response:
    """A split of the source the body names (`stem_id` first); a restoration or master is "a
    restored/mastered version of that audio": one of another track than `audio_id` is a 404,
    as /master-audio answers."""
    body = await ctx.body()
    for field, kind in (
        ("stem_id", "stem"),
        ("mastered_id", "mastered"),
        ("upscaled_id", "upscaled"),
        ("audio_id", "audio"),
    ):
        if body.get(field) is not None:  # "" is an ID too (of nothing: 404), not a missing one
            source = _ready(ctx, body[field], kind)
            version = (
                VERSION_OF_KIND.get(kind, "original") if kind != "stem" else source.data["version"]
            )
            break
    else:  # the contract requires a source; kept for a contract that would not
        raise ApiError(422, "Give one of audio_id, stem_id, upscaled_id, mastered_id")
    if kind in ("upscaled", "mastered") and body.get("audio_id") is not None:
        _of_audio(source, body["audio_id"], f"{LABELS[kind]} {source.id}")
    info = _as_asked(source.data["info"], body.get("bit_depth"))
    extra = {"preset": body["preset"], "version": version, "info": info}
    job = _child(ctx, "stem_split", source, extra)
    return _started(ctx, {"creation_id": job.id}, job, "Stem separation started")


async def run_workflow(ctx: Ctx) -> Response:
    body = await ctx.body()
    audio = _ready(ctx, body["audio_id"], "audio")
    steps = body["steps"]
    scenario = ctx.scenario()
    run_id = ctx.new_uuid()
    workflow = ctx.create_job(
        "workflow",
        run_id,
        scenario,
        {"audio_id": audio.id, "info": audio.data["info"], "steps": steps},
    )
    workflow.data["children"] = _workflow_children(ctx, workflow, steps)
    return _started(ctx, {"workflow_run_id": run_id}, workflow, "Workflow started")


def _workflow_children(ctx: Ctx, workflow: Job, steps: list[dict[str, Any]]) -> list[str]:
    """One real object per step, appearing when its step starts and ending with it: on the
    clock at its planned start, in poll mode when the workflow's reads reach it (it waits
    till then). The last step ends with the workflow's outcome: a failing workflow's message
    is its failing step's."""
    plan = workflow.plan
    children: list[str] = []
    start = 0.0
    version = "original"
    for index, (step, phase) in enumerate(zip(steps, plan.phases, strict=True)):
        last = index == len(plan.phases) - 1
        kind = STEP_KINDS[step["type"]]
        data: dict[str, Any] = {
            "audio_id": workflow.data["audio_id"],
            "info": workflow.data["info"],
            "tone": tone_for(kind),
            WORKFLOW: workflow.id,
        }
        if plan.per_poll and index > 0:
            data[WAITING] = True
        if kind == "stem_split":
            data.update(preset=step.get("preset") or "2_tracks", version=version)
        aliases = _stem_aliases(ctx, data)
        child_id = ctx.new_uuid()
        created = workflow.created_at + (0.0 if plan.per_poll else start)
        child_plan = Plan(
            (Phase(IN_PROGRESS, phase.duration, phase.detail),),
            plan.outcome if last else Outcome(COMPLETED),
            plan.per_poll,
        )
        child = Job(
            ctx.service.name,
            ctx.tenant,
            child_id,
            kind,
            created,
            child_plan,
            data,
            workflow.scenario,
        )
        derived.note(ctx, ctx.state.store.add(child, *aliases))
        children.append(child_id)
        version = VERSION_OF_KIND.get(kind, version)
        start += phase.duration
    return children


def _appeared(job: Job, now: float) -> bool:
    """Whether `job` exists at `now`: made by then, and not a workflow step still waiting."""
    return job.created_at <= now and WAITING not in job.data


def steps_follow(store: JobStore, workflow: Job, children: list[Job | None], now: float) -> None:
    """A workflow's step objects follow it: each starts when the workflow reaches its step, on
    the clock at its planned time (earlier once a step before was forced to end early), in
    poll mode then and there; in poll mode each ends when the workflow moves past it."""
    reached = workflow.snapshot(now).phase
    start = workflow.created_at
    for index, (phase, child) in enumerate(zip(workflow.plan.phases, children, strict=False)):
        if child is not None and not workflow.plan.per_poll and child.created_at > now:
            child.created_at = start if start > now + EPSILON else now  # sums round
            store.save(child)
        elif child is not None and workflow.plan.per_poll and index <= reached:
            if child.data.pop(WAITING, None):
                child.created_at = now
            if index < reached and not child.snapshot(now).terminal:
                child.observe(now)
            store.save(child)
        start += phase.duration


def workflow_follows(store: JobStore, step: Job, now: float) -> None:
    """A step of a running workflow was forced to end: the workflow follows its step objects.
    Forced to fail, the step fails the workflow there, with its message, and the steps after
    never start; forced to complete, the next step starts at once (after the last, the
    workflow completes). A step not started yet ends so once the workflow reaches it."""
    workflow = store.lookup(step.data[WORKFLOW])
    if workflow is None or workflow.snapshot(now).terminal:
        return
    ids = workflow.data["children"]
    children = [store.lookup(child_id) for child_id in ids]
    phases: list[Phase] = []
    outcome = workflow.plan.outcome
    for phase, child in zip(workflow.plan.phases, children, strict=True):
        if child is None:  # gone: it ended as planned
            phases.append(phase)
            continue
        phases.append(replace(phase, duration=child.plan.length))
        outcome = child.plan.outcome  # the last step's is the workflow's
        if outcome is not None and outcome.state != COMPLETED:
            break
    workflow.plan = Plan(tuple(phases), outcome, workflow.plan.per_poll)
    workflow.data["children"] = ids[: len(phases)]
    if outcome is not None:
        for child in filter(None, children[len(phases) :]):
            _never_starts(store, child, outcome)
    steps_follow(store, workflow, children, now)
    store.save(workflow)


def end_steps(store: JobStore, workflow: Job, now: float) -> None:
    """The steps of a workflow forced to its outcome now: the running one ends with it. One
    not started yet ends now too when the workflow completed; when it failed, it never
    starts (no object, no output) and its step stays pending."""
    outcome = workflow.plan.outcome
    if outcome is None:
        return
    ids = workflow.data["children"]
    children = [store.lookup(child_id) for child_id in ids]
    # a step gone from the store ended as planned
    started = [child is None or _appeared(child, now) for child in children]
    for child, began in zip(children, started, strict=True):
        if child is None or (began and child.snapshot(now).terminal):
            continue
        if not began and outcome.state != COMPLETED:
            _never_starts(store, child, outcome)
            continue
        if not began:
            child.data.pop(WAITING, None)
            child.created_at = now
        child.force(now, outcome)
        store.save(child)
    if outcome.state != COMPLETED:
        workflow.data["children"] = [i for i, began in zip(ids, started, strict=True) if began]
    store.save(workflow)


def _never_starts(store: JobStore, step: Job, outcome: Outcome) -> None:
    """A step after the one its workflow failed at: it ends unstarted, and waits for ever (it
    has no object, no output)."""
    step.force(step.created_at, outcome)
    step.data[WAITING] = True
    store.save(step)


def _started(ctx: Ctx, ids: dict[str, str], job: Job, message: str) -> Response:
    return ctx.json(
        {**ids, "audio_id": job.data["audio_id"], "status": IN_PROGRESS, "message": message}
    )


def _missing_version(audio_id: str, version: str) -> Job:
    work = "restoration" if version.startswith("restored") else "mastering"
    raise ApiError(
        409, f"Version '{version}' of audio {audio_id} does not exist yet: no completed {work}"
    )


# --- status and downloads -------------------------------------------------------------------


def _stem(ctx: Ctx, stem_id: str) -> tuple[Job, Stem]:
    """The completed split holding stem `stem_id`: stems exist once their split completes."""
    job = ctx.state.store.get(ctx.service.name, ctx.tenant, f"stem:{stem_id}")
    if job is not None and _completed(ctx, job):
        for stem in job.data["stems"]:
            if stem.stem_id == stem_id:
                return job, stem
    raise ApiError(404, f"Stem {_shown(stem_id)} not found")


async def status(ctx: Ctx) -> Response:
    params = ctx.params()
    kind, object_id = params["object_type"], params["object_id"]
    if kind == "stem":
        body = _stem_status(ctx, object_id)
        ctx.fresh_until()  # a stem exists once its split completed: it never changes again
        return ctx.json(body)
    job = _object(ctx, object_id, kind)
    workflow = _workflow_of(ctx, job)
    children = _children(ctx, workflow)
    if workflow is not None and workflow.plan.per_poll:
        # a read of the workflow or of any of its steps moves the workflow, and its steps
        # with it: a step read alone would end before the one before it had
        workflow.observe(ctx.now)
        steps_follow(ctx.state.store, workflow, children, ctx.now)
    else:
        job.observe(ctx.now)
    if job.plan.per_poll and RESTORATION in job.data:  # its reads take it past restoring
        restoration_follows(ctx.state.store, job, ctx.now)
    listed = children if job is workflow else []
    body = _status(ctx, job, listed)
    ctx.fresh_until(job, *(child for child in listed if child is not None))
    return ctx.json(body)


def _workflow_of(ctx: Ctx, job: Job) -> Job | None:
    """The workflow a read of `job` concerns: `job` itself, or for a step in poll mode the
    workflow it is a step of (None: none, or gone)."""
    if job.kind == "workflow":
        return job
    if WORKFLOW not in job.data or not job.plan.per_poll:
        return None
    return ctx.state.store.get(ctx.service.name, ctx.tenant, job.data[WORKFLOW])


def _children(ctx: Ctx, workflow: Job | None) -> list[Job | None]:
    """The jobs a workflow started, step by step (None: gone), read together."""
    ids = [] if workflow is None else workflow.data["children"]
    return ctx.state.store.read_ahead(ctx.service.name, ctx.tenant, ids)


def _status(ctx: Ctx, job: Job, children: list[Job | None]) -> dict[str, Any]:
    now = ctx.now
    snap = job.snapshot(now)
    completed = snap.outcome is not None and snap.outcome.state == COMPLETED
    failed = snap.outcome is not None and not completed
    body: dict[str, Any] = {
        "object_type": job.kind,
        "object_id": job.id,
        "status": snap.state,
        "is_complete": completed,
        "is_failed": failed,
        "download_url": f"{ctx.base_url}/download/{job.kind}/{job.id}"
        if completed and job.kind in DOWNLOADABLE
        else None,
        "audio_id": job.data["audio_id"],
        "status_details": KINDS[job.kind][1] if completed else (None if failed else snap.detail),
        "error_message": snap.outcome.message if failed and snap.outcome else None,
        "created_at": ctx.iso(job.created_at),
        "completed_at": ctx.iso(job.finished_at(now, snap)) if completed else None,
    }
    if job.kind == "stem_split" and completed:
        body["stems"] = [{"stem_id": s.stem_id, "name": s.name} for s in job.data["stems"]]
    if job.kind == "workflow":
        body["steps"] = _workflow_steps(ctx, job, children)
    return body


def _workflow_steps(ctx: Ctx, workflow: Job, children: list[Job | None]) -> list[dict[str, Any]]:
    steps = []
    for index, step in enumerate(workflow.data["steps"]):
        child = children[index] if index < len(children) else None
        if child is None or not _appeared(child, ctx.now):
            steps.append({"type": step["type"], "status": "pending", "object_id": None})
            continue
        snap = child.snapshot(ctx.now)
        steps.append(
            {
                "type": step["type"],
                "status": snap.state,
                "object_id": child.id,
            }
        )
    return steps


def _stem_status(ctx: Ctx, stem_id: str) -> dict[str, Any]:
    split, _ = _stem(ctx, stem_id)
    finished = ctx.iso(split.finished_at(ctx.now))
    return {
        "object_type": "stem",
        "object_id": stem_id,
        "status": COMPLETED,
        "is_complete": True,
        "is_failed": False,
        "download_url": f"{ctx.base_url}/download/stem/{stem_id}",
        "audio_id": split.data["audio_id"],
        "status_details": "Stem ready",
        "error_message": None,
        "created_at": finished,
        "completed_at": finished,
    }


async def download(ctx: Ctx) -> Response:
    params = ctx.params()
    kind, object_id = params["object_type"], params["object_id"]
    fmt = params.get("format") or "wav"
    if kind == "stem":
        job, stem = _stem(ctx, object_id)
        name = f"stem-{stem.stem_id}.{fmt}"
    else:
        job = _ready(ctx, object_id, kind)
        name = f"{kind}.{fmt}"
    return RedirectResponse(ctx.file_url(job, name), 307)


# --- archives -------------------------------------------------------------------------------

TRACK_KINDS = {"original": "audio", "restored": "upscaled", "mastered": "mastered"}
Member = tuple[str, AudioInfo, int, str]  # path in the zip, audio, tone, format


async def download_archive(ctx: Ctx) -> Response:
    body = await ctx.body()
    tracks_only = all(version in TRACK_KINDS for version in body["versions"])
    _stems_need_stem_versions(body, tracks_only)
    audio_ids = ([body["id"]] if body.get("id") is not None else []) + list(body.get("ids") or [])
    audios = [_ready(ctx, audio_id, "audio") for audio_id in dict.fromkeys(audio_ids)]
    made = _MadeFrom(ctx)
    members: list[Member] = []
    if tracks_only:
        for audio in audios:
            members += [_track_member(made, audio, v, body) for v in body["versions"]]
    else:
        members = _stem_members(made, audios, body)
    members = list({member[0]: member for member in members}.values())  # asked twice: once
    config = ctx.state.config
    kept = _fitting(members, config)
    threshold = config.archive_email_threshold_seconds
    answer: dict[str, Any] = {
        "download_url": None,
        "expires_in_seconds": ARCHIVE_TTL,
        "email_notification_queued": False,
        "email_notification_threshold_seconds": threshold,
        "archive_incomplete": len(kept) < len(members),
    }
    if zipping_seconds(kept) > threshold:
        answer["email_notification_queued"] = True
        return ctx.json(answer)
    archive = Job(
        ctx.service.name,
        ctx.tenant,
        ctx.new_uuid(),
        "archive",
        ctx.now,
        Plan((), Outcome(COMPLETED)),
        {"audio_id": audio_ids[0], "members": kept},
    )
    ctx.state.store.add(archive)
    answer["download_url"] = ctx.file_url(archive, "archive.zip", ARCHIVE_TTL)
    return ctx.json(answer)


def _stems_need_stem_versions(body: dict[str, Any], tracks_only: bool) -> None:
    """`stem_ids` and `stem_selections` pick stems: with track versions they would be
    ignored, so the request is refused as mixing the two kinds (the docs: "Track and stem
    archive versions are separate requests")."""
    for field in ("stem_selections", "stem_ids"):
        if tracks_only and body.get(field):
            message = (
                f"Value error, {field} picks stems: give stem versions (original_stems, "
                "restored_stems, mastered_stems), not track versions"
            )
            raise invalid(FieldError(("body", field), message, "value_error", body[field], {}))


def _stem_members(made: _MadeFrom, audios: list[Job], body: dict[str, Any]) -> list[Member]:
    """The stems of each track: `stem_selections`, else each stem version, every stem of it
    or those `stem_ids` names. A named stem no track has is a 404."""
    selections = body.get("stem_selections") or []
    named = set(body.get("stem_ids") or []) | {s["stem_id"] for s in selections}
    tracks = [_Stems(made, audio) for audio in audios]
    unknown = named.difference(*(stems.found for stems in tracks))
    if unknown:
        raise ApiError(404, f"Stem {_shown(sorted(unknown)[0])} not found")
    members: list[Member] = []
    for stems in tracks:
        if selections:  # exact stem versions: they are the archive's stems
            members += [stems.selected(s, body) for s in selections if s["stem_id"] in stems.found]
            continue
        for version in body["versions"]:
            members += stems.at(version.removesuffix("_stems"), named or None, body)
    return members


def _fitting(members: list[Member], config: ServerConfig) -> list[Member]:
    """The members the archive holds whole: each no larger than `archive_max_file_bytes`, and
    all together within the samples one download may render (`max_render_bytes`). A member
    past either is left out (`archive_incomplete`), never cut short."""
    budget = config.max_render_bytes
    kept = []
    for member in members:
        info = as_rendered(member[1], member[3])
        if info.wav_size <= config.archive_max_file_bytes and info.pcm_size <= budget:
            kept.append(member)
            budget -= info.pcm_size
    return kept


def zipping_seconds(members: list[Member]) -> float:
    """How long the service would zip `members`: their uncompressed size at its zip rate."""
    return sum(info.wav_size for _, info, _, _ in members) / ZIP_BYTES_PER_SECOND


class _MadeFrom:
    """The completed objects made from each track, in creation order: each track's read once
    per archive request, through its own list (`derived`), not through every job of the key."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self._found: dict[str, list[Job]] = {}

    def of(self, audio_id: str, kind: str) -> list[Job]:
        found = self._found.get(audio_id)
        if found is None:
            made = derived.made_from(self.ctx, audio_id)
            found = self._found[audio_id] = [job for job in made if _completed(self.ctx, job)]
        return [job for job in found if job.kind == kind]


def _track_member(made: _MadeFrom, audio: Job, version: str, body: dict[str, Any]) -> Member:
    """A full track in its `<version>_format` (else the request's `format`, else wav): the
    newest completed one (a stem's master is not the track's)."""
    kind = TRACK_KINDS[version]
    if kind == "audio":
        job = audio
    else:
        tracks = [job for job in made.of(audio.id, kind) if "stem_id" not in job.data]
        job = next(reversed(tracks), None) or _missing_version(audio.id, version)
    fmt = body.get(f"{version}_format") or body.get("format") or "wav"
    return f"{audio.id}/{version}.{fmt}", job.data["info"], job.data["tone"], fmt


class _Stems:
    """A track's stems and their versions: a stem is at the version of the track it was split
    from, and at `mastered` too once /master-audio mastered it (`stem_id`)."""

    def __init__(self, made: _MadeFrom, audio: Job) -> None:
        self.made = made
        self.audio = audio
        self.found = {
            stem.stem_id: (split, stem)
            for split in made.of(audio.id, "stem_split")
            for stem in split.data["stems"]
        }
        self.masters: dict[str, Job] = {}  # stem -> its newest completed master
        for job in made.of(audio.id, "mastered"):
            if "stem_id" in job.data:
                self.masters[job.data["stem_id"]] = job

    def at(self, version: str, named: set[str] | None, body: dict[str, Any]) -> list[Member]:
        """`<version>_stems`: every stem of the track at `version`, a 409 when it has none;
        with `stem_ids` (`named`), the track's stems it names, a 409 for one of them that
        lacks the version, as for a stem selected alone."""
        if named is None:
            members = [m for stem_id in self.found if (m := self._at(version, stem_id, body))]
            if not members:
                raise ApiError(
                    409,
                    f"Version '{version}_stems' of audio {self.audio.id} does not exist yet: "
                    f"no completed stem split from the {version} track"
                    + (" and no mastered stem" if version == "mastered" else ""),
                )
            return members
        members = []
        for stem_id in [stem_id for stem_id in self.found if stem_id in named]:
            member = self._at(version, stem_id, body)
            if member is None:
                self._lacks(stem_id, version)
            members.append(member)
        return members

    def _at(self, version: str, stem_id: str, body: dict[str, Any]) -> Member | None:
        """Stem `stem_id` at `version` as `<version>_stems` holds it, or None."""
        split, stem = self.found[stem_id]
        if split.data["version"] == version:
            return self._member(version, stem, split, body)
        if version == "mastered" and stem_id in self.masters:
            return self._member(version, stem, self.masters[stem_id], body)
        return None

    def selected(self, selection: dict[str, Any], body: dict[str, Any]) -> Member:
        """One `stem_selections` entry: its stem at its version (`mastered_id`: that master
        of it, else its newest)."""
        split, stem = self.found[selection["stem_id"]]
        version = selection["version"]
        if version == "mastered" and selection.get("mastered_id"):
            master = _ready(self.made.ctx, selection["mastered_id"], "mastered")
            if master.data.get("stem_id") != stem.stem_id:
                raise ApiError(
                    404, f"{LABELS['mastered']} {master.id} not found for stem {stem.stem_id}"
                )
            return self._member(version, stem, master, body)
        if version == "mastered" and stem.stem_id in self.masters:
            return self._member(version, stem, self.masters[stem.stem_id], body)
        if version == split.data["version"]:
            return self._member(version, stem, split, body)
        self._lacks(stem.stem_id, version)

    def _lacks(self, stem_id: str, version: str) -> NoReturn:
        made_from = self.found[stem_id][0].data["version"]
        raise ApiError(
            409,
            f"Stem {stem_id} has no {version} version: it was split from the {made_from} "
            "track" + (" and is not mastered yet" if version == "mastered" else ""),
        )

    def _member(self, version: str, stem: Stem, job: Job, body: dict[str, Any]) -> Member:
        fmt = body.get("format") or "wav"
        path = f"{self.audio.id}/stems/{version}/{stem.name}-{stem.stem_id[:8]}.{fmt}"
        tone = job.data["tone"] if job.kind == "mastered" else stem.frequency
        return path, job.data["info"], tone, fmt
