"""Neural Analog's rules: object kinds, how long they take, their stems, their files."""

from __future__ import annotations

from dataclasses import dataclass

from mockserver.engine.artifacts import AudioInfo

DOWNLOADABLE = ("audio", "upscaled", "mastered", "stem")

# kind -> (default seconds, what it says while running, what it says once done, why it fails)
KINDS: dict[str, tuple[float, str, str, str]] = {
    "audio": (20.0, "Importing audio", "Import completed", "Source audio could not be decoded"),
    "upscaled": (
        120.0,
        "Restoring audio",
        "Restoration completed",
        "Source audio is no longer available",
    ),
    "mastered": (
        90.0,
        "Mastering audio",
        "Mastering completed",
        "Source audio is no longer available",
    ),
    "stem_split": (
        180.0,
        "Separating stems",
        "Stem separation completed",
        "Stem separation failed",
    ),
    "workflow": (0.0, "Running workflow", "Workflow completed", "Workflow step failed"),
}

STEP_KINDS = {"upscale": "upscaled", "master": "mastered", "stems": "stem_split"}

STEMS: dict[str, tuple[str, ...]] = {
    "acapella": ("vocals", "instrumental"),
    "instrumental": ("instrumental", "vocals"),
    "2_tracks": ("vocals", "instrumental"),
    "4_tracks": ("vocals", "drums", "bass", "other"),
    "6_tracks": ("vocals", "drums", "bass", "guitar", "piano", "other"),
    "5_drums_tracks": ("kick", "snare", "toms", "hihat", "cymbals"),
    "2_tracks_drums": ("drums", "no_drums"),
    "custom": ("target", "residual"),
    "lead_back": ("lead_vocals", "backing_vocals"),
    "duet": ("voice_1", "voice_2"),
    "modern_bowed_strings": ("strings", "other"),
    "mvsep_mega_53": ("vocals", "drums", "bass", "guitar", "piano", "strings", "winds", "other"),
    "denoise": ("clean", "noise"),
    "denoise_debleed": ("clean", "bleed"),
    "dereverb": ("dry", "reverb"),
    "decrowd": ("music", "crowd"),
    "phantom_center": ("center", "sides"),
}

# which archive version a processed object is: its source decides for stems
VERSION_OF_KIND = {"audio": "original", "upscaled": "restored", "mastered": "mastered"}
LINK_DURATION = 30.0  # seconds of audio assumed for an imported link (nothing to measure)
UNREADABLE_DURATION = 1.0  # of an upload no decoder reads (its import fails unless steered)
# how fast the service is taken to zip: 30 s (the docs' example threshold) is about 1 GB
ZIP_BYTES_PER_SECOND = 33_000_000


@dataclass(frozen=True, slots=True)
class Stem:
    stem_id: str
    name: str
    frequency: int  # each stem is its own tone, so a test can tell them apart


def tone_for(kind: str) -> int:
    """A distinct tone per version: original 440 Hz, restored 523 Hz, mastered 659 Hz."""
    return {"audio": 440, "upscaled": 523, "mastered": 659}.get(kind, 440)


def stems_for(preset: str, ids: list[str]) -> tuple[Stem, ...]:
    names = STEMS.get(preset, ("stem_1", "stem_2"))
    return tuple(Stem(ids[i], name, 220 + 110 * i) for i, name in enumerate(names))


def audio_of(data: dict) -> AudioInfo:
    return data["info"]
