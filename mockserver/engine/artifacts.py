"""Real bytes for downloads: WAV tones (stdlib `wave`), zip archives, and signed links.

Nothing is stored: a file is rendered from its job when it is downloaded, so a server
holding many finished jobs holds no audio.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import struct
import wave
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import quote

DEFAULT_RATE = 16_000
DEFAULT_CHANNELS = 1
DEFAULT_MAX_RENDER_BYTES = 100 * 1024 * 1024
SAMPLE_BYTES = 2  # 16-bit PCM, whatever the format's container
# bytes of audio the download being rendered may still produce (see `render_budget`)
_budget: ContextVar[list[int] | None] = ContextVar("render_budget", default=None)


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What the kit keeps of an uploaded track: enough to render a faithful stand-in."""

    duration: float
    sample_rate: int = DEFAULT_RATE
    channels: int = DEFAULT_CHANNELS

    @property
    def wav_size(self) -> int:
        return 44 + int(self.duration * self.sample_rate) * self.channels * 2


def probe_wav(data: bytes) -> AudioInfo | None:
    """Duration and format of a WAV upload, or None when it is not a readable WAV."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            rate, frames = reader.getframerate(), reader.getnframes()
            return AudioInfo(frames / rate, min(rate, 48_000), min(reader.getnchannels(), 2))
    except (wave.Error, EOFError, struct.error, ZeroDivisionError):
        return None


@contextmanager
def render_budget(limit: int) -> Iterator[None]:
    """Everything rendered inside the block (one download: a file, or every member of an
    archive) holds at most `limit` bytes of audio samples together."""
    token = _budget.set([limit])
    try:
        yield
    finally:
        _budget.reset(token)


def frames_to_render(info: AudioInfo) -> int:
    """How many frames of `info` to render: every format renders through here, so what an
    upload's header claims (a 44-byte WAV saying 400 MB) cannot make the server render more
    than its budget. Past it the audio is cut short; outside a `render_budget` block one
    render holds at most `DEFAULT_MAX_RENDER_BYTES`."""
    frame_bytes = info.channels * SAMPLE_BYTES
    budget = _budget.get() or [DEFAULT_MAX_RENDER_BYTES]
    wanted = info.duration * info.sample_rate if math.isfinite(info.duration) else 0.0
    frames = int(min(max(wanted, 0.0), budget[0] // frame_bytes))
    budget[0] -= frames * frame_bytes
    return frames


def tone_wav(info: AudioInfo, frequency: int) -> bytes:
    """A WAV of `info.duration` seconds holding a sine at `frequency` Hz (one tone per stem).

    One second is computed and repeated, so a long track costs a copy, not a loop.
    """
    rate, channels = info.sample_rate, info.channels
    second = b"".join(
        struct.pack("<h", int(12_000 * math.sin(2 * math.pi * frequency * i / rate))) * channels
        for i in range(rate)
    )
    frames = frames_to_render(info)
    whole, rest = divmod(frames, rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(second * whole + second[: rest * 2 * channels])
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Signer:
    """Signed, expiring links to files, checked on the server clock like a storage bucket's."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, job_id: str, name: str, expires: int) -> str:
        message = f"{job_id}/{name}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def path(self, job_id: str, name: str, expires: int) -> str:
        sig = self.signature(job_id, name, expires)
        return f"/__mock__/files/{job_id}/{quote(name)}?expires={expires}&signature={sig}"

    def valid(self, job_id: str, name: str, expires: int, signature: str) -> bool:
        return hmac.compare_digest(self.signature(job_id, name, expires), signature)
