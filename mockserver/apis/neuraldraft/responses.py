"""Neural Draft's HTTP handlers: jobs (create, read, cancel, stream) and webhook endpoints."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.responses import Response, StreamingResponse

from mockserver.apis.neuraldraft import stream
from mockserver.apis.neuraldraft.models import (
    BLOG_FIELDS_PER_LOCALE,
    CANCELLED,
    KINDS,
    image_size,
    progress_of,
    slugify,
    title_of,
)
from mockserver.apis.neuraldraft.problems import CREDITS_CODES
from mockserver.engine.ids import base62
from mockserver.engine.jobs import Job
from mockserver.engine.scenarios import MAGIC, Scenario
from mockserver.errors import ApiError
from mockserver.service import Ctx

if TYPE_CHECKING:
    from mockserver.apis.neuraldraft import NeuralDraft


def _service(ctx: Ctx) -> NeuralDraft:
    return ctx.service  # type: ignore[return-value]


# --- request bodies -------------------------------------------------------------------------


async def json_body(ctx: Ctx) -> dict[str, Any]:
    """The JSON object sent, checked against the contract.

    A body that is not a JSON object sent as `application/json` is a 400; one that breaks the
    schema is a 422 naming each field.
    """
    content_type = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await ctx.request.body()
    if content_type != "application/json":
        shown = content_type or "none"
        raise ApiError(400, f"Send the body as application/json (Content-Type was {shown}).")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return await ctx.body()


# --- creating jobs --------------------------------------------------------------------------


def _magic(ctx: Ctx, texts: list[str | None]) -> list[str]:
    """`mock-<word>` markers that name a scenario this API knows ("mock-up" is just text)."""
    known = _service(ctx).scenario_words()
    return [
        match.group(0)
        for text in texts
        for match in MAGIC.finditer(text or "")
        if match.group(1).lower() in known
    ]


def _start(
    ctx: Ctx, kind: str, data: dict[str, Any], magic: list[str | None], *aliases: str
) -> Job:
    """A new job of `kind` with its scenario; 402 when the scenario says credits ran out."""
    scenario = ctx.scenario(*_magic(ctx, magic))
    if scenario.outcome in CREDITS_CODES:
        raise ApiError(402, "The project's credit balance is too low to start this job.")
    data["server_url"] = ctx.server_url
    return ctx.create_job(kind, "job_" + base62(ctx.rng, 12), scenario, data, *aliases)


def _accepted(ctx: Ctx, job: Job) -> Response:
    return ctx.json(_service(ctx).job_body(job, ctx.now, ctx.server_url), 202)


async def create_blog_post(ctx: Ctx) -> Response:
    body = await json_body(ctx)
    topic: str = body["topic"]
    post_id = "post_" + base62(ctx.rng, 12)
    result = {
        "post_id": post_id,
        "slug": slugify(topic, post_id.lower().replace("_", "-")),
        "title": title_of(topic),
    }
    data = {**body, "result": result}
    job = _start(ctx, "blog_post.generate", data, [topic], f"post:{post_id}")
    return _accepted(ctx, job)


async def create_image(ctx: Ctx) -> Response:
    body = await json_body(ctx)
    width, height = image_size(body.get("aspect_ratio") or "16:9")
    key = body.get("key") or f"images/{base62(ctx.rng, 12)}.png"
    data = {**body, "result": {"url": "", "key": key, "width": width, "height": height}}
    return _accepted(ctx, _start(ctx, "image.generate", data, [body["prompt"]]))


async def create_job(ctx: Ctx) -> Response:
    """`POST /v1/jobs`: social posts; answers a `{job_id, status}` handle, not the Job."""
    body = await json_body(ctx)
    title = body.get("custom_title")
    result = {
        "social_post_id": "sp_" + base62(ctx.rng, 12),
        "title": title or "Social post",
        "platforms": list(dict.fromkeys(body.get("platforms") or ["linkedin"])),
    }
    job = _start(ctx, body["type"], {**body, "result": result}, [title])
    return ctx.json({"job_id": job.id, "status": "pending"}, 202)


async def translate_blog_post(ctx: Ctx) -> Response:
    post_id = ctx.params()["id"]
    body = await json_body(ctx)
    post = ctx.state.store.get(ctx.service.name, ctx.tenant, f"post:{post_id}")
    if post is None or progress_of(post, ctx.now).status != "completed":
        raise ApiError(404, f"Blog post {post_id} not found.")
    return _translate(ctx, body, {"source": "blog_post", "post_id": post_id}, None)


async def translate_content(ctx: Ctx) -> Response:
    key = ctx.params()["key"]
    body = await json_body(ctx)
    return _translate(ctx, body, {"source": "content", "key": key}, key)


def _translate(
    ctx: Ctx, body: dict[str, Any], source: dict[str, Any], magic: str | None
) -> Response:
    """One `translation.batch` job; `target_langs` (docs) wins over `target_languages` (SDK)."""
    locales = list(dict.fromkeys(body.get("target_langs") or body["target_languages"]))
    fields = BLOG_FIELDS_PER_LOCALE if source["source"] == "blog_post" else 1
    data = {
        **source,
        "locales": locales,
        "source_lang": body.get("source_lang", "en"),
        "result": {"keys_translated": fields * len(locales), "locales": locales},
    }
    return _accepted(ctx, _start(ctx, "translation.batch", data, [magic]))


# --- reading, cancelling, streaming ---------------------------------------------------------


def _own_job(ctx: Ctx) -> Job:
    """This key's job named in the path (its own id, not an alias), or a 404."""
    job_id = ctx.params()["id"]
    job = ctx.job(job_id, *KINDS, what="Job")
    if job.id != job_id:
        raise ApiError(404, f"Job {job_id} not found.")
    return job


async def get_job(ctx: Ctx) -> Response:
    job = _own_job(ctx)
    job.observe(ctx.now)
    return ctx.json(_service(ctx).job_body(job, ctx.now, ctx.server_url))


async def cancel_job(ctx: Ctx) -> Response:
    """Ends a live job now; the steps it finished stay finished. A finished job is a 409."""
    service = _service(ctx)
    with ctx.state.lock:
        job = _own_job(ctx)
        now = ctx.now
        state = progress_of(job, now)
        if state.terminal:
            raise ApiError(409, f"Job {job.id} is already {state.status}.")
        job.force(now, service.outcome(job.kind, Scenario(CANCELLED, {}, "cancel")))
    service.wakeup.fire()
    return ctx.json(service.job_body(job, now, ctx.server_url))


async def stream_job(ctx: Ctx) -> Response:
    job = _own_job(ctx)
    service = _service(ctx)
    server_url = ctx.server_url

    def result(finished: Job) -> dict[str, Any]:
        return service.result(finished, ctx.state.now(), server_url)

    return StreamingResponse(
        stream.events(job, ctx.state.clock, service.wakeup, result),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- webhook endpoints ----------------------------------------------------------------------


async def list_webhook_endpoints(ctx: Ctx) -> Response:
    endpoints = _service(ctx).webhooks.endpoints(ctx.tenant)
    return ctx.json({"data": [endpoint.as_dict() for endpoint in endpoints]})


async def create_webhook_endpoint(ctx: Ctx) -> Response:
    body = await json_body(ctx)
    endpoint = _service(ctx).webhooks.create(
        ctx.tenant, body["url"], body["events"], body.get("is_active", True)
    )
    return ctx.json(endpoint.as_dict(with_secret=True), 201)


def _endpoint(ctx: Ctx):
    endpoint_id = ctx.params()["id"]
    endpoint = _service(ctx).webhooks.get(ctx.tenant, endpoint_id)
    if endpoint is None:
        raise ApiError(404, f"Webhook endpoint {endpoint_id} not found.")
    return endpoint


async def update_webhook_endpoint(ctx: Ctx) -> Response:
    endpoint = _endpoint(ctx)
    changes = await json_body(ctx)
    return ctx.json(_service(ctx).webhooks.update(endpoint, changes).as_dict())


async def delete_webhook_endpoint(ctx: Ctx) -> Response:
    _service(ctx).webhooks.delete(_endpoint(ctx))
    return Response(status_code=204)
