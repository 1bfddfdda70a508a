"""Camb.ai's rules: how long a separation takes, why one fails, what an upload is, which tones.

Everything here is data or a pure function; the handlers in `responses.py` apply it.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from mockserver.contracts.document import HERE
from mockserver.contracts.lifecycle import lifecycles_in
from mockserver.engine.artifacts import AudioInfo, probe_audio
from mockserver.engine.scenarios import STALLED, ScenarioError
from mockserver.errors import shown_value

CONTRACT = HERE / "camb.yaml"
KIND = "audio_separation"
SUCCESS, ERROR, TIMEOUT, PAYMENT_REQUIRED = "SUCCESS", "ERROR", "TIMEOUT", "PAYMENT_REQUIRED"

# The contract's lifecycle names the states and the usual duration (`after=` and the profile's
# duration scale change it); the weights split it into phases the admin API shows (the API
# itself only says PENDING).
CYCLE = lifecycles_in("camb", CONTRACT)[KIND]
(PENDING,) = CYCLE.stages(1)
SEPARATION_SECONDS = CYCLE.usual_seconds
STEPS: list[tuple[str, float, str]] = [
    (PENDING, 1.0, "Queued"),
    (PENDING, 5.0, "Separating foreground from background"),
]
CYCLE.conform([state for state, _, _ in STEPS], (SUCCESS, ERROR, TIMEOUT, PAYMENT_REQUIRED))

# The two result tracks are FLAC files (the docs' examples: `fg_audio.flac`, `bg_audio.flac`),
# each its own tone, so a client (or a test) can tell them apart.
FOREGROUND, BACKGROUND = "fg_audio.flac", "bg_audio.flac"
TRACK_TONES = {FOREGROUND: 660, BACKGROUND: 110}

# exception_reason values (SDK `ExceptionReasons`), with the message the mock sends for each.
REASONS: dict[str, str] = {
    "HARMFUL_CONTENT_DETECTED": "The media was flagged as harmful content and was not processed.",
    "VOICE_CONVERSION_ERROR": "Voice conversion failed for this media.",
    "PROCESSING_ERROR": "The audio could not be separated.",
    "SOURCE_TOO_LONG": "The media is longer than the maximum duration allowed.",
    "SOURCE_TOO_LARGE": "The media file is larger than the maximum size allowed.",
    "SOURCE_TYPE_NOT_SUPPORTED": (
        "The uploaded file is not a supported audio format (AAC, FLAC, MP3, WAV)."
    ),
    "ERROR_DOWNLOADING_SOURCE": "The source media could not be downloaded.",
    "TOO_MANY_GDRIVE_REQUESTS": "Google Drive refused the download: too many requests.",
    "SOURCE_BLOCKED_IN_REGION": "The source media is blocked in this region.",
    "SOURCE_IS_AGE_RESTRICTED": "The source media is age restricted.",
    "SOURCE_NOT_FOUND": "The source media was not found.",
    "MISMATCHED_SOURCE_CODEC": "The media codec does not match its container.",
    "CONTENT_DOES_NOT_MATCH_EXTENSION": "The file content does not match its extension.",
    "INVALID_SOURCE_DATA": "The media file is empty or corrupt.",
    "VIDEO_DOES_NOT_HAVE_AUDIO_STREAMS": "The video has no audio stream.",
    "MASTERING_OUT_OF_RANGE": "Mastering parameters are out of range.",
    "INVALID_AUDIO_TRACKS_SELECTION": "The selected audio tracks are invalid.",
    "PAYMENT_REQUIRED": "Not enough credits: top up your Camb.ai account to run this task.",
    "FORBIDDEN": "This API key may not run audio separation.",
    "INTERNAL_ERROR": "Internal error while processing the task.",
    "NONE": "The task failed.",
}
DEFAULT_REASON = {ERROR: "PROCESSING_ERROR", TIMEOUT: "PROCESSING_ERROR"}
TIMEOUT_MESSAGE = "The task did not finish within the time limit."
REASON_OUTCOMES = (ERROR, TIMEOUT)  # the outcomes whose reason a scenario may choose


def failure_reason(word: str, requested: str | None) -> str | None:
    """The `exception_reason` a task ending in `word` reports; `requested` is `reason=`.

    Raises ScenarioError for a reason that is not a camb value or that cannot apply.
    """
    if word == PAYMENT_REQUIRED:
        if requested is not None and requested.strip().upper() != PAYMENT_REQUIRED:
            raise ScenarioError("PAYMENT_REQUIRED always has exception_reason PAYMENT_REQUIRED")
        return PAYMENT_REQUIRED
    if requested is None:
        return DEFAULT_REASON.get(word)
    reason = requested.strip().upper()
    if word not in REASON_OUTCOMES:
        raise ScenarioError(f"reason= applies to {' and '.join(REASON_OUTCOMES)} only")
    if reason not in REASONS:
        raise ScenarioError(
            f"reason={shown_value(requested)} is not a camb exception_reason; known: "
            + ", ".join(REASONS)
        )
    return reason


def failure_message(word: str, reason: str | None) -> str | None:
    if word == TIMEOUT:
        return TIMEOUT_MESSAGE
    return REASONS[reason] if reason else None


# --- magic file names ----------------------------------------------------------------------

MAGIC = re.compile(r"mock-([a-z_]+)(?:-([a-z_]+))?", re.IGNORECASE)


def magic_outcome(file_name: str, outcomes: tuple[str, ...]) -> tuple[str, str | None] | None:
    """`song.mock-error.wav` -> ("ERROR", None); `x.mock-error-source_too_long.wav` -> with reason.

    Only names of this API's outcomes count, so an ordinary `mock-up.wav` is not a scenario.
    """
    match = MAGIC.search(file_name)
    if match is None:
        return None
    words = {word.lower(): word for word in (*outcomes, STALLED)}
    word = words.get(match.group(1).lower())
    if word is None:
        return None
    reason = (match.group(2) or "").upper()
    return word, reason if word in REASON_OUTCOMES and reason in REASONS else None


# --- what an upload is ---------------------------------------------------------------------

EXTENSIONS = {
    ".wav": "wav",
    ".wave": "wav",
    ".flac": "flac",
    ".mp3": "mp3",
    ".aac": "aac",
    ".m4a": "aac",
}
ESTIMATED_BYTES_PER_SECOND = 16_000  # 128 kbit/s, for formats the mock cannot measure


def sniff(content: bytes) -> str | None:
    """The audio format of `content` by its magic bytes: wav, flac, mp3, aac, or None."""
    if content[:4] == b"RIFF" and content[8:12] == b"WAVE":
        return "wav"
    if content[:4] == b"fLaC":
        return "flac"
    if content[:3] == b"ID3":
        return "mp3"
    if content[4:8] == b"ftyp":
        return "aac"  # an MP4/M4A container, which is how AAC usually travels
    if len(content) >= 2 and content[0] == 0xFF:
        if content[1] & 0xF6 == 0xF0:
            return "aac"  # ADTS frame: 12-bit sync, layer 00
        if content[1] & 0xE0 == 0xE0 and content[1] & 0x06:
            return "mp3"  # MPEG audio frame: 11-bit sync, a non-zero layer
    return None


def content_problem(file_name: str, content: bytes) -> str | None:
    """Why the real service would fail this upload (an exception_reason), or None if it is fine.

    Checked when the task runs, not at upload (the API accepts any bytes), so it decides the
    outcome of tasks that no scenario steers.
    """
    if not content:
        return "INVALID_SOURCE_DATA"
    found = sniff(content)
    if found is None:
        return "SOURCE_TYPE_NOT_SUPPORTED"
    claimed = EXTENSIONS.get(PurePosixPath(file_name).suffix.lower())
    if claimed is not None and claimed != found:
        return "CONTENT_DOES_NOT_MATCH_EXTENSION"
    return None


def audio_info(content: bytes) -> AudioInfo:
    """A decodable upload is measured; anything else is estimated from its size (such a task
    fails anyway unless a scenario steers it: `content_problem`)."""
    probed = probe_audio(content)
    if probed is not None and probed.duration > 0:
        return probed
    return AudioInfo(max(1.0, round(len(content) / ESTIMATED_BYTES_PER_SECOND, 3)))


def run_alias(run_id: int) -> str:
    """The store key that finds a task by its run id."""
    return f"camb-run:{run_id}"
