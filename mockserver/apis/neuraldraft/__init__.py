"""Neural Draft: content-generation jobs (blog posts, translations, images, social posts,
content plans, websites), the posts they write, their live progress as Server-Sent Events,
and signed webhook deliveries."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.apis.neuraldraft import images, responses
from mockserver.apis.neuraldraft.guards import (
    DOCUMENTED_LIMIT,
    IDEMPOTENCY_HEADER,
    Idempotency,
    Limits,
    RateLimiter,
    fingerprint,
    idempotency_key,
)
from mockserver.apis.neuraldraft.models import (
    CANCELLED,
    CANCELLED_MESSAGE,
    COMPLETED,
    CONTRACT,
    CYCLES,
    EPSILON,
    FAILED,
    KINDS,
    RESULT_FILES,
    STOP_SHARE,
    Steps,
    job_body,
    job_events,
    landed_languages,
    lasting_languages,
    mp4,
    png,
    result_of,
    settled,
    slugify,
    social_status,
    steps_for,
    title_of,
)
from mockserver.apis.neuraldraft.posts import BlogPost, Registry, SocialPost, Tag
from mockserver.apis.neuraldraft.problems import CREDITS_CODES, PLAN_REQUIRED, problem
from mockserver.apis.neuraldraft.stream import Wakeup
from mockserver.apis.neuraldraft.webhooks import Happening, Webhooks
from mockserver.contracts.lifecycle import end_states
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Outcome, Plan, stretch
from mockserver.engine.scenarios import STALLED, Scenario, ScenarioError
from mockserver.errors import ApiError, FieldError
from mockserver.service import MULTIPART, REFUSED_ON_PURPOSE, ApiService, Ctx, Handler
from mockserver.state import MockState
from mockserver.stores import StoreError

API_KEY = re.compile(r"^ndsk_(live|test)_\S+$")
KEY_FORMS = "Authorization: Bearer ndsk_live_... or ndsk_test_..."
CANCELLED_TOPIC = "neuraldraft:cancelled"  # published through the store when a job is cancelled
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
RATE_LIMIT_NAMES = frozenset(name.lower().encode() for name in RATE_LIMIT_HEADERS)
COUNTED = "mockserver.neuraldraft.limits"  # in a request's scope: its window, once counted
REFUSALS = (*CREDITS_CODES, PLAN_REQUIRED)  # scenario words that answer the create a 402
MULTIPART_BOUNDARY = re.compile(
    r"^\s*multipart/form-data\s*;.*?\bboundary=(\"[^\"]+\"|[^;\s]+)", re.I
)


class NeuralDraft(ApiService):
    name = "neuraldraft"
    prefix = "/neuraldraft"
    base_path = "/v1"
    hosts = ("api.neuraldraft.io",)
    auth_header = "authorization"
    key_format = "ndsk_test_{tenant}"
    outcomes = end_states(CYCLES.values())
    scenario_options = ("code",)  # a failed job's `error.code`
    contract_path = CONTRACT
    strategies = "mockserver.contracts.strategies.neuraldraft"
    schemathesis = (
        # The event stream lasts as long as its job: minutes on the system clock, for ever on
        # a manual clock nobody moves. The events of its first half second are enough to check
        # their shape (a stream cut at its deadline is kept, not counted as a timeout).
        {"include-operation-id": "stream_job", "request-timeout": 0.5},
        # A POST whose Idempotency-Key and body the service has seen gets the first answer
        # again for 24 h, as from the real service. schemathesis reuses such keys, so a
        # replayed 201 can name a webhook endpoint or an image that a DELETE has removed
        # since: the 404 that follows is right.
        {
            "include-operation-id": [
                *["update_webhook_endpoint", "delete_webhook_endpoint"],
                *["get_image", "replace_image", "delete_image"],
            ],
            "checks.ensure_resource_availability.enabled": False,
        },
        # An upload is judged by its bytes: schemathesis's random `file` is no image, a
        # documented 422 on `file` (and a form's values travel as text, see MULTIPART).
        {
            "include-operation-id": ["create_image", "replace_image"],
            **MULTIPART,
            "checks.positive_data_acceptance.expected-statuses": REFUSED_ON_PURPOSE,
        },
        # `ai.post_id` must name a blog post of the key, and a tag given by id one of its
        # tags: a random one is a documented 422.
        {
            "include-operation-id": ["create_social_post", "create_blog_post"],
            "checks.positive_data_acceptance.expected-statuses": REFUSED_ON_PURPOSE,
        },
        # A key has at most 50 webhook endpoints (`webhooks.MAX_ENDPOINTS`), and a run of
        # more examples registers more under its one key: the 51st valid endpoint gets the
        # documented 400 that says so. Only that status is added to schemathesis's own list
        # (a 422 for a URL the contract's pattern takes would still fail the run).
        {
            "include-operation-id": "create_webhook_endpoint",
            "checks.positive_data_acceptance.expected-statuses": (
                ["400", "2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
            ),
        },
    )
    wrong_media_status = 400  # the docs' bad_request: "not sent as application/json"
    own_header_names = RATE_LIMIT_NAMES

    def __init__(self, state: MockState) -> None:
        super().__init__(state)
        limit, store = state.config.rate_limit, state.backend
        self.limiter = RateLimiter(limit or DOCUMENTED_LIMIT, limit is not None, store, self.name)
        if state.config.credits_error_code not in CREDITS_CODES:
            raise ValueError(
                f"credits_error_code must be one of {', '.join(CREDITS_CODES)}, "
                f"not {state.config.credits_error_code!r}"
            )
        self.credits_code = state.config.credits_error_code
        self.idempotency = Idempotency(store, self.name)
        capacity = state.config.store_capacity
        self.blog_posts: Registry[BlogPost] = Registry(
            store,
            self.name,
            "blog-posts",
            capacity,
            name_of=lambda post: post.slug,
            source_of=lambda post: post.job_id,
        )
        self.social_posts: Registry[SocialPost] = Registry(store, self.name, "social", capacity)
        # by slug: a tag is made once per key (`write_once`, its slug the source), whichever
        # worker's post names it first; the names it claims only index the tags. A tag a kept
        # post carries stays past the capacity: the posts bound those
        self.tags: Registry[Tag] = Registry(
            store,
            self.name,
            "tags",
            capacity,
            name_of=lambda tag: tag.slug,
            source_of=lambda tag: tag.slug,
            kept=lambda tenant, tag: self.blog_posts.get(tenant, tag.carrier) is not None,
        )
        # by key; a generation given a key is expected until its job has ended
        self.images: Registry[images.Image] = Registry(
            store, self.name, "images", capacity, name_of=lambda image: image.key
        )
        self.webhooks = Webhooks(state, self.name, job_events, self._event_data)
        self.wakeup = Wakeup()  # open streams, told when a cancel changes a job
        store.subscribe(self._heard)

    def routes(self) -> list[Route]:
        return [
            self.route("/v1/blog-posts", responses.list_blog_posts),
            self.route("/v1/blog-posts", responses.create_blog_post, ["POST"]),
            self.route("/v1/blog-posts/{id}", responses.get_blog_post),
            self.route("/v1/blog-posts/{id}/translate", responses.translate_blog_post, ["POST"]),
            self.route("/v1/blog-posts/{id}/translations", responses.list_translations),
            self.route(
                "/v1/blog-posts/{id}/translations/{lang}", responses.put_translation, ["PUT"]
            ),
            self.route("/v1/content/{key}/translate", responses.translate_content, ["POST"]),
            self.route("/v1/images", responses.list_images),
            self.route("/v1/images", responses.create_image, ["POST"]),
            self.route("/v1/images/{key}", images.get_image),
            self.route("/v1/images/{key}", responses.replace_image, ["PUT"]),
            self.route("/v1/images/{key}", images.delete_image, ["DELETE"]),
            self.route("/v1/jobs", responses.create_job, ["POST"]),
            self.route("/v1/jobs/{id}", responses.get_job),
            self.route("/v1/jobs/{id}/cancel", responses.cancel_job, ["POST"]),
            self.route("/v1/jobs/{id}/stream", responses.stream_job),
            self.route("/v1/social-posts", responses.create_social_post, ["POST"]),
            self.route("/v1/social-posts/{id}", responses.get_social_post),
            self.route("/v1/tags", responses.list_tags),
            self.route("/v1/videos", responses.create_video, ["POST"]),
            self.route("/v1/webhook-deliveries", responses.list_webhook_deliveries),
            self.route(
                "/v1/webhook-deliveries/{id}/retry", responses.retry_webhook_delivery, ["POST"]
            ),
            self.route("/v1/webhook-endpoints", responses.list_webhook_endpoints),
            self.route("/v1/webhook-endpoints", responses.create_webhook_endpoint, ["POST"]),
            self.route("/v1/webhook-endpoints/{id}", responses.update_webhook_endpoint, ["PATCH"]),
            self.route("/v1/webhook-endpoints/{id}", responses.delete_webhook_endpoint, ["DELETE"]),
        ]

    # --- around every handler: key, rate limit, idempotency, error format --------------------

    def route(self, path: str, handler: Handler, methods: Any = ("GET",)) -> Route:
        """Every route counts against the key's rate limit and replays idempotent POSTs."""

        async def guarded(ctx: Ctx) -> Response:
            limits = self._counted(ctx.request, ctx.tenant)
            try:
                response = await self._idempotent(ctx, handler)
            except ApiError as error:
                error.headers = {**limits.headers(), **error.headers}
                raise
            _add_headers(response, limits)
            return response

        return super().route(path, guarded, methods)

    def _idempotent(self, ctx: Ctx, handler: Handler) -> Awaitable[Response]:
        """The handler's answer; for a POST with an Idempotency-Key, the first answer again
        (the usual request, with none, awaits the handler itself: one coroutine less)."""
        if ctx.request.scope["method"] != "POST" or ctx.info.header(IDEMPOTENCY_HEADER) is None:
            return handler(ctx)
        return self._replayed(ctx, handler)

    async def _replayed(self, ctx: Ctx, handler: Handler) -> Response:
        key = idempotency_key(ctx.request.scope)  # a 400 before the body is read
        body = _same_form(ctx.info.content_type or "", await ctx.request.body())
        return await self.idempotency.run(
            ctx.tenant,
            key,
            fingerprint(ctx.request.method, ctx.api_path, body),
            ctx.now,
            lambda: handler(ctx),
        )

    def _counted(self, request: Request, tenant: str) -> Limits:
        """The key's window with this request in it, counted once: the handler's answer and
        an error written for the request after it (a late refusal) share one count."""
        scope = request.scope  # not `request.state`: a State object made per request
        limits: Limits | None = scope.get(COUNTED)
        if limits is None:
            limits = scope[COUNTED] = self.limiter.hit(tenant, self.state.now())
        return limits

    def _windowed(self, request: Request, error: ApiError) -> ApiError:
        """`error` with the key's `X-RateLimit-*` headers. What is answered outside the
        handlers (an injected fault, strict mode's refusal, a body past its limit, an unknown
        path or method) counts too, as every authenticated request does: a 429 instead once
        the window is used up. A request without a valid key counts nothing, nor does one
        answered while the store is down."""
        if any(name.lower().encode() in RATE_LIMIT_NAMES for name in error.headers):
            return error  # counted already: the handler's, or the window's own 429
        try:
            limits = self._counted(request, self.tenant_of(request))
        except ApiError as refused:  # no valid key, or the window is used up
            return refused if refused.status == 429 else error
        except StoreError:
            return error
        error.headers = {**limits.headers(), **error.headers}
        return error

    def own_headers(self, tenant: str, now: float) -> list[tuple[bytes, bytes]] | None:
        """A poll answered from the cache counts against the limit too; a refused one is
        left to the handler (its 429)."""
        try:
            limits = self.limiter.hit(tenant, now)
        except ApiError:
            return None
        return list(limits.encoded())

    def tenant_of(self, request: Request) -> str:
        """`Bearer ndsk_live_...` or `Bearer ndsk_test_...`; anything else is a 401, missing
        and refused keys too, each with `WWW-Authenticate: Bearer` (RFC 7235: a 401 names
        the scheme it wants)."""
        try:
            key = super().tenant_of(request)
            if not API_KEY.match(key):
                raise ApiError(401, "Invalid API key: expected " + KEY_FORMS)
        except ApiError as error:
            if error.status == 401:
                error.headers.setdefault("WWW-Authenticate", "Bearer")
            raise
        return key

    def missing_key_message(self) -> str:
        return "Missing API key: send " + KEY_FORMS

    def error_response(self, request: Request, error: ApiError) -> Response:
        """RFC 7807; a 422's `detail` names the fields in words, `errors` lists them.

        A body that is no JSON object at all is a 400 here, also when strict mode's request
        check is the one that caught it; so is a body missing a required field, at any depth
        (the errors page: "400 bad_request — Malformed request — invalid JSON, missing
        required body field"), its `detail` naming the fields as `errors` would, also when
        other fields are bad too: the malformed request is told first.
        """
        error = self._windowed(request, error)
        if error.status == 422:  # an image upload's refusals, in plain words
            error.errors = images.plain_words(request, error.errors)
        if error.status == 422 and any(_not_an_object(e) for e in error.errors):
            error = ApiError(400, "Request body must be a JSON object.", headers=error.headers)
        if error.status == 422 and any(_missing(e) for e in error.errors):
            error = ApiError(400, _missing_detail(error.errors), headers=error.headers)
        if error.status != 422 and error.errors:  # `errors` belongs to 422 only
            message = error.errors[0].msg
            error = ApiError(error.status, message, code=error.code, headers=error.headers)
        if error.status == 422 and error.errors:
            fields = "; ".join(f"{e.field}: {e.msg}" for e in error.errors)
            error.detail = f"One or more fields failed validation: {fields}"
        if error.status == 402 and error.code != PLAN_REQUIRED:
            error.code = self.credits_code  # whichever version of the errors page it follows
        return problem(request, error)

    # --- scenarios and plans -----------------------------------------------------------------

    @classmethod
    def scenario_words(cls) -> set[str]:
        return {*super().scenario_words(), *REFUSALS}

    @classmethod
    def outcome_word(cls, scenario: Scenario) -> str:
        """`out_of_credits` and `insufficient_credits` are words too: the create request
        answers 402; and `plan_required`: a premium video's create answers 402. A `code=`
        is a failed job's `error.code`: with another word it would change nothing."""
        word = scenario.outcome if scenario.outcome in REFUSALS else super().outcome_word(scenario)
        if "code" in scenario.options and word != FAILED:
            raise ScenarioError(
                f"code= applies to {FAILED} only (a failed job's error.code), not to {word}"
            )
        return word

    def outcome(self, kind: str, scenario: Scenario) -> Outcome:
        if scenario.outcome in REFUSALS:
            raise ScenarioError(
                f"{scenario.outcome} refuses the create request (402); it is not a job outcome"
            )
        return super().outcome(kind, scenario)

    def default_message(self, kind: str, word: str) -> str | None:
        if word == CANCELLED:
            return CANCELLED_MESSAGE
        return KINDS[kind].failure_message if word == FAILED else None

    def plan(self, kind: str, scenario: Scenario, inputs: dict[str, Any]) -> Plan:
        """Queue, then one phase per step. A failing or cancelled job stops `after=` seconds
        in (default: part of the way through), its finished steps kept; an `after=` at or
        past the job's usual length stretches the steps, so that it is honoured too. Per
        poll it stops part of the way through, counted in reads.

        The uncut plan goes to `inputs["timeline"]` (the job's data): it tells later which
        steps had finished when the job was cut short. Without scenario options both plans
        depend on the steps and the outcome alone: they are made once and shared.
        """
        steps = steps_for(kind, inputs)
        if scenario.options:
            timeline, plan = self._plans(kind, steps, scenario)
        else:
            usual = (kind, steps, scenario.outcome)
            timeline, plan = self.usual_plan(usual, lambda: self._plans(kind, steps, scenario))
        inputs["timeline"] = timeline
        return plan

    def _plans(self, kind: str, steps: Steps, scenario: Scenario) -> tuple[Plan, Plan]:
        """(timeline, plan): the uncut plan and the one the job follows. A failing or
        cancelled job stops before its last step ends: it never shows every step done."""
        seconds = sum(weight for _, weight, _ in steps)
        outcome = self.outcome(kind, scenario)
        if outcome.state in (COMPLETED, STALLED):
            timeline = self.timed_plan(list(steps), seconds, scenario, outcome)
            return timeline, timeline
        options = {k: v for k, v in scenario.options.items() if k != "after"}
        whole = Scenario(COMPLETED, options, scenario.source)
        timeline = self.timed_plan(list(steps), seconds, whole, Outcome(COMPLETED))
        share = STOP_SHARE[outcome.state]
        if timeline.per_poll:  # positions count status reads (`after=` is refused with it)
            return timeline, timeline.cut(float(round(timeline.length * share)), outcome)
        stop = scenario.number("after", timeline.length * share) or 0.0
        if stop > timeline.length - EPSILON:
            # when the job would have finished, or later: its steps stretched, as `after=`
            # stretches any API's, for it to stop as far through them as it does by default
            timeline = stretch(list(steps), stop / share, Outcome(COMPLETED), per_poll=False)
        return timeline, timeline.cut(stop, outcome)

    # --- rendering ---------------------------------------------------------------------------

    def job_body(self, job: Job, now: float, server_url: str) -> dict[str, Any]:
        return job_body(job, now, lambda j: self.result(j, now, server_url))

    def result(self, job: Job, now: float, server_url: str) -> dict[str, Any]:
        """A completed job's `result` (a blog post job's post is written when first asked)."""
        if job.kind == "blog_post.generate":
            return dict(self.written_post(job, now))
        return result_of(job, lambda j: self.file_url(j.id, RESULT_FILES[j.kind], now, server_url))

    def written_post(self, job: Job, now: float) -> dict[str, Any]:
        """`{post_id, slug, title}` of the post the completed blog post `job` wrote: written
        now if nothing asked before (see `posts`). Kept in the job's result as well."""
        result: dict[str, Any] = job.data["result"]
        if "post_id" not in result:
            topic: str = job.data["topic"]
            at = job.finished_at(now) or now

            def make(number: int, slug: str) -> BlogPost:
                return BlogPost.generated(number, slug, topic, at, job.id, lasting_languages(job))

            wanted = slugify(topic, "post")
            number, slug = self.blog_posts.write_once(job.tenant, job.id, wanted, make)
            result.update(post_id=number, slug=slug, title=title_of(topic))
        return result

    def file_url(self, job_id: str, name: str, now: float, server_url: str) -> str:
        """A signed link to the PNG or MP4 (`name`) the job `job_id` generated, expiring on
        the server clock; the job itself is not read (the store may have evicted it: the link
        answers 404 then)."""
        expires = int(now + self.state.config.link_ttl)
        return server_url + self.state.signer.path(job_id, name, expires)

    def settle(self, job: Job) -> None:
        """Note what `job` leaves in the key's content once that is known for good
        (`models.settled`): the languages a translation lands in its post, a generated social
        post's ending. The store evicts ended jobs; a post stays, and shows these then. Called
        at the job's create, and again when a cancel, an admin transition or its last status
        read ends it."""
        if not settled(job):
            return
        if job.kind == "translation.batch" and job.data["source"] == "blog_post":
            languages = lasting_languages(job)
            self.blog_posts.revise(
                job.tenant, job.data["post_id"], lambda post: post.settle(job.id, languages)
            )
        elif job.kind == "social_post.generate":
            status = social_status(job, math.inf)
            ended = None if status is None else [status, job.finished_at(math.inf)]
            self.social_posts.revise(
                job.tenant,
                job.data["result"]["social_post_id"],
                lambda social: replace(social, ended=ended),
            )

    def ended(self, job: Job, now: float) -> None:
        """A request (a cancel, the status read that ends a per-poll job) just ended `job`:
        what it leaves is settled, and its webhook events are made now, as the store may
        evict it before the next tick makes them (an admin transition ticks at once)."""
        self.settle(job)
        self.webhooks.ended(job, now)

    def after_transition(self, job: Job, now: float) -> None:
        self.settle(job)

    def evicting(self, job: Job, now: float) -> None:
        """A timed job the clock ended may be evicted before the next tick makes its events
        (on a running clock, within the second between ticks): they are made now."""
        self.ended(job, now)

    def retire(self, key: str) -> None:
        self.webhooks.forget(key)

    def close(self) -> None:
        self.webhooks.close()

    def render_file(self, job: Job, name: str) -> tuple[bytes, str]:
        if RESULT_FILES.get(job.kind) != name:
            raise ApiError(404, "No such file")
        result = job.data["result"]
        if job.kind == "video.generate":
            return mp4(result["duration_seconds"]), "video/mp4"
        return png(result["width"], result["height"], job.data["prompt"]), "image/png"

    def _event_data(self, job: Job, happening: Happening) -> dict[str, Any]:
        """The data of the webhook event `job` triggered (`job_events` says which): the job
        as it stood at the event's time and position, however much later the dispatcher
        makes it (one language of several landed: the job is still at work, also when the
        reads of a per-poll job that moved it on were made at that same time)."""
        _, subject, at, position = happening
        job = job.as_at(position)
        data: dict[str, Any] = {"job": self.job_body(job, at, job.data["server_url"])}
        if job.kind == "blog_post.generate":
            post_id = self.written_post(job, at)["post_id"]
            if subject:  # one of the project's languages, landed with the post
                data.update(lang=subject, blog_post={"id": post_id})
            elif (post := self.blog_posts.get(job.tenant, post_id)) is not None:
                landed = {lang: when for lang, when, _ in landed_languages(job, at)}
                data["blog_post"] = post.as_dict(at, landed)
        elif job.kind == "social_post.generate":
            social = self.social_posts.get(job.tenant, job.data["result"]["social_post_id"])
            if social is not None:
                data["social_post"] = social.as_dict(social_status(job, at) or FAILED, at)
        elif subject:  # a translation: one language landed
            data["lang"] = subject
            data.update(
                {"blog_post": {"id": job.data["post_id"]}}
                if job.data["source"] == "blog_post"
                else {"key": job.data["key"]}
            )
        return data

    def cancelled(self, job: Job) -> None:
        """`job` was just cancelled: the open streams of every worker sharing the store read it
        again, so it is kept now rather than when the request ends."""
        self.state.store.save(job)
        self.state.backend.publish(CANCELLED_TOPIC)

    def _heard(self, topic: str, message: str) -> None:
        if topic == CANCELLED_TOPIC:
            self.wakeup.fire()


def _add_headers(response: Response, limits: Limits) -> None:
    """`response.headers.update(limits.headers())`: appended as they are when the answer has
    none of them yet (the usual case; each `MutableHeaders` update looked through them all)."""
    if any(name in RATE_LIMIT_NAMES for name, _ in response.raw_headers):
        response.headers.update(limits.headers())
    else:
        response.raw_headers.extend(limits.encoded())


def _same_form(content_type: str, body: bytes) -> bytes:
    """A multipart body with its boundary made one constant: clients draw a new boundary per
    request, and a retried upload is the same request (for its Idempotency-Key)."""
    found = MULTIPART_BOUNDARY.search(content_type)
    if found is None:
        return body
    return body.replace(b"--" + found.group(1).strip('"').encode("latin-1"), b"--boundary")


def _missing(error: FieldError) -> bool:
    """A required body field not sent (a form field sent empty is sent: see `plain_words`)."""
    return error.type == "missing" and error.loc[:1] == ("body",)


def _missing_detail(errors: list[FieldError]) -> str:
    """The 400's words: the missing fields named as the `errors` map would (`prompt`,
    `ai.topic`), then the body's other problems, so that one answer tells all to fix."""
    missing = list(dict.fromkeys(e.field for e in errors if _missing(e)))
    plural = "s" if len(missing) > 1 else ""
    detail = f"Missing required body field{plural}: {', '.join(missing)}."
    others = "; ".join(f"{e.field}: {e.msg}" for e in errors if not _missing(e))
    return f"{detail} Also invalid: {others}" if others else detail


def _not_an_object(error: FieldError) -> bool:
    """Unparseable JSON, or JSON that is not an object (what strict mode reports as 422)."""
    return error.type == "json_invalid" or (
        error.loc == ("body",) and error.type == "model_attributes_type"
    )
