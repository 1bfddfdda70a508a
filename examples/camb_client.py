"""Camb.ai audio separation, two ways an application might call it: plain `requests`, and the
official `camb-sdk`. Both upload a track, poll the task and fetch the two separated tracks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

PUBLIC_URL = "https://client.camb.ai/apis"


class SeparationFailed(RuntimeError):
    def __init__(self, status: str, reason: str | None, message: Any) -> None:
        super().__init__(f"separation {status}: {reason} ({message})")
        self.status = status
        self.reason = reason


@dataclass
class Separation:
    run_id: int
    foreground: bytes
    background: bytes


def _fetch(url: str) -> bytes:
    """Result links are pre-signed: fetched without the API key."""
    response = requests.get(url, timeout=60)
    response.raise_for_status()
    return response.content


def separate(
    audio: bytes,
    filename: str,
    *,
    api_key: str,
    base_url: str = PUBLIC_URL,
    poll_interval: float = 2.0,
) -> Separation:
    """Separate `audio` into foreground and background with plain HTTP calls."""
    with requests.Session() as http:
        http.headers["x-api-key"] = api_key
        created = http.post(
            f"{base_url}/audio-separation", files={"media_file": (filename, audio)}, timeout=60
        )
        created.raise_for_status()
        task_id = created.json()["task_id"]
        while True:
            status = http.get(f"{base_url}/audio-separation/{task_id}", timeout=60)
            status.raise_for_status()
            body = status.json()
            if body["status"] != "PENDING":
                break
            time.sleep(poll_interval)
        if body["status"] != "SUCCESS":
            raise SeparationFailed(
                body["status"], body.get("exception_reason"), body.get("message")
            )
        info = http.get(f"{base_url}/audio-separation-result/{body['run_id']}", timeout=60)
        info.raise_for_status()
        urls = info.json()
    return Separation(
        body["run_id"], _fetch(urls["foreground_audio_url"]), _fetch(urls["background_audio_url"])
    )


def separate_with_sdk(
    client: Any, audio: bytes, filename: str, poll_interval: float = 2.0
) -> Separation:
    """The same with `camb.CambAI` (any configured client: the caller chooses key and URL)."""
    api = client.audio_separation
    task_id = api.create_audio_separation(media_file=(filename, audio)).task_id
    while (status := api.get_audio_separation_status(task_id)).status == "PENDING":
        time.sleep(poll_interval)
    if status.status != "SUCCESS":
        raise SeparationFailed(status.status, status.exception_reason, status.message)
    info = api.get_audio_separation_run_info(status.run_id)
    return Separation(
        status.run_id, _fetch(info.foreground_audio_url), _fetch(info.background_audio_url)
    )
