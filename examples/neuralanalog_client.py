"""A small Neural Analog client, written as an application would: plain httpx, polling.

Nothing in it knows about the mock: the tests hand it the mock's base URL and key (or an
in-process transport), and its `time.sleep` between polls runs on the mock's virtual clock.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

PUBLIC_URL = "https://api.neuralanalog.com"


class JobFailed(RuntimeError):
    """The service reports the job as failed; the message is its `error_message`."""


class NeuralAnalog:
    def __init__(
        self,
        api_key: str,
        base_url: str = PUBLIC_URL,
        *,
        poll_interval: float = 10.0,
        timeout: float = 900.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.http = httpx.Client(
            base_url=base_url,
            headers={"X-API-Key": api_key},
            transport=transport,
            follow_redirects=True,  # downloads answer 307 to a signed link
            timeout=30.0,
        )

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.post(path, json=body).raise_for_status().json()

    def import_link(self, url: str) -> str:
        return self._post("/from-link", {"url": url})["audio_id"]

    def master(self, audio_id: str, preset: str = "universal_enhancer") -> str:
        return self._post("/master-audio", {"audio_id": audio_id, "preset": preset})["id"]

    def wait(self, object_type: str, object_id: str) -> dict[str, Any]:
        """Poll until the object is complete; JobFailed or TimeoutError otherwise."""
        deadline = time.monotonic() + self.timeout
        while True:
            status = self.http.get(f"/status/{object_type}/{object_id}").raise_for_status().json()
            if status["is_failed"]:
                raise JobFailed(status["error_message"])
            if status["is_complete"]:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{object_type} {object_id} still {status['status']}")
            time.sleep(self.poll_interval)

    def download(self, object_type: str, object_id: str) -> bytes:
        return self.http.get(f"/download/{object_type}/{object_id}").raise_for_status().content

    def master_link(self, url: str) -> bytes:
        """Import a track from a link, master it, and return the mastered WAV."""
        audio_id = self.import_link(url)
        self.wait("audio", audio_id)
        mastered_id = self.master(audio_id)
        self.wait("mastered", mastered_id)
        return self.download("mastered", mastered_id)
