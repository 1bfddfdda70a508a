"""Neural Analog against its public pages: a split names its own track, and a master's files
are written at the bit depth and loudness it asked for."""

from __future__ import annotations

import io
import math
import wave
import zipfile

import numpy
import pytest

from mockserver.engine.artifacts import AudioInfo, probe_audio, render_audio
from tests.conftest import Mock, make_mock
from tests.test_neuralanalog import Client

# ITU-R BS.1770-4's K-weighting at 48 kHz, (b, a) of its two biquads, to measure loudness
K_FILTERS = (
    (
        (1.53512485958697, -2.69169618940638, 1.19839281085285),
        (-1.69065929318241, 0.73248077421585),
    ),
    ((1.0, -2.0, 1.0), (-1.99004745483398, 0.99007225036621)),
)


@pytest.fixture
def na(mock: Mock) -> Client:
    return Client(mock)


def samples_of(data: bytes) -> tuple[int, numpy.ndarray]:
    """A WAV's sample width in bytes, as the stdlib reads it, and its samples as fractions of
    full scale, one column per channel."""
    with wave.open(io.BytesIO(data)) as reader:
        width, channels = reader.getsampwidth(), reader.getnchannels()
        raw = numpy.frombuffer(reader.readframes(reader.getnframes()), dtype=numpy.uint8)
    padded = numpy.zeros((len(raw) // width, 4), dtype=numpy.uint8)
    padded[:, 4 - width :] = raw.reshape(-1, width)  # little-endian, left-justified in 32 bits
    values = padded.view("<i4").ravel() / 2.0**31
    return width, values.reshape(-1, channels)


def loudness_of(data: bytes) -> float:
    """Integrated loudness (LUFS) of a steady 48 kHz WAV: every 400 ms block of a steady tone
    reads the same, so no gate drops one and it is the K-weighted power of all channels (the
    first 100 ms, where the filters settle, left out)."""
    _, samples = samples_of(data)
    power = 0.0
    for channel in samples.T:
        for b, a in K_FILTERS:
            out, x1, x2, y1, y2 = numpy.empty_like(channel), 0.0, 0.0, 0.0, 0.0
            for i, x in enumerate(channel.tolist()):
                y = b[0] * x + b[1] * x1 + b[2] * x2 - a[0] * y1 - a[1] * y2
                out[i], x1, x2, y1, y2 = y, x, x1, y, y1
            channel = out
        power += float(numpy.mean(channel[4800:] ** 2))
    return -0.691 + 10 * math.log10(power)


def ready_track(na: Client, rate: int = 8000, channels: int = 1) -> str:
    """A completed import of a 1 s upload at `rate` and `channels`."""
    upload = render_audio(AudioInfo(1.0, rate, channels), 300, "wav")
    answer = na.post("/from-file", files={"audio": ("take.wav", upload, "audio/wav")})
    assert answer.status_code == 200, answer.text
    audio_id = answer.json()["audio_id"]
    na.mock.advance(60)
    assert na.status("audio", audio_id)["is_complete"]
    return audio_id


def split_stems(na: Client, body: dict[str, object]) -> list[dict[str, str]]:
    answer = na.post("/create-stems", json=body)
    assert answer.status_code == 200, answer.text
    na.mock.advance(180)
    return na.status("stem_split", answer.json()["creation_id"])["stems"]


def test_a_split_of_another_track_s_restoration_or_master_is_a_404(na: Client) -> None:
    """The docs: `upscaled_id` "split a restored version of that audio", `mastered_id` "a
    mastered version of that audio". The split was filed under the other track, 200."""
    mine, other = na.ready_audio(), na.ready_audio()
    upscaled = na.post("/upscale-audio", json={"audio_id": other}).json()["id"]
    mastered = na.post("/master-audio", json={"audio_id": other}).json()["id"]
    na.mock.advance(120)
    for field, value in (("upscaled_id", upscaled), ("mastered_id", mastered)):
        body = {"preset": "2_tracks", field: value}
        refused = na.post("/create-stems", json={**body, "audio_id": mine})
        assert refused.status_code == 404, refused.text
        assert refused.json()["detail"].endswith(f"{value} not found for audio {mine}")
        for sent in ({**body, "audio_id": other}, body):  # its own track, or none named
            kept = na.post("/create-stems", json=sent)
            assert kept.status_code == 200 and kept.json()["audio_id"] == other, kept.text
    long_id = "a" * 100
    refused = na.post(
        "/create-stems", json={"preset": "2_tracks", "upscaled_id": upscaled, "audio_id": long_id}
    )
    assert refused.status_code == 404
    assert refused.json()["detail"].endswith(f"for audio {'a' * 64}...")


def test_a_master_s_wav_has_the_bit_depth_it_asked(na: Client) -> None:
    """`bit_depth` was taken and ignored: every master was 16-bit PCM. Its WAV, downloaded or
    archived, is integer PCM of that width (16 when none is asked); its other formats decode."""
    for bit_depth, width in ((None, 2), (16, 2), (24, 3), (32, 4)):
        audio_id = na.ready_audio(seconds=1.0)
        body = {"audio_id": audio_id, "bit_depth": bit_depth}
        master = na.post("/master-audio", json=body).json()["id"]
        na.mock.advance(90)
        downloaded = na.download("mastered", master)
        assert samples_of(downloaded)[0] == width, bit_depth
        archive = na.post("/download-archive", json={"id": audio_id, "versions": ["mastered"]})
        link = archive.json()["download_url"]
        zipped = zipfile.ZipFile(io.BytesIO(na.mock.client.get(link).content))
        assert zipped.read(f"{audio_id}/mastered.wav") == downloaded
        for fmt in ("flac", "mp3", "m4a"):
            info = probe_audio(na.download("mastered", master, format=fmt))
            assert info is not None and info.duration == pytest.approx(1.0, abs=0.1), fmt


def test_stems_are_written_at_the_bit_depth_their_split_asked(na: Client) -> None:
    """A split's `bit_depth` ("Output WAV bit depth") is its stems'; what is made from them
    asks for its own (a master of a 24-bit stem without one is 16-bit)."""
    audio_id = na.ready_audio(seconds=1.0)
    deep = split_stems(na, {"audio_id": audio_id, "preset": "2_tracks", "bit_depth": 24})
    usual = split_stems(na, {"audio_id": audio_id, "preset": "2_tracks"})
    assert {samples_of(na.download("stem", s["stem_id"]))[0] for s in deep} == {3}
    assert {samples_of(na.download("stem", s["stem_id"]))[0] for s in usual} == {2}
    stem = deep[0]["stem_id"]
    master = na.post("/master-audio", json={"audio_id": audio_id, "stem_id": stem}).json()["id"]
    na.mock.advance(90)
    assert samples_of(na.download("mastered", master))[0] == 2
    selection = {"stem_id": stem, "version": "original"}
    archive = {"id": audio_id, "versions": ["original_stems"], "stem_selections": [selection]}
    link = na.post("/download-archive", json=archive).json()["download_url"]
    zipped = zipfile.ZipFile(io.BytesIO(na.mock.client.get(link).content))
    assert [samples_of(zipped.read(name))[0] for name in zipped.namelist()] == [3]


@pytest.mark.parametrize(("channels", "target"), [(1, -23.0), (1, -14.0), (2, -14.0), (2, -6.0)])
def test_a_master_s_loudness_is_its_target_lufs(na: Client, channels: int, target: float) -> None:
    """`target_lufs` "controls integrated loudness": every master played at one level. A
    stem's master plays a higher tone (the K-weighting lifts it), and reads the target too."""
    audio_id = ready_track(na, rate=48_000, channels=channels)
    body = {"audio_id": audio_id, "target_lufs": target, "bit_depth": 24}
    track = na.post("/master-audio", json=body).json()["id"]
    stems = split_stems(na, {"audio_id": audio_id, "preset": "6_tracks"})
    stem = na.post("/master-audio", json={**body, "stem_id": stems[-1]["stem_id"]}).json()["id"]
    usual = na.post("/master-audio", json={"audio_id": audio_id}).json()["id"]
    na.mock.advance(90)
    for master in (track, stem):
        assert loudness_of(na.download("mastered", master)) == pytest.approx(target, abs=0.1)
    assert numpy.abs(samples_of(na.download("mastered", usual))[1]).max() == pytest.approx(
        12_000 / 32_768, abs=1e-4
    )  # no target: the usual level


def test_a_deeper_master_s_size_is_the_one_archives_are_limited_by() -> None:
    """`archive_max_file_bytes` weighs a file at the bytes it is served with: a 32-bit master
    at exactly the limit is archived, one byte over it is left out."""
    size = 0
    for limit, incomplete in ((None, False), (0, False), (-1, True)):
        for mock in make_mock(
            **({} if limit is None else {"archive_max_file_bytes": size + limit})
        ):
            client = Client(mock)
            audio_id = client.ready_audio(seconds=1.0)
            master = client.post("/master-audio", json={"audio_id": audio_id, "bit_depth": 32})
            mock.advance(90)
            served = client.download("mastered", master.json()["id"])
            assert samples_of(served)[0] == 4
            size = len(served)
            archive = client.post(
                "/download-archive", json={"id": audio_id, "versions": ["mastered"]}
            )
            assert archive.status_code == 200, archive.text
            assert archive.json()["archive_incomplete"] is incomplete


@pytest.mark.parametrize("fmt", ["flac", "mp3"])
def test_a_deeper_master_s_other_formats_cost_their_own_samples(fmt: str) -> None:
    """A 32-bit master's FLAC (16-bit, whatever was asked) was charged to the render budget as
    a 32-bit WAV: served cut short, and left out of an archive a 16-bit master's fits in."""
    budget = 2 * 8000 * 2 + 100  # two seconds of 16-bit mono at 8 kHz, and a little
    for mock in make_mock(max_render_bytes=budget):
        client = Client(mock)
        audio_id = client.ready_audio(seconds=1.5)
        master = client.post("/master-audio", json={"audio_id": audio_id, "bit_depth": 32})
        mock.advance(90)
        served = probe_audio(client.download("mastered", master.json()["id"], format=fmt))
        assert served is not None and served.duration == pytest.approx(1.5, abs=0.1)
        archive = client.post(
            "/download-archive",
            json={"id": audio_id, "versions": ["mastered"], "mastered_format": fmt},
        )
        assert archive.json()["archive_incomplete"] is False, archive.text
