"""Neural Analog's rules: object kinds, how long they take, their stems, their files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mockserver.contracts.document import HERE
from mockserver.contracts.lifecycle import lifecycles_in
from mockserver.engine.artifacts import AudioInfo
from mockserver.stores.codec import storable

CONTRACT = HERE / "neuralanalog.yaml"
DOWNLOADABLE = ("audio", "upscaled", "mastered", "stem")
COMPLETED, FAILED = "completed", "failed"

GONE = "Source audio is no longer available"  # the status page's one `error_message` example
# kind -> (what it says while running, what it says once done, why it fails); the states it
# shows and how long it takes are its lifecycle's in the contract (a workflow: its steps'). A
# workflow fails with its failing step, so it says what a step says
KINDS: dict[str, tuple[str, str, str]] = {
    "audio": ("Importing audio", "Import completed", GONE),
    "upscaled": ("Restoring audio", "Restoration completed", GONE),
    "mastered": ("Mastering audio", "Mastering completed", GONE),
    "stem_split": ("Separating stems", "Stem separation completed", GONE),
    "workflow": ("Running workflow", "Workflow completed", GONE),
}
CYCLES = lifecycles_in("neuralanalog", CONTRACT)
(IN_PROGRESS,) = CYCLES["audio"].stages(1)
CYCLES.conform(KINDS, [IN_PROGRESS], (COMPLETED, FAILED))

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


@storable
@dataclass(frozen=True, slots=True)
class Stem:
    stem_id: str
    name: str
    frequency: int  # each stem is its own tone, so a test can tell them apart

    state_tag: ClassVar[str] = "stem"

    def to_state(self) -> list[Any]:
        return [self.stem_id, self.name, self.frequency]

    @classmethod
    def from_state(cls, data: list[Any]) -> Stem:
        return cls(*data)


TONES = {"audio": 440, "upscaled": 523, "mastered": 659}  # Hz, per track version
# a stem's tone: one slot per stem index and version it was split from, above the tracks'
STEM_VERSIONS = ("original", "restored", "mastered")
STEM_BASE, STEM_STEP = 700, 80  # Hz; the highest, 2,580 Hz, is below an 8 kHz file's Nyquist
MASTERED_STEM_SHIFT = STEM_STEP // 2  # a stem's master: between two stem slots


def tone_for(kind: str) -> int:
    """A distinct tone per version: original 440 Hz, restored 523 Hz, mastered 659 Hz."""
    return TONES.get(kind, 440)


def stems_for(preset: str, version: str, ids: list[str]) -> tuple[Stem, ...]:
    """The stems a split yields, each its own tone, apart from the tracks' and from the stems
    of splits of the track's other versions."""
    names = STEMS.get(preset, ("stem_1", "stem_2"))
    slot = STEM_VERSIONS.index(version)
    return tuple(
        Stem(ids[i], name, STEM_BASE + STEM_STEP * (len(STEM_VERSIONS) * i + slot))
        for i, name in enumerate(names)
    )


def mastered_stem_tone(stem: Stem) -> int:
    """A stem's master plays apart from the stem itself and from every other stem."""
    return stem.frequency + MASTERED_STEM_SHIFT


def audio_of(data: dict) -> AudioInfo:
    return data["info"]
