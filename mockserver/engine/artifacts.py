"""Real bytes for downloads: audio tones in every format the APIs name, zip archives, and
signed links.

Nothing is stored: a file is rendered from its job when it is downloaded, so a server
holding many finished jobs holds no audio. Each format has one render function
(`RENDERERS`), so a limit on what rendering may cost wraps one place.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import av
import numpy as np
import soundfile

from mockserver.stores.codec import storable

DEFAULT_RATE = 16_000
DEFAULT_CHANNELS = 1
DEFAULT_MAX_RENDER_BYTES = 100 * 1024 * 1024
DEFAULT_BITS = 16  # a WAV's sample width unless its object asks for more; always FLAC's
WAV_HEADER_BYTES = 44  # libsndfile's PCM WAV header, at every sample width
PCM_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}  # integer PCM, read by stdlib `wave`
# bytes of audio the download being rendered may still produce (see `render_budget`)
_budget: ContextVar[list[int] | None] = ContextVar("render_budget", default=None)
MAX_CHANNELS = 2
# the rates every encoder here (MP3 among them) accepts; an upload's rate is read as the
# nearest one at or above it, so any upload renders in any format
STANDARD_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
MP3_COMPRESSION = 0.9  # libsndfile refuses 1.0 for VBR
AMPLITUDE = 12_000  # of 32767: a clear tone without clipping in lossy encoders
# ITU-R BS.1770-4's K-weighting at 48 kHz, (b, a) of its two biquads: a high shelf, a high-pass
K_WEIGHTING = (
    (
        (1.53512485958697, -2.69169618940638, 1.19839281085285),
        (1.0, -1.69065929318241, 0.73248077421585),
    ),
    ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621)),
)
K_RATE = 48_000
LOUDNESS_OFFSET = -0.691  # BS.1770: LUFS = -0.691 + 10 log10(sum of K-weighted mean squares)

# the instants a zip can date a member at: 1980-01-01T00:00:00 to 2107-12-31T23:59:58 (UTC)
ZIP_EARLIEST, ZIP_LATEST = 315_532_800.0, 4_354_819_198.0

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "m4a": "audio/mp4"}


@storable
@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What the kit keeps of an uploaded track: enough to render a faithful stand-in; and of
    an object made from it, how its files are written when it asked (a master's bit depth and
    loudness): `bits` of a WAV's samples, `loudness` in LUFS (None: the usual level)."""

    duration: float
    sample_rate: int = DEFAULT_RATE
    channels: int = DEFAULT_CHANNELS
    bits: int = DEFAULT_BITS
    loudness: float | None = None

    state_tag: ClassVar[str] = "audio"

    def to_state(self) -> list[Any]:
        """Three values unless the object asked for more, so a track's state stays as written
        before (by the other APIs, and by stores that already hold it)."""
        state: list[Any] = [self.duration, self.sample_rate, self.channels]
        if (self.bits, self.loudness) != (DEFAULT_BITS, None):
            state += [self.bits, self.loudness]
        return state

    @classmethod
    def from_state(cls, data: list[Any]) -> AudioInfo:
        return cls(float(data[0]), int(data[1]), int(data[2]), *data[3:])

    @property
    def sample_bytes(self) -> int:
        return self.bits // 8

    @property
    def pcm_size(self) -> int:
        """Bytes of its samples, as its WAV holds them."""
        return int(self.duration * self.sample_rate) * self.channels * self.sample_bytes

    @property
    def wav_size(self) -> int:
        return WAV_HEADER_BYTES + self.pcm_size


def standard_rate(rate: int) -> int:
    return next((r for r in STANDARD_RATES if r >= rate), STANDARD_RATES[-1])


def _info(duration: float, rate: int, channels: int) -> AudioInfo | None:
    if not (duration > 0 and rate > 0 and channels > 0):
        return None
    return AudioInfo(round(duration, 3), standard_rate(rate), min(channels, MAX_CHANNELS))


def probe_audio(data: bytes) -> AudioInfo | None:
    """Duration, rate and channels of an upload (WAV, FLAC, MP3, M4A/AAC...), or None when
    no decoder reads it. libsndfile reads the first three; FFmpeg (PyAV) the rest. A file
    libsndfile reads with no frames at all is a duration of 0: decoded, and empty."""
    try:
        found = soundfile.info(io.BytesIO(data))
        if found.frames == 0 and found.samplerate > 0 and found.channels > 0:
            return AudioInfo(
                0.0, standard_rate(found.samplerate), min(found.channels, MAX_CHANNELS)
            )
        return _info(found.frames / found.samplerate, found.samplerate, found.channels)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, ZeroDivisionError):
        pass
    try:
        with av.open(io.BytesIO(data), "r") as container:
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
            return _info(duration, stream.rate or 0, stream.channels or 0)
    except (av.FFmpegError, IndexError, ValueError, OverflowError):
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
    frame_bytes = info.channels * info.sample_bytes
    budget = _budget.get() or [DEFAULT_MAX_RENDER_BYTES]
    wanted = info.duration * info.sample_rate if math.isfinite(info.duration) else 0.0
    frames = int(min(max(wanted, 0.0), budget[0] // frame_bytes))
    budget[0] -= frames * frame_bytes
    return frames


def sine_peak(loudness: float, frequency: float, channels: int) -> float:
    """The peak (of full scale, 1.0) of a sine at `frequency` Hz on each of `channels` whose
    integrated loudness (ITU-R BS.1770) is `loudness` LUFS, at most full scale: the
    K-weighting's gain at that frequency is undone, and each channel adds its power. A mono
    997 Hz sine at full scale reads -3.01 LUFS."""
    z = np.exp(-2j * np.pi * frequency / K_RATE)
    gain = 1.0
    for b, a in K_WEIGHTING:
        gain *= abs((b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z))
    power = 10 ** ((loudness - LOUDNESS_OFFSET) / 10)  # of all channels, K-weighted
    return min(1.0, math.sqrt(2 * power / channels) / gain)


def tone(info: AudioInfo, frequency: int, dtype: type[np.integer] = np.int16) -> np.ndarray:
    """`info.duration` seconds of a sine at `frequency` Hz, one column per channel, `dtype`
    (int32 for a WAV of 24 or 32 bits: libsndfile keeps its top bits), at `info.loudness`
    (else at `AMPLITUDE`).

    One second is computed and tiled, so a long track costs a copy, not a loop.
    """
    rate = info.sample_rate
    level = (
        AMPLITUDE / np.iinfo(np.int16).max
        if info.loudness is None
        else sine_peak(info.loudness, frequency, info.channels)
    )
    peak = round(level * np.iinfo(dtype).max)
    second = (peak * np.sin(2 * np.pi * frequency * np.arange(rate) / rate)).astype(dtype)
    frames = frames_to_render(info)
    mono = np.tile(second, frames // rate + 1)[:frames]
    return np.repeat(mono[:, None], info.channels, axis=1)


def _soundfile(info: AudioInfo, samples: np.ndarray, container: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, info.sample_rate, subtype, format=container)
    return buffer.getvalue()


def render_wav(info: AudioInfo, frequency: int) -> bytes:
    """Integer PCM at `info.bits`: the one format whose sample width an object sets."""
    samples = tone(info, frequency, np.int16 if info.bits == DEFAULT_BITS else np.int32)
    return _soundfile(info, samples, "WAV", PCM_SUBTYPES[info.bits])


def render_flac(info: AudioInfo, frequency: int) -> bytes:
    return _soundfile(info, tone(info, frequency), "FLAC", "PCM_16")


def render_mp3(info: AudioInfo, frequency: int) -> bytes:
    """LAME through libsndfile, at a low VBR quality: a tone needs few bits, and the fastest
    setting halves the encoding time."""
    buffer = io.BytesIO()
    samples = tone(info, frequency)
    soundfile.write(
        buffer,
        samples,
        info.sample_rate,
        "MPEG_LAYER_III",
        format="MP3",
        bitrate_mode="VARIABLE",
        compression_level=MP3_COMPRESSION,
    )
    return buffer.getvalue()


def render_m4a(info: AudioInfo, frequency: int) -> bytes:
    """AAC in an MP4 (M4A) container, encoded by FFmpeg through PyAV."""
    samples = tone(info, frequency)
    layout = "stereo" if info.channels == 2 else "mono"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=info.sample_rate, layout=layout)
        step = 1024  # one AAC frame
        for start in range(0, len(samples), step):
            chunk = np.ascontiguousarray(samples[start : start + step]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout=layout)
            frame.sample_rate = info.sample_rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[AudioInfo, int], bytes]] = {
    "wav": render_wav,
    "flac": render_flac,
    "mp3": render_mp3,
    "m4a": render_m4a,
}


def as_rendered(info: AudioInfo, fmt: str) -> AudioInfo:
    """`info` as a file of `fmt` holds it: a WAV at its object's bit depth; FLAC at 16 bits,
    and MP3 and M4A encoded from 16-bit samples, whatever was asked (so the render budget is
    charged what they render)."""
    return info if fmt == "wav" or info.bits == DEFAULT_BITS else replace(info, bits=DEFAULT_BITS)


def render_audio(info: AudioInfo, frequency: int, fmt: str) -> bytes:
    """A tone of `info`'s duration, rate and channels, encoded as `fmt` (a MEDIA_TYPES key)."""
    return RENDERERS[fmt](as_rendered(info, fmt), frequency)


def zip_bytes(members: dict[str, bytes], dated: float) -> bytes:
    """A deflated zip of `members`, each dated at `dated` of the server clock (UTC, as every
    time an API prints; the job behind the link, so one link gives the same bytes each time,
    never wall time), with the permissions `writestr` gives a name."""
    moment = min(max(dated, ZIP_EARLIEST), ZIP_LATEST)
    date_time = datetime.fromtimestamp(moment, UTC).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            member = zipfile.ZipInfo(name, date_time)
            member.external_attr = 0o600 << 16
            archive.writestr(member, data, zipfile.ZIP_DEFLATED)
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
        """Compared as bytes: `compare_digest` refuses a str past ASCII (`?signature=%C3%A9`)."""
        sent = signature.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(self.signature(job_id, name, expires).encode(), sent)
