"""The Camb.ai examples against the mock: plain requests, and the official SDK unmodified."""

from __future__ import annotations

import io
import wave

import httpx
import pytest
from camb_client import SeparationFailed, separate, separate_with_sdk

from mockserver.fixtures.plugin import MockSdks, MockServer
from mockserver.virtualtime import VirtualTime

API = "camb"


def silent_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(rate)
        track.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()


TRACK = silent_wav()


def test_separates_with_requests(mockserver: MockServer, virtual_time: VirtualTime) -> None:
    result = separate(
        TRACK, "song.wav", api_key=mockserver.api_key(API), base_url=mockserver.base_url(API)
    )

    assert result.foreground[:4] == result.background[:4] == b"fLaC"  # the docs: results are FLAC
    assert result.foreground != result.background
    assert virtual_time.slept >= 30  # polled through the whole separation, in no real time


def test_reports_the_exception_reason(mockserver: MockServer, virtual_time: VirtualTime) -> None:
    mockserver.queue(API, "ERROR", reason="SOURCE_TOO_LONG")

    with pytest.raises(SeparationFailed) as failure:
        separate(
            TRACK, "song.wav", api_key=mockserver.api_key(API), base_url=mockserver.base_url(API)
        )
    assert (failure.value.status, failure.value.reason) == ("ERROR", "SOURCE_TOO_LONG")


def test_the_sdk_unmodified(mock_sdks: MockSdks, mockserver: MockServer) -> None:
    camb = pytest.importorskip("camb", reason="camb-sdk is not installed")
    # CAMB_API_KEY comes from the fixture; the base URL is the SDK's documented argument, and
    # the HTTP client its own, so the test closes it (the SDK keeps the one it would make)
    with httpx.Client() as http, mockserver.virtual_time():
        client = camb.CambAI(base_url=mock_sdks.camb_base_url, httpx_client=http)
        result = separate_with_sdk(client, TRACK, "song.wav")

    assert result.foreground[:4] == b"fLaC"
    assert [job["state"] for job in mockserver.jobs(API)] == ["SUCCESS"]


def test_the_sdk_sees_a_payment_failure(mock_sdks: MockSdks, mockserver: MockServer) -> None:
    pytest.importorskip("camb", reason="camb-sdk is not installed")
    mockserver.queue(API, "PAYMENT_REQUIRED")

    with mockserver.virtual_time(), pytest.raises(SeparationFailed, match="PAYMENT_REQUIRED"):
        separate_with_sdk(mock_sdks.camb_client(), TRACK, "song.wav")
