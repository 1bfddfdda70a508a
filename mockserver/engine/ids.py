"""IDs in each service's own style, reproducible from the server's seed."""

from __future__ import annotations

import secrets
import threading
import uuid
from random import Random

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class IdFactory:
    """Random-looking IDs. With a seed, each (API, tenant) gets its own reproducible stream,
    so the same requests give the same IDs even when tenants interleave (parallel tests).

    A `salt` is mixed into the ID streams only: `mockserver serve` draws one per start, so a
    restarted server never hands out an ID a client may still be polling, while outcomes drawn
    from `draws` (the default profile's failures) stay those of the seed."""

    def __init__(self, seed: int | None = None, salt: str = "") -> None:
        self.seed = seed if seed is not None else secrets.randbits(32)
        self.salt = salt
        self._streams: dict[tuple[str, str], Random] = {}
        self._lock = threading.Lock()

    def rng(self, api: str, tenant: str) -> Random:
        """The stream IDs are drawn from."""
        return self._stream(f"{self.salt}:{api}" if self.salt else api, tenant)

    def draws(self, api: str, tenant: str) -> Random:
        """The stream outcomes are drawn from: the seed's alone."""
        return self._stream(api, tenant) if not self.salt else self._stream(f"draws:{api}", tenant)

    def _stream(self, name: str, tenant: str) -> Random:
        with self._lock:
            stream = self._streams.get((name, tenant))
            if stream is None:
                stream = self._streams[(name, tenant)] = Random(f"{self.seed}:{name}:{tenant}")
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
