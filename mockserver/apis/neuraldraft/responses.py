"""Neural Draft's HTTP handlers: jobs (create, read, cancel, stream), the posts they write,
webhook endpoints and deliveries."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.responses import Response, StreamingResponse

from mockserver.apis.neuraldraft import images, stream
from mockserver.apis.neuraldraft.models import (
    BLOG_FIELDS_PER_LOCALE,
    BLOG_INPUTS,
    CANCELLED,
    COMPLETED,
    KINDS,
    PENDING,
    TITLE_CHARS,
    clipped,
    image_size,
    landed_languages,
    percent_changes_at,
    progress_of,
    slugify,
    social_status,
    title_of,
    video_size,
)
from mockserver.apis.neuraldraft.posts import (
    TRANSLATION_FIELDS,
    BlogPost,
    SocialPost,
    Tag,
    tag_slug,
)
from mockserver.apis.neuraldraft.problems import CREDITS_CODES, PLAN_REQUIRED
from mockserver.apis.neuraldraft.webhooks import Endpoint, Event
from mockserver.engine.jobs import Job
from mockserver.engine.scenarios import Scenario
from mockserver.errors import ApiError, FieldError
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
    content_type = (ctx.info.content_type or "").split(";")[0].strip().lower()
    if content_type == "application/json" and isinstance(ctx.info.body, dict):
        return await ctx.body()  # an object already, parsed and found valid by the request check
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


def _start(
    ctx: Ctx,
    kind: str,
    data: dict[str, Any],
    magic: list[str | None],
    record: Callable[[str], Any] | None = None,
    premium: bool = False,
) -> Job:
    """A new job of `kind` with its scenario; 402 when the scenario says credits ran out, or
    says the project's plan is below Build and the job is `premium` (a premium video).

    `record(job_id)` registers what the job will write (a post) once the request is known to
    be accepted, so its id can go into the job's `result`.
    """
    scenario = ctx.scenario(*magic, takes=partial(_applies, premium))
    if scenario.outcome in CREDITS_CODES:
        raise ApiError(402, "The project's credit balance is too low to start this job.")
    if scenario.outcome == PLAN_REQUIRED:
        if premium:
            raise ApiError(
                402,
                "tier=premium requires a Build plan or higher; use tier=budget.",
                code=PLAN_REQUIRED,
            )
        # a project below Build starts everything else as usual
        scenario = Scenario(COMPLETED, scenario.options, scenario.source)
    job_id = "job_" + ctx.new_base62(12)
    data["server_url"] = ctx.server_url
    plan = ctx.plan(kind, scenario, data)  # a 400 for its scenario before anything is written
    if record is not None:
        record(job_id)
    return ctx.create_job(kind, job_id, scenario, data, plan=plan)


def _applies(premium: bool, queued: Scenario) -> bool:
    """Whether a queued scenario is this create's: a queued `plan_required` waits for a
    premium video, the one create it refuses (other creates leave it queued)."""
    return premium or queued.outcome != PLAN_REQUIRED


def _accepted(ctx: Ctx, job: Job, wrapped: bool = False) -> Response:
    """`202` with the Job; `wrapped`: as `{data: Job}` (the videos page's answer)."""
    body = _service(ctx).job_body(job, ctx.now, job.data["server_url"])
    return ctx.json({"data": body} if wrapped else body, 202)


async def create_blog_post(ctx: Ctx) -> Response:
    """`type: "ai"` starts the generation pipeline (202, a Job, whose post is written when it
    completes); anything else (the SDK's `type: "manual"`, or no type as in the docs' curl
    example) creates the post at once."""
    body = await json_body(ctx)
    if body.get("type") != "ai":
        return _create_manual_post(ctx, body)
    # a job keeps the fields it reads later, not whatever else the body held
    data: dict[str, Any] = {name: body[name] for name in BLOG_INPUTS if name in body}
    data["result"] = {}
    job = _start(ctx, "blog_post.generate", data, [body["topic"]])
    _service(ctx).blog_posts.expect(ctx.tenant, job.id)
    return _accepted(ctx, job)


def _create_manual_post(ctx: Ctx, body: dict[str, Any]) -> Response:
    service = _service(ctx)
    now = ctx.now
    sent: list[str | int] = body.get("tags", [])
    by_id = _tags_by_id(ctx, sent)  # an unknown id is a 422 before anything is written
    title: str = body["title"]
    wanted = body.get("slug")
    slug = _free_slug(ctx, wanted or slugify(title, "post"), taken_is_conflict=bool(wanted))
    tags = _post_tags(ctx, sent, by_id)
    post = service.blog_posts.add(
        ctx.tenant,
        lambda number: BlogPost(
            number,
            slug,
            title,
            body.get("status", "draft"),
            now,
            content=body.get("content"),
            excerpt=body.get("excerpt"),
            language_code=body.get("language_code", "en"),
            tags=tags,
            meta_title=body.get("meta_title"),
            meta_description=body.get("meta_description"),
            featured_image=body.get("featured_image"),
        ),
    )
    for tag in tags:  # each stays while the post does
        service.tags.revise(ctx.tenant, tag.id, partial(Tag.carried_by, post=post.id))
    shown = post.as_dict(now)
    if post.status == "published":
        key = f"{ctx.tenant}:blog_post:{post.id}:published"
        service.webhooks.emit(
            Event(key, ctx.tenant, "blog_post.published", now, {"blog_post": shown})
        )
    return ctx.json({"data": shown}, 201)


def _tags_by_id(ctx: Ctx, sent: list[str | int]) -> dict[int, Tag]:
    """The key's tags that `sent` names by id (the SDK's "Existing tag ids"; `3.0` is the
    JSON integer 3); a 422 on `tags.N` for an id the key has no tag under."""
    tags, found, errors = _service(ctx).tags, {}, []
    for index, value in enumerate(sent):
        if isinstance(value, str):
            continue
        tag = tags.get(ctx.tenant, int(value))
        if tag is None:
            message = f"Tag {int(value)} not found."
            errors.append(FieldError(("body", "tags", index), message, "value_error"))
        else:
            found[tag.id] = tag
    if errors:
        raise ApiError(422, errors[0].msg, errors=errors)
    return found


def _post_tags(ctx: Ctx, sent: list[str | int], by_id: dict[int, Tag]) -> list[Tag]:
    """`sent` as a post's tags, each once, in order: an id as `by_id` found it, a name as the
    key's tag of its slug (`tag_slug`), made the first time a post names it."""
    found: dict[int, Tag] = {}
    for value in sent:
        tag = _named_tag(ctx, value) if isinstance(value, str) else by_id[int(value)]
        found.setdefault(tag.id, tag)
    return list(found.values())


def _named_tag(ctx: Ctx, name: str) -> Tag:
    """The key's tag called `name` (or a name of the same slug), made now if it has none:
    once, whichever worker names it first. Its slug is always `tag_slug(name)`, not the
    free name `write_once` claimed (`weekly-2` for a worker racing another to make it)."""
    tags, slug = _service(ctx).tags, tag_slug(name)
    number, _ = tags.write_once(ctx.tenant, slug, slug, lambda n, _: Tag(n, name, slug))
    return tags.get(ctx.tenant, number) or Tag(number, name, slug)  # forgotten meanwhile


def _free_slug(ctx: Ctx, wanted: str, taken_is_conflict: bool = False) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`... when another post of the key has it, claimed
    for the post about to be made; a slug the client chose that is taken is the docs' `409
    conflict` ("slug already taken")."""
    posts = _service(ctx).blog_posts
    if not taken_is_conflict:
        return posts.claim_free(ctx.tenant, wanted)
    if not posts.claim(ctx.tenant, wanted):
        raise ApiError(409, f"The slug {wanted!r} is already taken.")
    return wanted


def _multipart(ctx: Ctx) -> bool:
    return (ctx.info.content_type or "").lower().startswith("multipart/form-data")


async def create_image(ctx: Ctx) -> Response:
    """Two modes, told apart by the Content-Type (the docs): JSON starts an `image.generate`
    job (202), multipart registers the uploaded `file` under `key` at once."""
    if _multipart(ctx):
        form = await ctx.body()
        return await images.register(ctx, form["key"], form["file"], must_exist=False, charged=True)
    body = await json_body(ctx)
    return _generate_image(ctx, body, body.get("key"))


def _generate_image(ctx: Ctx, body: dict[str, Any], key: str | None) -> Response:
    """An `image.generate` job; given a `key`, its image is addressable by it once done."""
    width, height = image_size(body.get("aspect_ratio") or "16:9")
    data = {
        "prompt": body["prompt"],
        "result": {
            "url": "",
            "key": key or f"images/{ctx.new_base62(12)}.png",
            "width": width,
            "height": height,
        },
    }
    job = _start(ctx, "image.generate", data, [body["prompt"]])
    if key is not None:
        images.expect_generated(ctx, job)
    return _accepted(ctx, job)


async def replace_image(ctx: Ctx) -> Response:
    """`PUT /images/{key}`: an upload replaces the image now (200); JSON `{prompt, ...}` (or
    `regenerate: true`) regenerates it with a job (202) that replaces it when done; both need
    an image of the project under the key (404). JSON `{url}` registers that URL under the
    key now, fetching nothing (201 for a new key, 200 for a replaced one)."""
    key = ctx.params()["key"]
    if _multipart(ctx):
        form = await ctx.body()
        return await images.register(ctx, key, form["file"], must_exist=True, charged=False)
    body = await json_body(ctx)
    if "prompt" not in body and body.get("regenerate") is not True:  # as the contract tells
        return images.register_url(ctx, key, body["url"])
    images.existing(ctx, key)
    return _generate_image(ctx, body, key)


async def list_images(ctx: Ctx) -> Response:
    """The SDK's `images.list`: the project's images by key, `prefix` narrowing them,
    paginated (`{data, meta}`)."""
    query = ctx.params()
    found = images.listed(ctx, query.get("prefix") or "")
    page = _page(found, query)
    page["data"] = images.shown(ctx, page["data"])  # only the page's generated links signed
    return ctx.json(page)


async def create_video(ctx: Ctx) -> Response:
    """`POST /videos`: a `video.generate` job, answered `202 {data: Job}`; its result's `url`
    links to an MP4 the mock serves. `tier: premium` with the scenario `plan_required` (a
    project below the Build plan) is a `402 plan_required`."""
    body = await json_body(ctx)
    width, height = video_size(body.get("aspect_ratio") or "9:16")
    tier = body.get("tier") or "budget"
    result = {
        "url": "",
        "width": width,
        "height": height,
        "duration_seconds": int(body.get("duration_seconds", 5)),
    }
    data = {"prompt": body["prompt"], "result": result}
    job = _start(ctx, "video.generate", data, [body["prompt"]], premium=tier == "premium")
    return _accepted(ctx, job, wrapped=True)


async def create_job(ctx: Ctx) -> Response:
    """`POST /v1/jobs`: social posts, content plans and websites; answers a
    `{job_id, status}` handle, not the Job."""
    body = await json_body(ctx)
    kind: str = body["type"]
    named = body.get("custom_title") or body.get("topic") or body.get("name")
    title = None if named is None else clipped(named, TITLE_CHARS)  # as its result shows it
    if kind == "social_post.generate":
        job = _start_social(ctx, title, body.get("platforms"), body.get("media_type"), named)
        return ctx.json({"job_id": job.id, "status": PENDING}, 202)
    result: dict[str, Any] = {}
    if kind == "content_plan.generate":
        result.update(
            content_plan_id="cp_" + ctx.new_base62(12),
            title=title or "Content plan",
            items_count=12,
        )
    else:  # website.generate
        site = slugify(title or "", "site-" + ctx.new_base62(6).lower())
        result.update(
            website_id="ws_" + ctx.new_base62(12),
            url=f"https://{site[:40].strip('-')}.neuraldraft.site",
            pages_count=5,
        )
    job = _start(ctx, kind, {"result": result}, [named])
    return ctx.json({"job_id": job.id, "status": PENDING}, 202)


def _start_social(
    ctx: Ctx,
    title: str | None,
    platforms: list[str] | None,
    media_type: str | None,
    magic: str | None,
) -> Job:
    """A `social_post.generate` job and the post it writes, registered with the job so its
    `result` names it from the start (`POST /jobs` and `POST /social-posts` in AI mode)."""
    chosen = list(dict.fromkeys(platforms or ["linkedin"]))
    result: dict[str, Any] = {}

    def record(job_id: str) -> None:
        social = _service(ctx).social_posts.add(
            ctx.tenant,
            lambda number: SocialPost(number, title or "Social post", chosen, media_type, job_id),
        )
        result.update(social_post_id=social.id, title=social.title, platforms=chosen)

    job = _start(ctx, "social_post.generate", {"result": result}, [magic], record)
    _service(ctx).settle(job)
    return job


async def create_social_post(ctx: Ctx) -> Response:
    """AI mode (`ai: {...}`) starts the job `POST /jobs` starts (202, the Job); manual mode
    saves the post as a draft with its per-platform copy (201)."""
    body = await json_body(ctx)
    ai = body.get("ai")
    if ai is not None:
        title = ai.get("topic")
        if title is None:  # about a blog post of the key (`1.0` is the JSON integer 1)
            post, _ = _blog_post(ctx, str(int(ai["post_id"])), field="ai.post_id")
            title = post.title
        job = _start_social(ctx, title_of(title), ai.get("platforms"), ai.get("media_type"), title)
        return _accepted(ctx, job)
    platforms: list[str] = list(dict.fromkeys(body["platforms"]))
    copy = {p: body[f"{p}_content"] for p in platforms if body.get(f"{p}_content") is not None}
    now = ctx.now
    social = _service(ctx).social_posts.add(
        ctx.tenant,
        lambda number: SocialPost(
            number, body["title"], platforms, body.get("media_type"), None, copy, now
        ),
    )
    return ctx.json({"data": social.as_dict("draft", now)}, 201)


# --- the posts jobs write -------------------------------------------------------------------


def _post_at(ctx: Ctx, post: BlogPost, job: Job | None) -> float | None:
    """When `post` was last written, or None while `job`, the job writing it (read for the
    post), has not completed. A post whose job the store evicted since stays, as written
    (unless the clock was set back to before that)."""
    if post.job_id is None:
        return post.created_at
    if job is None:
        return post.created_at if post.created_at <= ctx.now else None
    if progress_of(job, ctx.now).status != COMPLETED:
        return None
    return job.finished_at(ctx.now)


def _write_due_posts(ctx: Ctx) -> None:
    """The posts of the key's blog post jobs that completed and were not asked for yet,
    written in the order the jobs completed, before posts are read; a job that ended
    otherwise (or is forgotten) writes none and is no longer waited for."""
    service, tenant, now = _service(ctx), ctx.tenant, ctx.now
    expected = service.blog_posts.expected(tenant)
    if not expected:
        return
    ended: list[tuple[float, Job]] = []
    for job_id, job in zip(
        expected, ctx.state.store.read_ahead(service.name, tenant, expected), strict=True
    ):
        if job is None:  # forgotten
            service.blog_posts.not_expected(tenant, job_id)
            continue
        snap = job.snapshot(now)
        if snap.state == COMPLETED:
            ended.append((job.finished_at(now, snap) or now, job))
        elif snap.terminal:  # failed or cancelled: it writes no post
            service.blog_posts.not_expected(tenant, job_id)
    for _, job in sorted(ended, key=lambda pair: pair[0]):
        service.written_post(job, now)


def _readable_posts(ctx: Ctx) -> list[tuple[BlogPost, float]]:
    """The key's posts that can be read, and when each was last written; the jobs that wrote
    them read together (one round trip on Redis, not one per post)."""
    _write_due_posts(ctx)
    posts = _service(ctx).blog_posts.all(ctx.tenant)
    written = [post.job_id for post in posts if post.job_id is not None]
    read = ctx.state.store.read_ahead(ctx.service.name, ctx.tenant, written)
    jobs = dict(zip(written, read, strict=True))
    found = []
    for post in posts:
        at = _post_at(ctx, post, jobs.get(post.job_id) if post.job_id is not None else None)
        if at is not None:
            found.append((post, at))
    return found


def _blog_post(ctx: Ctx, id_or_slug: str, field: str | None = None) -> tuple[BlogPost, float]:
    """This key's readable post by integer id or slug, or a 404 (a 422 naming `field` when
    the id came in the body)."""
    _write_due_posts(ctx)
    posts = _service(ctx).blog_posts
    if _number(id_or_slug):
        post = posts.get(ctx.tenant, int(id_or_slug))
    else:
        post = posts.named(ctx.tenant, id_or_slug)
    if post is not None:
        job = None
        if post.job_id is not None:
            job = ctx.state.store.get(ctx.service.name, ctx.tenant, post.job_id)
        at = _post_at(ctx, post, job)
        if at is not None:
            return post, at
    message = f"Blog post {id_or_slug} not found."
    if field is not None:
        raise ApiError(
            422, message, errors=[FieldError(("body", *field.split(".")), message, "value_error")]
        )
    raise ApiError(404, message)


def _landed(ctx: Ctx, posts: list[BlogPost]) -> list[dict[str, float]]:
    """Per post, the languages its jobs landed by now and when (the latest of a language):
    its translation jobs', and the project's languages of the job that wrote it with
    `translate_to_all`; the jobs of all the posts read together."""
    wanted = [job_id for post in posts for job_id in post.translating()]
    read = ctx.state.store.read_ahead(ctx.service.name, ctx.tenant, wanted)
    jobs = dict(zip(wanted, read, strict=True))
    found = []
    for post in posts:
        languages: dict[str, float] = {}
        for job_id in post.translating():
            for lang, at in _landed_by(post, job_id, jobs.get(job_id), ctx.now):
                languages[lang] = max(at, languages.get(lang, at))
        found.append(languages)
    return found


def _landed_by(post: BlogPost, job_id: str, job: Job | None, now: float) -> list[tuple[str, float]]:
    """The languages the job `job_id` landed in `post` by `now`, and when: as the job says
    while the store keeps it, then as it settled them in the post."""
    if job is not None:
        return [(lang, at) for lang, at, _ in landed_languages(job, now)]
    return [(lang, at) for lang, at in post.settled.get(job_id, {}).items() if at <= now]


def _shown_post(ctx: Ctx, post: BlogPost, at: float) -> dict[str, Any]:
    return post.as_dict(at, _landed(ctx, [post])[0])


async def get_blog_post(ctx: Ctx) -> Response:
    post, at = _blog_post(ctx, ctx.params()["id"])
    return ctx.json({"data": _shown_post(ctx, post, at)})


async def list_translations(ctx: Ctx) -> Response:
    """The post's languages, its own first (`{data: [...]}`, the `translations[]` of the
    post)."""
    post, at = _blog_post(ctx, str(ctx.params()["id"]))
    return ctx.json({"data": _shown_post(ctx, post, at)["translations"]})


async def put_translation(ctx: Ctx) -> Response:
    """Writes the post's texts in one language (its own language: the post's texts) and
    answers that translation; the fields not sent keep what the language had."""
    body = await json_body(ctx)
    params = ctx.params()
    lang: str = params["lang"]
    post, at = _blog_post(ctx, str(params["id"]))
    now = ctx.now
    current: dict[str, Any] = next(
        (t for t in _shown_post(ctx, post, at)["translations"] if t["lang"] == lang), {}
    )
    texts: dict[str, Any] = {name: body.get(name, current.get(name)) for name in TRANSLATION_FIELDS}
    texts["content"] = texts["content"] or ""
    written = [*(texts[name] for name in TRANSLATION_FIELDS), now]

    def write(fresh: BlogPost) -> BlogPost:
        if lang == fresh.language_code:
            return replace(fresh, **texts)
        return replace(fresh, translations={**fresh.translations, lang: written})

    _service(ctx).blog_posts.revise(ctx.tenant, post.id, write)
    return ctx.json({"data": {"lang": lang, **texts}})


async def list_tags(ctx: Ctx) -> Response:
    """The key's tags, each made by the first post naming it, sorted by name
    (`{data: [{id, name, slug}]}`, with the ids its posts show)."""
    tags = sorted(_service(ctx).tags.all(ctx.tenant), key=lambda tag: (tag.name, tag.id))
    return ctx.json({"data": [tag.as_dict() for tag in tags]})


async def list_blog_posts(ctx: Ctx) -> Response:
    """Newest first, paginated; `status` and `tag` (a tag's name, or any of the same slug)
    filter."""
    query = ctx.params()
    tag = None if query.get("tag") is None else tag_slug(query["tag"])
    posts = [
        (post, at)
        for post, at in reversed(_readable_posts(ctx))
        if query.get("status") in (None, post.status)
        if tag is None or any(mine.slug == tag for mine in post.tags)
    ]
    page = _page(posts, query)  # only the page's posts shown, their jobs read
    listed: list[tuple[BlogPost, float]] = page["data"]
    landed = _landed(ctx, [post for post, _ in listed])
    page["data"] = [
        post.as_dict(at, langs) for (post, at), langs in zip(listed, landed, strict=True)
    ]
    return ctx.json(page)


def _page(items: list[Any], query: dict[str, Any]) -> dict[str, Any]:
    """`{data, meta: {page, page_size, total}}`, as the docs' deliveries list answers
    (`per_page` is the size the docs' Astro loader sends)."""
    page, size = query.get("page", 1), query.get("per_page") or query.get("page_size", 20)
    meta = {"page": page, "page_size": size, "total": len(items)}
    return {"data": items[(page - 1) * size : page * size], "meta": meta}


async def get_social_post(ctx: Ctx) -> Response:
    """A post a `social_post.generate` job wrote, once the job has ended."""
    raw = ctx.params()["id"]
    social = _service(ctx).social_posts.get(ctx.tenant, int(raw)) if _number(raw) else None
    if social is not None and social.job_id is None:  # manual: a draft
        return ctx.json({"data": social.as_dict("draft", social.created_at or ctx.now)})
    ended = None if social is None else _social_ending(ctx, social)
    if social is None or ended is None:
        raise ApiError(404, f"Social post {raw} not found.")
    return ctx.json({"data": social.as_dict(*ended)})


def _social_ending(ctx: Ctx, social: SocialPost) -> tuple[str, float] | None:
    """A generated social post's status and when its job ended it, or None while there is
    no post to read: as the job says while the store keeps it, then as it settled it."""
    job = ctx.state.store.get(ctx.service.name, ctx.tenant, social.job_id or "")
    if job is not None:
        status = social_status(job, ctx.now)
        return None if status is None else (status, job.finished_at(ctx.now) or ctx.now)
    if social.ended is None or social.ended[1] > ctx.now:
        return None
    return social.ended[0], social.ended[1]


def _number(text: str) -> bool:
    """An id as the real service's integer ids are written (and no longer than they get):
    ASCII digits only, as `int` reads other digits (`٤`, `１`) or refuses them (`²`, `①`)."""
    return text.isascii() and text.isdigit() and len(text) < 19


async def translate_blog_post(ctx: Ctx) -> Response:
    body = await json_body(ctx)  # a bad body is a 422 before the post is looked up
    post, _ = _blog_post(ctx, str(ctx.params()["id"]))
    job = _translate(ctx, body, {"source": "blog_post", "post_id": post.id}, None)
    # its languages show in the post's translations as they land (the last jobs kept)
    service = _service(ctx)
    service.blog_posts.revise(ctx.tenant, post.id, lambda kept: kept.translated_by_job(job.id))
    service.settle(job)
    return _accepted(ctx, job)


async def translate_content(ctx: Ctx) -> Response:
    key = ctx.params()["key"]
    body = await json_body(ctx)
    return _accepted(ctx, _translate(ctx, body, {"source": "content", "key": key}, key))


def _translate(ctx: Ctx, body: dict[str, Any], source: dict[str, Any], magic: str | None) -> Job:
    """One `translation.batch` job; `target_langs` (docs) wins over `target_languages` (SDK)."""
    locales = list(dict.fromkeys(body.get("target_langs") or body["target_languages"]))
    fields = BLOG_FIELDS_PER_LOCALE if source["source"] == "blog_post" else 1
    data = {
        **source,
        "locales": locales,
        "source_lang": body.get("source_lang", "en"),
        "result": {"keys_translated": fields * len(locales), "locales": locales},
    }
    return _start(ctx, "translation.batch", data, [magic])


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
    _observe(ctx, job)
    service, now = _service(ctx), ctx.now
    # a signed image link names its expiry second: it changes when the clock's second does
    # (the rate-limit headers differ on every answer: each replay gets its own)
    link = math.floor(now + service.state.config.link_ttl) + 1 - service.state.config.link_ttl
    ctx.fresh_until(job, until=min(percent_changes_at(job, now), link - 1e-3))
    return ctx.json(service.job_body(job, now, ctx.server_url))


def _observe(ctx: Ctx, job: Job) -> None:
    """A status read moves a per-poll job on; the read that ends it settles what it leaves
    (as a timed job did at its create) and makes its webhook events (`NeuralDraft.ended`)."""
    if not job.plan.per_poll:
        return
    running = not job.snapshot(ctx.now).terminal
    job.observe(ctx.now)
    if running and job.snapshot(ctx.now).terminal:
        _service(ctx).ended(job, ctx.now)


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
    service.cancelled(job)
    service.ended(job, now)
    return ctx.json(service.job_body(job, now, ctx.server_url))


async def stream_job(ctx: Ctx) -> Response:
    job = _own_job(ctx)
    service = _service(ctx)
    server_url = ctx.server_url
    jobs, tenant = ctx.state.store, ctx.tenant

    def current() -> Job | None:
        """The job as it is now (another worker may have cancelled, ended or moved it); None
        once it is forgotten (a reset): the job read here is no stand-in for it."""
        return jobs.get(service.name, tenant, job.id)

    def result(finished: Job) -> dict[str, Any]:
        return service.result(finished, ctx.state.now(), server_url)

    return StreamingResponse(
        stream.events(current, ctx.state.clock, service.wakeup, result),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- webhook endpoints and deliveries ------------------------------------------------------


async def list_webhook_endpoints(ctx: Ctx) -> Response:
    endpoints = _service(ctx).webhooks.endpoints(ctx.tenant)
    return ctx.json({"data": [endpoint.as_dict() for endpoint in endpoints]})


async def create_webhook_endpoint(ctx: Ctx) -> Response:
    body = await json_body(ctx)
    endpoint = _service(ctx).webhooks.create(
        ctx.tenant, body["url"], body["events"], body.get("is_active", True)
    )
    return ctx.json(endpoint.as_dict(with_secret=True), 201)


def _endpoint(ctx: Ctx) -> Endpoint:
    endpoint_id = ctx.params()["id"]
    endpoint = _service(ctx).webhooks.get(ctx.tenant, endpoint_id)
    if endpoint is None:
        raise ApiError(404, f"Webhook endpoint {endpoint_id} not found.")
    return endpoint


async def update_webhook_endpoint(ctx: Ctx) -> Response:
    endpoint = _endpoint(ctx)
    changes = await json_body(ctx)
    changed = _service(ctx).webhooks.update(endpoint, changes)
    if changed is None:  # deleted meanwhile
        raise ApiError(404, f"Webhook endpoint {endpoint.id} not found.")
    return ctx.json(changed.as_dict())


async def delete_webhook_endpoint(ctx: Ctx) -> Response:
    _service(ctx).webhooks.delete(_endpoint(ctx))
    return Response(status_code=204)


async def list_webhook_deliveries(ctx: Ctx) -> Response:
    """Newest first, filtered by `endpoint_id`, `status` and `event`, paginated."""
    query = ctx.params()
    wanted = {name: query.get(name) for name in ("endpoint_id", "status", "event")}
    shown = [
        delivery.as_dict(with_body=False)
        for delivery in _service(ctx).webhooks.deliveries(ctx.tenant)
        if all(value in (None, getattr(delivery, name)) for name, value in wanted.items())
    ]
    return ctx.json(_page(shown, query))


async def retry_webhook_delivery(ctx: Ctx) -> Response:
    """Queues one more attempt now; it goes out at the dispatcher's next tick."""
    webhooks = _service(ctx).webhooks
    delivery_id = ctx.params()["id"]
    delivery = webhooks.delivery(ctx.tenant, delivery_id)
    if delivery is None:
        raise ApiError(404, f"Webhook delivery {delivery_id} not found.")
    retried = webhooks.retry(delivery)
    if retried is None:
        raise ApiError(409, f"The endpoint of delivery {delivery_id} is deleted or paused.")
    return ctx.json(retried.as_dict(), 202)
