"""NeuroLinker's HTTP handlers: submit, status of requests and documents, results, ZIPs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.datastructures import UploadFile
from starlette.responses import Response

from mockserver import strictjson
from mockserver.apis.neurolinker import content, fields, pdf, schemagen
from mockserver.apis.neurolinker.models import (
    ARCHIVE,
    COMPLETED,
    DOCUMENT,
    FAILED,
    FAILURE_MESSAGE,
    FIELDS,
    FULL,
    MAX_DOCUMENTS,
    NO_CREDITS,
    NO_CREDITS_MESSAGE,
    PENDING,
    PROCESSING,
    REQUEST,
    SCALARS,
    DocumentFile,
    aggregate_word,
    clean_file_name,
    document_words,
    magic_words,
    queue_behind_stall,
    request_plan,
    schedule,
    url_file_name,
    user_uid,
)
from mockserver.contracts.validate import check, upload_expected
from mockserver.engine.clock import MICROS_Z
from mockserver.engine.jobs import Job, JobStore
from mockserver.engine.plan import Outcome, Plan
from mockserver.engine.scenarios import STALLED, Scenario, ScenarioError, refusal
from mockserver.errors import ApiError, FieldError, invalid
from mockserver.service import Ctx

Handler = Callable[[Ctx], Awaitable[Response]]
# one object each: their validators are cached
EXTRACT_FORM = {"$ref": "#/components/schemas/ExtractForm"}
EXTRACT_FIELDS_FORM = {"$ref": "#/components/schemas/ExtractFieldsForm"}
NO_FILES = {"", "[]"}  # the docs' URL mode sends a text part `documents=[]`
PDF_TYPE = "application/pdf"
# Starlette's `max_part_size`: FastAPI refuses a longer text part before any parser reads it
MAX_FORM_BYTES = 1024 * 1024
UNPARSED = "There was an error parsing the body"  # FastAPI's 400 for a form it cannot read
URL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # C0 controls (NUL, tab, newline...) and DEL
BAD_HOST = re.compile(r"[ <>\\^|]")  # what pydantic finds no domain name in (controls above)
# Pages of full extractions one `/documents/*` answer holds (the mock's limit): ten documents
# of the most pages, a 5 MB answer; a hundred of them made 54 MB from a 4 KB request
ANSWER_PAGES = 10_000
WRONG_PIPELINE = {  # the error entry of a result asked of a document another pipeline made
    FULL: "Document was not processed through full extraction",
    FIELDS: "Document was not processed through field extraction",
    SCALARS: "Document was not processed through markdown field extraction",
}


# --- submit ------------------------------------------------------------------------------------


async def extract(ctx: Ctx) -> Response:
    """Full extraction: one request, one document job per file or URL."""
    return await _submit(ctx, FULL, EXTRACT_FORM)


async def extract_fields(ctx: Ctx) -> Response:
    """Field extraction: as `extract`, plus the JSON Schema each document's payload follows."""
    return await _submit(ctx, FIELDS, EXTRACT_FIELDS_FORM)


async def _submit(ctx: Ctx, pipeline: str, form_schema: dict[str, str]) -> Response:
    _form_sent(ctx)
    body = await ctx.body()
    form = _parse_form(ctx, body["form"], form_schema)
    uploads = _uploads(body.get("documents"))
    urls: list[str] = form.get("documents_url") or []
    _one_mode(uploads, urls)
    documents = [await _read_upload(upload, i) for i, upload in enumerate(uploads)] or (
        await anyio.to_thread.run_sync(_stand_ins, urls)
    )
    extra: dict[str, Any] = {"pipeline": pipeline}
    schema = form.get("json_schema") if pipeline == FIELDS else None
    if schema is not None:
        extra["json_schema"] = schema
    request_id = await _create_request(ctx, form, documents, [extra] * len(documents), schema)
    return ctx.json({"request_uid": request_id, "status": PROCESSING})


def _form_sent(ctx: Ctx) -> None:
    """FastAPI reads a form endpoint's body as a form whatever its content type: a body that
    is not a form (JSON, text) is one without fields, so `form` is missing."""
    content_type = ctx.request.headers.get("content-type", "").lower()
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise invalid(FieldError(("body", "form"), "Field required", "missing"))


async def _create_request(
    ctx: Ctx,
    form: dict[str, Any],
    documents: list[DocumentFile],
    extras: list[dict[str, Any]],
    schema: Any = None,
    schema_loc: tuple[str, ...] = ("body", "form", "json_schema"),
) -> str:
    """The request job and one job per document, planned from the request's scenario; each
    document's data adds its `extras` (pipeline, schema, source document). Each document's
    payload of `schema` is drawn before any job exists, so a schema that cannot be filled
    leaves nothing behind."""
    scenario = ctx.scenario(*(d.source_url or d.file_name for d in documents))
    words = _words(ctx, scenario, documents)
    request_id = ctx.new_uuid()
    owner = user_uid(ctx.tenant)
    enrichment = form.get("enrichment_mode") or "base"
    scale = ctx.state.scenarios.profile.duration_scale
    timing = schedule(documents, scenario.number("after"), scale, scenario.per_poll)
    jobs = []
    for index, (document, word, (queued, working), extra) in enumerate(
        zip(documents, words, timing, extras, strict=True)
    ):
        document_id = ctx.new_uuid()
        full = extra["pipeline"] == FULL
        data = {
            "request_id": request_id,
            "file": document,
            "images": tuple(f"{ctx.new_uuid()}.png" for _ in range(document.pages)) if full else (),
            "enrichment_mode": enrichment,
            "user_uid": owner,
            "schedule": (queued, working),
            "works": word != STALLED or index == words.index(STALLED),
            **extra,
        }
        jobs.append((document_id, _document_scenario(scenario, word, document), data))
    if schema is not None:
        drawn = await _payloads(schema, [document_id for document_id, _, _ in jobs], schema_loc)
        for (_, _, data), payload in zip(jobs, drawn, strict=True):
            data["fields"] = payload
    made = [ctx.create_job(DOCUMENT, *job) for job in jobs]
    request = {
        "documents": [document_id for document_id, _, _ in jobs],
        "user_uid": owner,
        "alias": form.get("alias"),
        "description": form.get("description"),
        "enrichment_mode": enrichment,
    }
    whole = _request_scenario(scenario, words)
    # planned from the documents just made, not read back from the store one by one
    ctx.create_job(REQUEST, request_id, whole, request, plan=request_plan(made, whole.per_poll))
    return request_id


async def _payloads(schema: Any, document_ids: list[str], loc: tuple[str, ...]) -> list[Any]:
    """Each document's payload, drawn in a worker thread: up to a tenth of a second a document
    (`drawsize.MAX_MS`), ten seconds for a hundred documents."""
    try:
        return await anyio.to_thread.run_sync(fields.payloads, schema, document_ids)
    except fields.Unfillable as exc:
        raise invalid(FieldError(loc, f"Value error, {exc}", "value_error", schema)) from None


async def extract_fields_from_markdown(ctx: Ctx) -> Response:
    """Scalar fields from completed full extractions: one new document per accepted source,
    mapped in `document_map`; the others are listed in `skipped` with the reason."""
    body = await ctx.body()
    problem = fields.problem(body["json_schema"], ("body", "json_schema"))
    if problem is not None:
        raise invalid(problem)
    wanted = list(dict.fromkeys(body["document_ids"]))  # each source once, in order
    sources, skipped = [], []
    for source_id, job in zip(wanted, _documents_read(ctx, wanted), strict=True):
        reason = _not_a_source(ctx, job)
        if job is not None and reason is None:
            sources.append(job)
        else:
            skipped.append({"document_uid": source_id, "reason": reason})
    if not sources:
        raise ApiError(400, "No document to process: every document_id was skipped")
    schema = body["json_schema"]
    extras = [
        {"pipeline": SCALARS, "json_schema": schema, "source_document_id": job.id}
        for job in sources
    ]
    files = [job.data["file"] for job in sources]
    request_id = await _create_request(ctx, body, files, extras, schema, ("body", "json_schema"))
    request = ctx.job(request_id, REQUEST, what="Request")
    return ctx.json(
        {
            "request_uid": request_id,
            "status": PROCESSING,
            "document_map": [
                {"source_document_uid": job.id, "document_uid": new}
                for job, new in zip(sources, request.data["documents"], strict=True)
            ],
            "skipped": skipped,
        }
    )


def _documents_read(ctx: Ctx, document_ids: list[str]) -> list[Job | None]:
    """This tenant's documents by ID (None where there is none yet), read in one go: one
    store round trip for a hundred IDs, not one each."""
    found = ctx.state.store.read_ahead(ctx.service.name, ctx.tenant, document_ids)
    return [
        job if job is not None and job.kind == DOCUMENT and job.created_at <= ctx.now else None
        for job in found
    ]


def _not_a_source(ctx: Ctx, job: Job | None) -> str | None:
    """Why a document cannot feed markdown field extraction; None when it can."""
    if job is None:
        return "Document not found"
    if pipeline_of(job) != FULL:
        return WRONG_PIPELINE[FULL]
    status = state_of(job, ctx.now).status
    if status != COMPLETED:
        return f"Document extraction not completed (status: {status})"
    return None


async def generate_schema(ctx: Ctx) -> Response:
    """Synchronous and free: a JSON Schema for the fields the description names."""
    description = (await ctx.body())["description"]
    schema = schemagen.generate(description)
    if schema is None:
        raise invalid(
            FieldError(
                ("body", "description"),
                "Value error, the description names no field to extract",
                "value_error",
                description,
            )
        )
    return ctx.json(
        {
            "success": True,
            "json_schema": schema,
            "message": "Schema generated successfully. "
            "Review and edit before submitting to /extract-fields.",
        }
    )


async def tasks(ctx: Ctx) -> Response:
    """This token's requests, oldest first, with their status now."""
    requests = sorted(
        (job for job in ctx.state.store.jobs(ctx.service.name, ctx.tenant) if job.kind == REQUEST),
        key=lambda job: job.created_at,
    )
    listed = []
    for request in requests:
        if request.created_at > ctx.now:
            continue
        documents = _kept_documents(ctx, request)
        if documents is None:
            continue  # evicted with its documents, as request-status would say
        words = [state_of(job, ctx.now).status for job in documents]
        listed.append(
            {
                "request_id": request.id,
                "status": aggregate_word(words),
                "total_documents": len(documents),
                "start_time": ctx.iso(request.created_at),
            }
        )
    return ctx.json(
        {
            "success": True,
            "tasks": {"requests": listed},
            "message": f"Found {len(listed)} processing tasks",
        }
    )


def _parse_form(ctx: Ctx, raw: Any, schema: dict[str, str]) -> dict[str, Any]:
    """`form` is JSON text of an object, a pydantic `Json` field: text that is not JSON is
    refused in jiter's words, a lone UTF-16 surrogate escape too (`json` takes it, jiter does
    not). It nests no deeper than a JSON body may (`max_json_depth`), and holds no number no
    answer could hold again. Its keys are checked against the operation's form schema, and a
    field extraction's `json_schema` must be one the mock can fill. Past `MAX_FORM_BYTES` it
    is FastAPI's 400, as Starlette's form parser refuses so long a text part."""
    if not isinstance(raw, str):
        raise invalid(FieldError(("body", "form"), "Input should be a valid string", "string_type"))
    if len(raw) * 4 > MAX_FORM_BYTES and len(raw.encode(errors="surrogatepass")) > MAX_FORM_BYTES:
        raise ApiError(400, UNPARSED)
    most = ctx.state.config.max_json_depth
    try:
        form = strictjson.loads(raw)
    except RecursionError:  # deeper than the parser goes
        raise invalid(_json_invalid(raw, f"nested deeper than {most} levels")) from None
    except json.JSONDecodeError as exc:  # in jiter's words (`json`'s, were jiter to take it)
        raise invalid(_json_invalid(raw, _jiter_error(raw) or exc.msg)) from None
    except strictjson.NotJsonNumber:  # which jiter takes: an error of its own comes first
        raise invalid(_json_invalid(raw, _jiter_error(raw) or strictjson.NOT_A_NUMBER)) from None
    if strictjson.may_hold_surrogate(raw) and (error := _jiter_error(raw)) is not None:
        raise invalid(_json_invalid(raw, error))  # taken, every later status poll was a 500
    if not isinstance(form, dict):
        raise invalid(
            FieldError(("body", "form"), "Input should be a valid dictionary", "dict_type", raw)
        )
    if fields.depth(form, most) > most:
        raise invalid(_json_invalid(raw, f"nested deeper than {most} levels"))
    urls = form.get("documents_url")
    # past MAX_DOCUMENTS the contract refuses the list whole, its URLs unread
    urls = urls if isinstance(urls, list) and len(urls) <= MAX_DOCUMENTS else []
    url_locs = {
        ("body", "form", "documents_url", i) for i, url in enumerate(urls) if isinstance(url, str)
    }
    problems = [
        FieldError.of(p)
        for p in check(ctx.operation(), schema, form, "body/form")
        if p.loc not in url_locs  # string URLs are judged below, in pydantic's words
    ]
    problems += [
        problem
        for index, url in enumerate(urls)
        if isinstance(url, str) and (problem := _url_problem(url, index)) is not None
    ]
    if schema is EXTRACT_FIELDS_FORM and not problems:
        problem = fields.problem(form["json_schema"], ("body", "form", "json_schema"))
        problems += [problem] if problem else []
    if problems:
        raise invalid(*problems)
    return form


def _json_invalid(raw: str, error: str) -> FieldError:
    """pydantic's `json_invalid`: the parser's message, prefixed, and as `ctx.error`."""
    return FieldError(
        ("body", "form"), f"Invalid JSON: {error}", "json_invalid", raw, {"error": error}
    )


def _jiter_error(raw: str) -> str | None:
    """What pydantic's parser says of `raw`; None when it takes it."""
    from mockserver.apis.neurolinker import jsonerrors  # its patterns compile in 20 ms

    return jsonerrors.error(raw)


def _url_problem(url: str, index: int) -> FieldError | None:
    """An absolute http(s) URL is needed: the service fetches it. Judged as pydantic's
    `HttpUrl` does, in its words, but for control characters: pydantic percent-encodes them
    in a path, the mock refuses them anywhere (a mock decision: the document is named after
    the path, and a NUL in a file name reaches every result and ZIP)."""
    loc = ("body", "form", "documents_url", index)
    reason = _url_parsing_problem(url)
    if reason is not None:
        return FieldError(loc, f"Input should be a valid URL, {reason}", "url_parsing", url)
    if urlsplit(url).scheme not in ("http", "https"):
        return FieldError(loc, "URL scheme should be 'http' or 'https'", "url_scheme", url)
    return None


def _url_parsing_problem(url: str) -> str | None:
    """Why the URL does not parse (pydantic's reason), or None."""
    if URL_CONTROL.search(url):
        return "control characters are not allowed"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        return str(exc)
    if not parts.scheme or not parts.netloc:
        return "relative URL without a base"
    try:
        parts.port  # noqa: B018  # a property that raises on a port that is not 0-65535
    except ValueError:
        return "invalid port number"
    if not parts.hostname:
        return "empty host"
    if BAD_HOST.search(parts.hostname):
        return "invalid international domain name"
    return None


def _uploads(value: Any) -> list[UploadFile]:
    """The file parts; a text part `[]` (docs' URL mode) means none, other text is refused.
    At most MAX_DOCUMENTS of them (a mock decision: the docs name no limit)."""
    values = value if isinstance(value, list) else [] if value is None else [value]
    if len(values) > MAX_DOCUMENTS:
        raise invalid(
            FieldError(
                ("body", "documents"),
                f"List should have at most {MAX_DOCUMENTS} items after validation, "
                f"not {len(values)}",
                "too_long",
                [getattr(item, "filename", item) for item in values],
                {"field_type": "List", "max_length": MAX_DOCUMENTS, "actual_length": len(values)},
            )
        )
    uploads, problems = [], []
    for index, item in enumerate(values):
        if isinstance(item, UploadFile):
            uploads.append(item)
        elif str(item).strip() not in NO_FILES:
            problems.append(
                FieldError(
                    ("body", "documents", index),
                    upload_expected(item),
                    "value_error",
                )
            )
    if problems:
        raise invalid(*problems)
    return uploads


def _one_mode(uploads: list[UploadFile], urls: list[str]) -> None:
    if uploads and urls:
        raise invalid(
            FieldError(
                ("body", "form", "documents_url"),
                "Provide either uploaded documents or documents_url, not both",
                "value_error",
            )
        )
    if not uploads and not urls:
        raise invalid(
            FieldError(
                ("body", "documents"),
                "Provide at least one document: a `documents` file part or form.documents_url",
                "missing",
            )
        )


async def _read_upload(upload: UploadFile, index: int) -> DocumentFile:
    """What the mock keeps of one file part. The PDF is read in a worker thread: even bounded,
    a large one takes a second the event loop must not wait. More than `pdf.MAX_PAGES`
    pages is a 422 (a mock decision: the docs name no limit)."""
    data = await upload.read()
    reading = await anyio.to_thread.run_sync(pdf.read, data)
    name = clean_file_name(upload.filename, index)
    if reading.too_long:
        raise invalid(
            FieldError(
                ("body", "documents", index),
                f"Value error, the PDF has more than {pdf.MAX_PAGES} pages, "
                "the most the mock reads of one document",
                "value_error",
                name,
            )
        )
    return DocumentFile(
        file_name=name,
        size=len(data),
        pages=reading.pages or pdf.DEFAULT_PAGES,
        pages_counted=reading.pages is not None,
        texts=reading.texts,
        sha256=hashlib.sha256(data).hexdigest(),
        encrypted=reading.encrypted,
    )


def _stand_ins(urls: list[str]) -> list[DocumentFile]:
    """Every URL's stand-in PDF, made and read in a worker thread: a hundred take 70 ms."""
    return [_stand_in(url, index) for index, url in enumerate(urls)]


def _stand_in(url: str, index: int) -> DocumentFile:
    """URLs are not fetched: a small synthetic PDF named after the URL stands in."""
    name = url_file_name(url, index)
    data = pdf.synthetic_pdf(f"{name} - page 1")
    reading = pdf.read(data)
    return DocumentFile(
        file_name=name,
        size=len(data),
        pages=pdf.DEFAULT_PAGES,
        pages_counted=False,
        texts=reading.texts,
        sha256=hashlib.sha256(data).hexdigest(),
        source_url=url,
    )


def _words(ctx: Ctx, scenario: Scenario, documents: list[DocumentFile]) -> list[str]:
    """Each document's outcome word; 402 when the scenario says the credits are gone."""
    try:
        if scenario.source == "magic":
            chosen = magic_words([d.source_url or d.file_name for d in documents])
            words = (
                chosen
                if isinstance(chosen, list)
                else [NO_CREDITS]
                if chosen == NO_CREDITS
                else document_words(Scenario(chosen, {}, "magic"), len(documents))
            )
        else:
            word = ctx.service.outcome_word(scenario).lower()
            words = [NO_CREDITS] if word == NO_CREDITS else document_words(scenario, len(documents))
    except ScenarioError as exc:
        raise ApiError(400, refusal(exc, scenario)) from None
    if NO_CREDITS in words:
        needed = sum(d.credits for d in documents)
        raise ApiError(402, f"{NO_CREDITS_MESSAGE}: this request needs {needed} credits")
    return queue_behind_stall(words)


def _request_scenario(scenario: Scenario, words: list[str]) -> Scenario:
    """What the admin API shows for the request: magic inputs choose per document."""
    if scenario.source != "magic":
        return scenario
    return Scenario("magic: " + ", ".join(words), {}, "magic")


def _document_scenario(scenario: Scenario, word: str, document: DocumentFile) -> Scenario:
    """A document's share of the request's scenario: its own word, the timing mode, the
    failure message. Unless a scenario was chosen explicitly, an encrypted PDF fails."""
    options = {k: v for k, v in scenario.options.items() if k in ("mode", "message")}
    if document.encrypted and word == COMPLETED and scenario.source in ("default", "magic"):
        return Scenario(FAILED, {**options, "message": pdf.ENCRYPTED_MESSAGE}, scenario.source)
    return Scenario(word, options, scenario.source)


# --- status ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentState:
    """Where one document stands now, as both status endpoints show it."""

    status: str
    started_at: float | None
    completed_at: float | None
    error: str | None


def state_of(job: Job, now: float) -> DocumentState:
    snap = job.snapshot(now)
    if not snap.terminal:
        started = job.time_of(job.plan.phases[0].duration) if snap.state == PROCESSING else None
        return DocumentState(snap.state, started, None, None)
    assert snap.outcome is not None
    finished = job.finished_at(now)
    worked = len(job.plan.phases) > 1  # a document forced while queued never started
    started = job.time_of(job.plan.phases[0].duration) if worked else finished
    error = (snap.outcome.message or FAILURE_MESSAGE) if snap.outcome.state == FAILED else None
    return DocumentState(snap.outcome.state, started, finished, error)


def documents_of(ctx: Ctx, request: Job) -> list[Job]:
    """A request's documents; once the store has evicted any of them, the request is gone too."""
    documents = _kept_documents(ctx, request)
    if documents is None:
        raise ApiError(404, f"Request {request.id} not found")
    return documents


def _kept_documents(ctx: Ctx, request: Job) -> list[Job] | None:
    """A request's documents, read together; None once the store has evicted any of them."""
    found = ctx.state.store.read_ahead(ctx.service.name, ctx.tenant, request.data["documents"])
    documents = [job for job in found if job is not None]
    return documents if len(documents) == len(found) else None


async def request_status(ctx: Ctx) -> Response:
    request = ctx.job(ctx.params()["request_id"], REQUEST, what="Request")
    documents = documents_of(ctx, request)
    for job in (request, *documents):
        job.observe(ctx.now)
    ctx.fresh_until(request, *documents)
    states = [state_of(job, ctx.now) for job in documents]
    words = [state.status for state in states]
    status = aggregate_word(words)
    finished = [s.completed_at for s in states if s.completed_at is not None]
    return ctx.json(
        {
            "success": True,
            "request_id": request.id,
            "status": status,
            "documents": [
                _entry(ctx, job, state) for job, state in zip(documents, states, strict=True)
            ],
            "total": len(documents),
            "completed": words.count(COMPLETED),
            "failed": words.count(FAILED),
            "processing": words.count(PENDING) + words.count(PROCESSING),
            "job_page_url": ctx.page_url(request),
            "total_size_bytes": sum(job.data["file"].size for job in documents),
            "started_at": ctx.iso(request.created_at),
            "completed_at": ctx.iso(max(finished)) if status != PROCESSING else None,
        }
    )


def _entry(ctx: Ctx, job: Job, state: DocumentState) -> dict[str, Any]:
    """A document inside the request status: `result` is null until it ends."""
    result = None
    if state.status in (COMPLETED, FAILED):
        result = {
            "file_name": job.data["file"].file_name,
            "file_type": PDF_TYPE,
            "started_at": ctx.iso(state.started_at, MICROS_Z),
            "file_size_bytes": job.data["file"].size,
            "user_uid": job.data["user_uid"],
            "total_pages": _pages(job, state),
            "completed_at": ctx.iso(state.completed_at, MICROS_Z),
            "results": _results(job, state),
            "status": state.status,
            "billing": _billing(ctx, job, state),
        }
        if state.status == FAILED:
            result["error"] = state.error
    return {
        "document_id": job.id,
        "filename": job.data["file"].file_name,
        "status": state.status,
        "result": result,
        "document_page_url": _page_url(ctx, job, state),
    }


def _page_url(ctx: Ctx, job: Job, state: DocumentState) -> str | None:
    """The document's page in the web app: only once it completed (the backend spec's
    `DocumentStatusResponse`: "only when completed"), so null while it runs and when it failed."""
    return ctx.page_url(job) if state.status == COMPLETED else None


def _pages(job: Job, state: DocumentState) -> int | None:
    """Known once processing starts; a document failed before it started has none."""
    never_read = len(job.plan.phases) < 2 or job.data["file"].encrypted
    if state.status == PENDING or (state.status == FAILED and never_read):
        return None
    return job.data["file"].pages


def _results(job: Job, state: DocumentState) -> dict[str, Any] | None:
    if state.status != COMPLETED:
        return None
    return {"storage_path": _folder(job), "cropped_images": list(job.data["images"])}


def _billing(ctx: Ctx, job: Job, state: DocumentState) -> dict[str, Any] | None:
    """Credits are captured when a document completes; failed documents cost nothing."""
    if state.status != COMPLETED:
        return None
    return {
        "type": "capture",
        "amount": job.data["file"].credits,
        "at": ctx.iso(state.completed_at, MICROS_Z),
    }


def _folder(job: Job) -> str:
    return f"uploads/{job.data['user_uid']}/{job.data['request_id']}/{job.id}/"


def _moving_with(ctx: Ctx, document: Job) -> list[Job]:
    """The jobs a status read of `document` moves on: itself, or, per poll, its request and
    every document of it, as a read of the request's status moves them. Else a document read
    on its own would start before the ones ahead of it had ended."""
    if not document.plan.per_poll:
        return [document]
    request = ctx.state.store.get(ctx.service.name, ctx.tenant, document.data["request_id"])
    documents = None if request is None else _kept_documents(ctx, request)
    return [document] if request is None or documents is None else [request, *documents]


async def document_status(ctx: Ctx) -> Response:
    job = ctx.job(ctx.params()["document_id"], DOCUMENT, what="Document")
    for each in _moving_with(ctx, job):
        each.observe(ctx.now)
    ctx.fresh_until(job)
    state = state_of(job, ctx.now)
    body = {
        "success": True,
        "document_id": job.id,
        "request_id": job.data["request_id"],
        "status": state.status,
        "file_name": job.data["file"].file_name,
        "file_type": PDF_TYPE,
        "file_size_bytes": job.data["file"].size,
        "total_pages": _pages(job, state),
        "user_uid": job.data["user_uid"],
        "started_at": ctx.iso(state.started_at, MICROS_Z),
        "completed_at": ctx.iso(state.completed_at, MICROS_Z),
        "results": _results(job, state),
        "document_page_url": _page_url(ctx, job, state),
    }
    if state.status == FAILED:
        body["error"] = state.error
    return ctx.json(body)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultKind:
    """One `/documents/*` endpoint: which stored file it describes and what `content` holds."""

    file_name: Callable[[Job, dict[str, Any]], str]
    content: Callable[[Ctx, Job, dict[str, Any]], Any]
    pipeline: str = FULL  # the pipeline whose documents have this result


def _markdown_name(job: Job, body: dict[str, Any]) -> str:
    return content.markdown_file(job.data["file"])


def _json_name(job: Job, body: dict[str, Any]) -> str:
    return content.json_file(job.data["file"])


def _fixed(name: str) -> Callable[[Job, dict[str, Any]], str]:
    return lambda job, body: name


def _markdown(ctx: Ctx, job: Job, body: dict[str, Any]) -> str:
    return content.markdown(*_parts(job), body.get("content_types"))


def _json(ctx: Ctx, job: Job, body: dict[str, Any]) -> dict[str, Any]:
    return content.structured(*_parts(job), body.get("content_types"))


def _images(ctx: Ctx, job: Job, body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**image, "download_url": ctx.file_url(job, f"images/{image['file_name']}")}
        for image in content.image_list(job.data["images"])
    ]


def _fields_name(job: Job, body: dict[str, Any]) -> str:
    """`{file_name}_fields.json` (docs); markdown field extraction's `_scalars.json` (inferred)."""
    return content.file_name(job.data["file"].stem, f"_{pipeline_of(job)}.json")


def _fields(ctx: Ctx, job: Job, body: dict[str, Any]) -> Any:
    return job.data["fields"]


def pipeline_of(job: Job) -> str:
    return str(job.data.get("pipeline", FULL))


def _parts(job: Job) -> tuple[str, DocumentFile, tuple[str, ...], str]:
    return job.id, job.data["file"], job.data["images"], job.data["enrichment_mode"]


RESULTS: dict[str, ResultKind] = {
    "markdown": ResultKind(_markdown_name, _markdown),
    "json": ResultKind(_json_name, _json),
    "images": ResultKind(_fixed(content.IMAGES_FILE), _images),
    "page-summaries": ResultKind(
        _fixed(content.PAGE_SUMMARIES_FILE),
        lambda ctx, job, body: content.page_summaries(job.data["file"]),
    ),
    "section-summaries": ResultKind(
        _fixed(content.SECTION_SUMMARIES_FILE),
        lambda ctx, job, body: content.section_summaries(job.data["file"]),
    ),
    "document-summary": ResultKind(
        lambda job, body: content.summary_file(body["summary_type"]),
        lambda ctx, job, body: content.document_summary(job.data["file"], body["summary_type"]),
    ),
    "fields": ResultKind(_fields_name, _fields, FIELDS),
    "scalars": ResultKind(_fields_name, _fields, SCALARS),
}


async def results(ctx: Ctx) -> Response:
    """Every `/documents/*` endpoint: one entry per requested ID, failures as entries. An ID
    asked twice is answered once: each entry may hold a thousand pages. The IDs (at most
    MAX_DOCUMENTS, the contract's `maxItems`) are read in one go and judged here; the
    entries are built and written in a worker thread, as ZIPs are: 300 documents of a
    thousand pages took ten seconds, every other request waiting."""
    body = await ctx.body()
    kind = RESULTS[ctx.api_path.rsplit("/", 1)[-1]]
    wanted = list(dict.fromkeys(body["document_ids"]))
    judged = [
        _judged(ctx, kind, document_id, job)
        for document_id, job in zip(wanted, _documents_read(ctx, wanted), strict=True)
    ]
    pages = sum(job.data["file"].pages for job in judged if isinstance(job, Job))
    if kind.pipeline == FULL and pages > ANSWER_PAGES:
        raise invalid(
            FieldError(
                ("body", "document_ids"),
                f"Value error, the documents asked for hold {pages:,} pages, more than the "
                f"{ANSWER_PAGES:,} one answer holds (the mock's limit): ask for fewer at once",
                "value_error",
                body["document_ids"],
            )
        )
    return await anyio.to_thread.run_sync(_answer, ctx, kind, body, judged)


def _judged(ctx: Ctx, kind: ResultKind, document_id: str, job: Job | None) -> Job | dict[str, Any]:
    """The document, when its result can be served now; else its error entry."""
    if job is None:
        return _failed_entry(document_id, None, "Document not found")
    name = job.data["file"].file_name
    if pipeline_of(job) != kind.pipeline:
        return _failed_entry(document_id, name, WRONG_PIPELINE[kind.pipeline])
    status = state_of(job, ctx.now).status
    if status in (PENDING, PROCESSING):
        return _failed_entry(
            document_id, name, f"Document extraction not completed (status: {status})"
        )
    if status == FAILED:
        return _failed_entry(document_id, name, "Document extraction failed")
    return job


def _answer(
    ctx: Ctx, kind: ResultKind, body: dict[str, Any], judged: list[Job | dict[str, Any]]
) -> Response:
    """The answer, built and written in a worker thread: its entries are the costly part."""
    entries = [
        item if isinstance(item, dict) else _result(ctx, kind, item, body) for item in judged
    ]
    failed = sum(1 for entry in entries if "error" in entry)
    total = len(entries)
    answer: dict[str, Any] = {
        "success": failed == 0,
        "results": entries,
        "total": total,
        "successful": total - failed,
        "failed": failed,
    }
    if kind is RESULTS["images"]:  # the backend spec's DocumentImagesResponse adds this count
        answer["total_images"] = sum(
            len(entry["content"]) for entry in entries if "error" not in entry
        )
    answer["message"] = (
        f"Retrieved {total - failed} of {total} documents" if total else "No documents requested"
    )
    return ctx.json(answer)


def _result(ctx: Ctx, kind: ResultKind, job: Job, body: dict[str, Any]) -> dict[str, Any]:
    file_name = kind.file_name(job, body)
    stored, _ = stored_file(ctx.state.store, job, file_name)
    return {
        "document_id": job.id,
        "filename": job.data["file"].file_name,
        "storage_path": _folder(job) + file_name,
        "download_url": ctx.file_url(job, file_name),
        "file_size": len(stored),
        "content": kind.content(ctx, job, body),
    }


def _failed_entry(document_id: str, filename: str | None, error: str) -> dict[str, Any]:
    return {
        "document_id": document_id,
        "filename": filename,
        "storage_path": None,
        "download_url": None,
        "file_size": None,
        "content": None,
        "error": error,
    }


# --- archives and stored files -----------------------------------------------------------------


async def make_zip(ctx: Ctx) -> Response:
    """A ZIP of a finished request's completed documents (or of one), behind a signed link."""
    body = await ctx.body()
    request = ctx.job(body["request_id"], REQUEST, what="Request")
    documents = documents_of(ctx, request)
    states = {job.id: state_of(job, ctx.now).status for job in documents}
    wanted = body.get("document_id")
    if wanted is not None and wanted not in states:
        raise ApiError(404, f"Document {wanted} not found in request {request.id}")
    if aggregate_word(list(states.values())) == PROCESSING:
        raise ApiError(409, "Request is still processing")
    if wanted is not None and states[wanted] != COMPLETED:
        raise ApiError(409, f"Document {wanted} is not completed (status: {states[wanted]})")
    members = [job for job in documents if states[job.id] == COMPLETED]
    members = [job for job in members if wanted is None or job.id == wanted]
    if not members:
        raise ApiError(409, "Request has no completed document")
    links = (
        {}
        if body.get("local_images")
        else {
            job.id: {name: ctx.file_url(job, f"images/{name}") for name in job.data["images"]}
            for job in members
        }
    )
    archive = Job(
        ctx.service.name,
        ctx.tenant,
        ctx.new_uuid(),
        ARCHIVE,
        ctx.now,
        Plan((), Outcome(COMPLETED)),
        {
            "request_id": request.id,
            "documents": [job.id for job in members],
            "content_types": body.get("content_types"),
            "links": links,
        },
    )
    ctx.state.store.add(archive)
    name = f"{wanted or request.id}.zip"
    return ctx.json(
        {"success": True, "url": ctx.file_url(archive, name), "message": "ZIP archive created"}
    )


def stored_file(store: JobStore, job: Job, name: str) -> tuple[bytes, str]:
    """The bytes behind a signed link: a document's stored results, or an archive."""
    if job.kind == ARCHIVE:
        return _archive_bytes(store, job), "application/zip"
    if job.kind != DOCUMENT:
        raise ApiError(404, "No such file")
    document: DocumentFile = job.data["file"]
    if pipeline_of(job) != FULL:
        if name != _fields_name(job, {}):
            raise ApiError(404, "No such file")
        return content.as_json(job.data["fields"]), "application/json"
    if name.startswith("images/") and name[7:] in job.data["images"]:
        return content.png(name[7:]), "image/png"
    files: dict[str, Callable[[], bytes]] = {  # distinct names: see content.markdown_file
        content.markdown_file(document): lambda: content.markdown(*_parts(job)).encode(),
        content.json_file(document): lambda: content.as_json(content.structured(*_parts(job))),
        content.IMAGES_FILE: lambda: content.as_json(content.image_list(job.data["images"])),
        content.PAGE_SUMMARIES_FILE: lambda: content.as_json(content.page_summaries(document)),
        content.SECTION_SUMMARIES_FILE: lambda: content.as_json(
            content.section_summaries(document)
        ),
        content.summary_file("page"): lambda: content.document_summary(document, "page").encode(),
        content.summary_file("section"): lambda: content.document_summary(
            document, "section"
        ).encode(),
    }
    if name not in files:
        raise ApiError(404, "No such file")
    media = {"md": "text/markdown; charset=utf-8", "json": "application/json"}
    return files[name](), media[name.rsplit(".", 1)[-1]]


def _archive_bytes(store: JobStore, archive: Job) -> bytes:
    """The ZIP behind a `make-zip` link, its members dated when the link was made (the same
    link, the same bytes)."""
    links: dict[str, dict[str, str]] = archive.data["links"]
    found = store.read_ahead(archive.api, archive.tenant, archive.data["documents"])
    jobs = [job for job in found if job is not None]
    members = [
        (job.id, job.data["file"], job.data["images"], job.data["enrichment_mode"])
        for job in jobs
        if pipeline_of(job) == FULL
    ]
    payloads = {  # field extraction documents: their one payload file
        f"{job.id}/{_fields_name(job, {})}": content.as_json(job.data["fields"])
        for job in jobs
        if pipeline_of(job) != FULL
    }

    def image_ref(document_id: str, name: str) -> str:
        return links[document_id][name] if links else f"images/{name}"

    return content.archive(
        members, archive.data["content_types"], image_ref, archive.created_at, payloads
    )
