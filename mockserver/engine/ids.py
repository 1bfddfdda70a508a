"""IDs in each service's own style, reproducible from the server's seed."""

from __future__ import annotations

import secrets
import threading
import uuid
from random import Random

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class IdFactory:
    """Random-looking IDs. With a seed, each (API, tenant) gets its own reproducible stream,
    so the same requests give the same IDs even when tenants interleave (parallel tests)."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed if seed is not None else secrets.randbits(32)
        self._streams: dict[tuple[str, str], Random] = {}
        self._lock = threading.Lock()

    def rng(self, api: str, tenant: str) -> Random:
        with self._lock:
            stream = self._streams.get((api, tenant))
            if stream is None:
                stream = self._streams[(api, tenant)] = Random(f"{self.seed}:{api}:{tenant}")
            return stream

    def reset(self) -> None:
        with self._lock:
            self._streams.clear()


def new_uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def base62(rng: Random, length: int) -> str:
    return "".join(rng.choice(BASE62) for _ in range(length))


def integer(rng: Random, low: int = 100_000, high: int = 9_999_999) -> int:
    return rng.randint(low, high)
