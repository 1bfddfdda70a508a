"""Neural Draft's rules: job types, their steps and timings, how a job reads at any moment.

A job's plan is one `pending` phase ("Queued") followed by one `processing` phase per step
(the phase's detail is the step name): the states of its lifecycle in the contract, stretched
to the lifecycle's usual duration. The plan the job was created with is kept in
`job.data["timeline"]`: when a job is cut short (a cancel, a forced failure) its live plan
is shortened, and comparing the two says which steps had really finished.
"""

from __future__ import annotations

import math
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from mockserver.contracts.document import HERE
from mockserver.contracts.lifecycle import lifecycles_in
from mockserver.engine.clock import isoformat
from mockserver.engine.jobs import Job
from mockserver.engine.plan import Outcome, Phase, Plan

CONTRACT = HERE / "neuraldraft.yaml"
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
CYCLES = lifecycles_in("neuraldraft", CONTRACT)
PENDING, PROCESSING = CYCLES["blog_post.generate"].stages(2)  # queued, then at work
EPSILON = 1e-6
CANCELLED_MESSAGE = "The job was cancelled."
# where a failing or cancelled job stops when the scenario gives no `after=`: share of its plan
STOP_SHARE = {FAILED: 0.6, CANCELLED: 0.5}

# Steps: name -> (seconds in the usual job, message). The contract's usual duration of a kind
# stretches them all alike (blog: every step on; translation: USUAL_LANGUAGES languages).
# A blog step the request switches off lasts no time.
BLOG_STEPS: dict[str, tuple[float, str]] = {
    "research": (60.0, "Researching the topic"),
    "write": (130.0, "Writing the post"),
    "image": (60.0, "Generating the cover image"),
    "translate": (105.0, "Translating to all project languages"),
    "seo": (63.0, "Optimising for search"),
}
IMAGE_STEPS = {"generate": (32.0, "Generating the image"), "upload": (6.0, "Uploading the image")}
VIDEO_STEPS = {"generate": (100.0, "Generating the video"), "upload": (18.0, "Uploading the video")}
SOCIAL_STEPS = {"write": (40.0, "Writing the post"), "media": (18.0, "Creating the visual")}
PLAN_STEPS = {"research": (45.0, "Researching topics"), "plan": (30.0, "Planning the calendar")}
WEBSITE_STEPS = {
    "plan": (30.0, "Planning the pages"),
    "write": (90.0, "Writing the pages"),
    "build": (40.0, "Building the site"),
}
SECONDS_PER_LOCALE = 20.0
USUAL_LANGUAGES = 3
QUEUED_SECONDS = 2.0
STEP_LISTS_KEPT = 256  # the steps of a kind, per the inputs they depend on
STEP_SHAPES_KEPT = 1024  # (timeline, position) pairs whose steps are kept for the next poll

LANGUAGES = {
    "ar": "Arabic",
    "da": "Danish",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "zh": "Chinese",
}
BLOG_FIELDS_PER_LOCALE = 4  # title, excerpt, content, meta description
# The most characters generated text quotes of what the client sent (a topic, a custom
# title), whatever its length: a headline, and an excerpt or a meta description as long as
# search engines show them; a post's body quotes the topic in one paragraph of its own.
TITLE_CHARS, SUMMARY_CHARS, PARAGRAPH_CHARS = 100, 160, 1_000
# "the project's languages" an AI blog post with `translate_to_all` is translated into: the
# mock has no projects, so every key's are the languages of the docs' translate example
PROJECT_LANGUAGES = ("fr", "de", "es")


@dataclass(frozen=True, slots=True)
class Kind:
    """What differs between job types: their steps, and how they fail."""

    steps: dict[str, tuple[float, str]]  # step name -> (seconds, message while it runs)
    failure_code: str
    failure_message: str
    failed_label: str  # the job's `message` once failed


# the one failure code the docs show (their image and translate examples): every kind's default
FAILURE_CODE = "upstream_unavailable"
KINDS: dict[str, Kind] = {
    "blog_post.generate": Kind(
        BLOG_STEPS, FAILURE_CODE, "The post could not be generated.", "Generation failed"
    ),
    "image.generate": Kind(
        IMAGE_STEPS,
        FAILURE_CODE,
        "The image model could not render this prompt.",
        "Generation failed",
    ),
    "social_post.generate": Kind(
        SOCIAL_STEPS,
        FAILURE_CODE,
        "The social post could not be generated.",
        "Generation failed",
    ),
    "translation.batch": Kind(
        {}, FAILURE_CODE, "The content could not be translated.", "Translation failed"
    ),
    "content_plan.generate": Kind(
        PLAN_STEPS,
        FAILURE_CODE,
        "The content plan could not be generated.",
        "Generation failed",
    ),
    "website.generate": Kind(
        WEBSITE_STEPS, FAILURE_CODE, "The website could not be generated.", "Generation failed"
    ),
    "video.generate": Kind(
        VIDEO_STEPS,
        FAILURE_CODE,
        "The video model could not render this prompt.",
        "Generation failed",
    ),
}
# the file a completed job's `result.url` links to (signed, served by the mock), by job type
RESULT_FILES = {"image.generate": "image.png", "video.generate": "video.mp4"}
# queued, then at work; the contract refuses to load otherwise (LifecycleMismatch)
CYCLES.conform(KINDS, [PENDING, PROCESSING], (COMPLETED, FAILED, CANCELLED))


# --- plans ----------------------------------------------------------------------------------


Steps = tuple[tuple[str, float, str], ...]  # (state, seconds, step name), queue first


# what a blog post job reads of its create's body: its steps here, its post's title and slug
BLOG_INPUTS = ("topic", "enable_research", "translate_to_all")


def steps_for(kind: str, inputs: dict[str, Any]) -> Steps:
    """The phases `(state, seconds, step name)` of a new job, queue first."""
    if kind == "blog_post.generate":
        research = inputs.get("enable_research") is not False
        return _step_list(kind, research, bool(inputs.get("translate_to_all", False)), ())
    if kind == "translation.batch":
        return _step_list(kind, True, True, tuple(inputs["locales"]))
    return _step_list(kind, True, True, ())


@lru_cache(maxsize=STEP_LISTS_KEPT)
def _step_list(kind: str, research: bool, translate: bool, locales: tuple[str, ...]) -> Steps:
    """`steps_for`, made once per shape: the inputs a job's steps depend on are these."""
    if kind == "blog_post.generate":
        off = {"research": not research, "translate": not translate}
        steps = [(name, 0.0 if off.get(name) else sec) for name, (sec, _) in BLOG_STEPS.items()]
        usual = sum(sec for sec, _ in BLOG_STEPS.values())
    elif kind == "translation.batch":
        steps = [(locale, SECONDS_PER_LOCALE) for locale in locales]
        usual = SECONDS_PER_LOCALE * USUAL_LANGUAGES
    else:
        steps = [(name, seconds) for name, (seconds, _) in KINDS[kind].steps.items()]
        usual = sum(seconds for _, seconds in steps)
    scale = CYCLES[kind].usual_seconds / (QUEUED_SECONDS + usual)
    return (
        (PENDING, QUEUED_SECONDS * scale, ""),
        *((PROCESSING, seconds * scale, name) for name, seconds in steps),
    )


def step_message(kind: str, step: str) -> str:
    if kind == "translation.batch":
        return f"Translating to {language_name(step)}"
    table = KINDS[kind].steps
    return table[step][1] if step in table else step


def language_name(code: str) -> str:
    return LANGUAGES.get(code.split("-")[0].lower(), code)


def job_events(job: Job, now: float) -> list[tuple[str, str, float, float]]:
    """The documented webhook topics `job` has triggered by `now`: `(topic, subject, at,
    position)`, `position` where in its plan the job was then (`Job.as_at`).

    A translation emits one event per language as it lands (`blog_post.translated` for a
    post, `content.changed` for a content key), also when the job is cut short later; the
    others one event when they end: `blog_post.published`, `image.generated`,
    `social_post.published` / `social_post.failed`; a blog post translated to all the
    project's languages, one `blog_post.translated` per language after its
    `blog_post.published`. No documented topic covers the rest.
    """
    if job.created_at > now:
        return []
    if job.kind == "translation.batch":
        topic = "blog_post.translated" if job.data["source"] == "blog_post" else "content.changed"
        return [(topic, locale, at, end) for locale, at, end in landed_languages(job, now)]
    snap = job.snapshot(now)
    outcome = snap.outcome
    finished = job.finished_at(now, snap)
    if outcome is None or finished is None:
        return []
    ended = {
        ("blog_post.generate", COMPLETED): "blog_post.published",
        ("image.generate", COMPLETED): "image.generated",
        ("social_post.generate", COMPLETED): "social_post.published",
        ("social_post.generate", FAILED): "social_post.failed",
    }.get((job.kind, outcome.state))
    if ended is None:
        return []
    translated = [("blog_post.translated", *landed) for landed in landed_languages(job, now)]
    return [(ended, "", finished, snap.phase_started), *translated]


def landed_languages(job: Job, now: float) -> list[tuple[str, float, float]]:
    """The languages `job` translated a post (or a content key) into by `now`: each with
    the time it landed and the position in the job's plan where it did.

    A `translation.batch` lands each language as its step finishes. A blog post job with
    `translate_to_all` lands the project's languages (`PROJECT_LANGUAGES`) with its post,
    when it completes: its `translate` step translated them, and the post they belong to is
    written (gets its id) then, as its pipeline publishes it at its end.
    """
    if job.kind == "translation.batch":
        return landed_steps(job, now)
    if job.kind != "blog_post.generate" or not job.data.get("translate_to_all"):
        return []
    snap = job.snapshot(now)
    finished = job.finished_at(now, snap)
    if snap.state != COMPLETED or finished is None:
        return []
    return [(lang, finished, snap.phase_started) for lang in PROJECT_LANGUAGES]


def settled(job: Job) -> bool:
    """Whether what `job` does is known for good: it has ended, or its timed plan runs to an
    outcome by itself (a stall's never does; a per-poll plan's moves only as it is read).
    Only a cancel or an admin transition changes it then, by cutting it short."""
    return job.snapshot(math.inf).terminal


def lasting_languages(job: Job) -> dict[str, float]:
    """The languages a settled `job` lands, and when (see `landed_languages`)."""
    return {lang: at for lang, at, _ in landed_languages(job, math.inf)}


def landed_steps(job: Job, now: float) -> list[tuple[str, float, float]]:
    """The steps `job` finished by `now`: each with the time it finished and the position
    in the job's plan where it did."""
    timeline: Plan = job.data["timeline"]
    kept = _finished_phases(timeline, job.plan)
    position = job.position(now)
    landed, end = [], 0.0
    for index, phase in enumerate(timeline.phases):
        end += phase.duration
        if index == 0:
            continue
        if index >= kept or position < end - EPSILON:
            break
        landed.append((phase.detail, job.time_of(end), end))
    return landed


# --- where a job stands ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    completed: bool
    active: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "completed": self.completed, "active": self.active}


class Progress(NamedTuple):
    """A job at one moment: everything `GET /v1/jobs/{id}` and the stream show.

    A named tuple: made on every create and poll, where a frozen dataclass took a fifth of
    `progress_of` to build. It holds where the steps stand (`done`, `active`) rather than the
    steps: a Job body writes them straight from the phases (`step_dicts`)."""

    status: str
    progress: int
    message: str
    phases: tuple[Phase, ...]  # the timeline's, queue first: the steps are the ones after it
    done: int  # the first `done` steps have completed
    active: int  # the index of the step running, -1 for none
    outcome: Outcome | None
    updated_at: float

    @property
    def terminal(self) -> bool:
        return self.outcome is not None

    @property
    def steps(self) -> tuple[Step, ...]:
        return _steps(self.phases, self.done, self.active)

    def step_dicts(self) -> list[dict[str, Any]]:
        """`[step.as_dict() for step in self.steps]`: made once per timeline and position and
        shared by every body that shows them (read, never changed)."""
        phases, done, active = self.phases, self.done, self.active
        shape = (id(phases), done, active)
        kept = _STEP_DICTS.get(shape)
        if kept is not None and kept[0] is phases:
            return kept[1]
        dicts = [
            {"name": phase.detail, "completed": index < done, "active": index == active}
            for index, phase in enumerate(phases, -1)
            if index >= 0  # the queue, -1, is no step
        ]
        if len(_STEP_DICTS) >= STEP_SHAPES_KEPT:
            _STEP_DICTS.clear()
        _STEP_DICTS[shape] = (phases, dicts)
        return dicts


# step dicts by the identity of the phases (shared by the jobs planned alike: hashing them
# would cost what making the dicts does); each entry holds its phases, so while it is kept
# no other tuple can have that id
_STEP_DICTS: dict[tuple[int, int, int], tuple[tuple[Phase, ...], list[dict[str, Any]]]] = {}


def progress_of(job: Job, now: float) -> Progress:
    """Where `job` stands at `now`: a pure function of its plans and the clock."""
    timeline: Plan = job.data["timeline"]
    phases = timeline.phases
    snap = job.snapshot(now)
    if snap.outcome is None:
        running = snap.phase - 1  # the queue is phase 0: no step runs yet
        started = job.time_of(snap.phase_started)
        if snap.phase == 0:  # no work done yet: 0 %, whatever the position in the queue
            return Progress(PENDING, 0, "Queued", phases, running, running, None, started)
        message = step_message(job.kind, phases[snap.phase].detail)
        percent = min(_percent(timeline, job.position(now)), 99)
        return Progress(PROCESSING, percent, message, phases, running, running, None, started)
    outcome = snap.outcome
    finished = job.finished_at(now, snap) or now
    if outcome.state == COMPLETED:
        return Progress(COMPLETED, 100, "Done", phases, len(phases), -1, outcome, finished)
    done = _finished_phases(timeline, job.plan) - 1
    percent = min(_percent(timeline, job.plan.length), 99)
    label = "Cancelled" if outcome.state == CANCELLED else KINDS[job.kind].failed_label
    return Progress(outcome.state, percent, label, phases, done, -1, outcome, finished)


@lru_cache(maxsize=STEP_SHAPES_KEPT)
def _steps(phases: tuple[Phase, ...], done: int, active: int) -> tuple[Step, ...]:
    """The steps of a timeline (its phases after the queue): the first `done` completed,
    the one at `active` running. Made once per shape, as every poll of a job asks again."""
    return tuple(
        Step(phase.detail, index < done, index == active) for index, phase in enumerate(phases[1:])
    )


def percent_changes_at(job: Job, now: float) -> float:
    """When a running job's `progress` next moves on by itself (inf once it cannot), a hair
    early rather than late."""
    timeline: Plan = job.data["timeline"]
    queued = timeline.phases[0].duration
    work = timeline.length - queued
    position = job.position(now)
    percent = _percent(timeline, position)
    if job.snapshot(now).terminal or work <= EPSILON or percent >= 99:
        return math.inf
    return job.created_at + queued + (percent + 1 - 2 * EPSILON) * work / 100 - 1e-3


def social_status(job: Job, now: float) -> str | None:
    """A generated social post is `published` once its job completed, `failed` when it
    failed; before that (or when cancelled) there is no post to read."""
    return {COMPLETED: "published", FAILED: "failed"}.get(progress_of(job, now).status)


def _percent(timeline: Plan, position: float) -> int:
    """Share of the work (the queue excluded) done at `position` of the original plan."""
    queued = timeline.phases[0].duration
    work = timeline.length - queued
    if work <= EPSILON:
        return 0
    return int(100 * min(max(position - queued, 0.0), work) / work + EPSILON)


def _finished_phases(timeline: Plan, cut: Plan) -> int:
    """How many leading phases of `timeline` ran to their end before the job was cut, at
    `cut.length`: a step lasting no time (switched off) ends where it starts, so one there
    has, as the reads before the cut showed; a stall's last phase never does, however long
    it ran."""
    count, end = 0, 0.0
    stall = len(timeline.phases) - 1 if timeline.outcome is None else -1
    for index, phase in enumerate(timeline.phases):
        end += phase.duration
        if end > cut.length + EPSILON or index == stall:
            break
        count += 1
    return count


def job_body(job: Job, now: float, result: Callable[[Job], dict[str, Any]]) -> dict[str, Any]:
    """The Job object as the API prints it (`result`: a completed job's)."""
    state = progress_of(job, now)
    body: dict[str, Any] = {
        "id": job.id,
        "type": job.kind,
        "status": state.status,
        "progress": state.progress,
        "message": state.message,
        "steps": state.step_dicts(),
    }
    if state.status == COMPLETED:
        body["result"] = result(job)
    elif state.status == FAILED and state.outcome is not None:
        body["error"] = error_of(job, state.outcome)
    body["created_at"] = isoformat(job.created_at)
    body["updated_at"] = isoformat(state.updated_at)
    return body


def result_of(job: Job, file_url: Callable[[Job], str]) -> dict[str, Any]:
    """A completed job's `result`; an image's or a video's `url` its signed link now."""
    result = dict(job.data["result"])
    if job.kind in RESULT_FILES:
        result["url"] = file_url(job)
    return result


def error_of(job: Job, outcome: Outcome) -> dict[str, str]:
    kind = KINDS[job.kind]
    return {
        "code": str(outcome.option("code") or kind.failure_code),
        "message": outcome.message or kind.failure_message,
    }


# --- results --------------------------------------------------------------------------------


def slugify(text: str, fallback: str) -> str:
    """Lower-case ASCII words joined by `-` (a post's or a tag's), accents and ligatures
    transliterated (`Änderung`: `anderung`, `Straße`: `strasse`) rather than dropped;
    `fallback` when nothing is left."""
    spelled = text.casefold().translate(_NOT_DECOMPOSED)
    letters = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    slug = _NOT_IN_SLUGS.sub("-", letters).strip("-")[:80].strip("-")
    return slug or fallback


_NOT_IN_SLUGS = re.compile(r"[^a-z0-9]+")
# letters NFKD leaves whole, as they are spelled in ASCII (after casefold: lower case)
_NOT_DECOMPOSED = str.maketrans(
    {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ħ": "h", "ı": "i"}
)


def clipped(text: str, limit: int) -> str:
    """`text` whole up to `limit` characters, else its start ending in `…`, `limit` in all:
    what generated text quotes of a client's (a topic may be a megabyte, a headline is not)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def title_of(topic: str) -> str:
    """A headline from the topic: first letter of each word raised, the rest kept; at most
    TITLE_CHARS characters (raising a letter may lengthen it: `ß` is `SS`)."""
    words = clipped(topic.strip(), TITLE_CHARS).split()
    title = " ".join([word[:1].upper() + word[1:] for word in words])
    return clipped(title, TITLE_CHARS) or "Untitled post"


def image_size(aspect_ratio: str) -> tuple[int, int]:
    """Width and height for `W:H`, the long side 1920 pixels (1:1 is 1024 square)."""
    width, height = (int(part) for part in aspect_ratio.split(":"))
    if width == height:
        return 1024, 1024
    if width > height:
        return 1920, max(1, round(1920 * height / width))
    return max(1, round(1920 * width / height)), 1920


def video_size(aspect_ratio: str) -> tuple[int, int]:
    """Width and height for `W:H`, the short side 1080 pixels (9:16 is 1080 x 1920)."""
    width, height = (int(part) for part in aspect_ratio.split(":"))
    if width >= height:
        return max(1, round(1080 * width / height)), 1080
    return 1080, max(1, round(1080 * height / width))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4(seconds: int) -> bytes:
    """An MP4 file that says it lasts `seconds`: a file type box and a movie header (time
    scale 1000), no track. A probe reads its container and duration; there is nothing to play
    (the mock renders no frames)."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    header = struct.pack(">B3xIIII", 0, 0, 0, 1000, seconds * 1000)
    header += struct.pack(">IH10x", 0x10000, 0x100) + _MATRIX + b"\x00" * 24 + struct.pack(">I", 1)
    return ftyp + _box(b"moov", _box(b"mvhd", header))


def png(width: int, height: int, seed: str) -> bytes:
    """A one-colour PNG of the given size (1-bit palette: tiny even at 1920x1920)."""
    colour = zlib.crc32(seed.encode()).to_bytes(4, "big")[:3]
    row = b"\x00" * (1 + math.ceil(width / 8))  # filter byte, then palette index 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", colour)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )
