"""IDs in each service's own style, reproducible from the server's seed."""

from __future__ import annotations

import secrets
from hashlib import blake2b
from random import Random

from mockserver.stores import MemoryStore, StateStore, lasting_key

BLOCK_BITS = 512  # the bits of one BLAKE2b hash of `HashRandom`
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class IdFactory:
    """Random-looking IDs. With a seed, each (API, tenant) gets its own reproducible stream,
    so the same requests give the same IDs even when tenants interleave (parallel tests).

    A stream is a counter in the store: its n-th draw comes from a generator seeded with
    (seed, stream, tenant, n), so workers sharing a store never draw the same one twice and a
    restarted server on a kept store goes on where it stopped. The counters are lasting keys:
    a reset keeps them (the streams go on), as one counted again from 1 would hand out its
    IDs again to a worker still drawing on it, whichever order the reset and draws come in.

    A `salt` is mixed into the ID streams only: `mockserver serve` draws one per start, so a
    restarted server on a fresh store never hands out an ID a client may still be polling,
    while outcomes drawn from `draws` (the default profile's failures) stay those of the seed.

    A `generation` is mixed in the same way once a shared store lost its contents under the
    running server (`MockState`): the counters start from 1 again, and the streams they count
    must be new ones."""

    def __init__(
        self, seed: int | None = None, salt: str = "", store: StateStore | None = None
    ) -> None:
        self.seed = seed if seed is not None else secrets.randbits(32)
        self.salt = salt
        self.generation = ""  # the store's mark after a loss this server saw; "" before any
        self._store = store or MemoryStore()

    def rng(self, api: str, tenant: str) -> Random:
        """The generator of the tenant's next IDs."""
        return self._next(self._ids_stream(api), tenant)

    def draws(self, api: str, tenant: str) -> Random:
        """The generator of the tenant's next outcome draw: the seed's alone."""
        return self._next(api if not self.salt else f"draws:{api}", tenant)

    def uuid(self, api: str, tenant: str) -> str:
        """`new_uuid(self.rng(api, tenant))`, the same UUID, from one hash and no generator:
        a create's ID was a tenth of its time."""
        return _uuid_text(_first_bits(self._next_seed(self._ids_stream(api), tenant), 128))

    def base62(self, api: str, tenant: str, length: int) -> str:
        """`base62(self.rng(api, tenant), length)`, the same characters, drawn from the first
        hash alone whenever it holds them (nearly always)."""
        seed = self._next_seed(self._ids_stream(api), tenant)
        bound = 62**length
        bits = bound.bit_length()
        if bits <= BLOCK_BITS:
            pool = _first_bits(seed, BLOCK_BITS)
            for _ in range(BLOCK_BITS // bits):  # the draws `randrange` makes
                number, pool = pool & ((1 << bits) - 1), pool >> bits
                if number < bound:
                    return _base62_text(number, length)
        return base62(HashRandom(seed), length)

    def _next(self, stream: str, tenant: str) -> Random:
        return HashRandom(self._next_seed(stream, tenant))

    def _ids_stream(self, api: str) -> str:
        stream = f"{self.salt}:{api}" if self.salt else api
        return f"{stream}@{self.generation}" if self.generation else stream

    def _next_seed(self, stream: str, tenant: str) -> str:
        count = self._store.incr(lasting_key(counted_as(tenant), "ids", stream))
        return f"{self.seed}:{stream}:{tenant}:{count}"


LONGEST_COUNTED = 64  # characters of a tenant its ID counters are named by (digested past it)


def counted_as(tenant: str) -> str:
    """The name a tenant's ID counters are kept under. A reset keeps them, so every key that
    ever made a job leaves them behind: a key up to LONGEST_COUNTED characters names them
    itself (as it always did, so a kept store's counters go on), a longer one (up to 4,096)
    by its digest, about a hundred bytes whatever its length. Two tenants sharing a counter
    would still draw apart: the seed an ID is drawn from names the tenant itself."""
    if len(tenant) <= LONGEST_COUNTED:
        return tenant
    return "#" + blake2b(tenant.encode(), digest_size=16).hexdigest()


class HashRandom(Random):
    """A `Random` whose bits are BLAKE2b hashes of its seed and a block number.

    A create seeds a generator for each ID it draws: seeding the Mersenne Twister (624 words
    to fill) was a twentieth of a create's time, one hash is a fifth of that. Every method of
    `Random` works on these bits (`getrandbits` and `random` are what it builds on)."""

    def seed(self, a: object = None, version: int = 2) -> None:
        if a is None:
            a = secrets.token_hex(16)
        self._seed = str(a).encode()
        self._blocks = 0  # blocks hashed so far
        self._pool = 0  # bits hashed and not drawn yet, lowest first
        self._pooled = 0  # how many

    def getrandbits(self, k: int) -> int:
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        pool, pooled = self._pool, self._pooled
        while pooled < k:
            block = blake2b(self._seed + b":%d" % self._blocks, digest_size=64).digest()
            pool |= int.from_bytes(block, "little") << pooled
            pooled += BLOCK_BITS
            self._blocks += 1
        self._pool, self._pooled = pool >> k, pooled - k
        return pool & ((1 << k) - 1)

    def random(self) -> float:
        return self.getrandbits(53) * 2.0**-53

    def getstate(self) -> tuple[bytes, int, int, int]:  # type: ignore[override]
        return self._seed, self._blocks, self._pool, self._pooled

    def setstate(self, state: tuple[bytes, int, int, int]) -> None:  # type: ignore[override]
        self._seed, self._blocks, self._pool, self._pooled = state


# the bits `uuid.UUID(int=..., version=4)` sets: variant RFC 4122, version 4
_CLEARED = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (4 << 76)


def new_uuid(rng: Random) -> str:
    """`str(uuid.UUID(int=rng.getrandbits(128), version=4))`, formatted directly (a create
    draws one or more: the UUID object was a measurable share of it)."""
    return _uuid_text(rng.getrandbits(128))


def _uuid_text(bits: int) -> str:
    text = "%032x" % ((bits & _CLEARED) | _SET)
    return "-".join((text[:8], text[8:12], text[12:16], text[16:20], text[20:]))


def unit_draw(seed: str) -> float:
    """`HashRandom(seed).random()`, from one hash: a number in [0, 1) fixed by `seed` (a
    fault rule's rate draws one per request; seeding a Mersenne Twister from a string, as
    `Random(seed).random()` would, costs six times as much)."""
    return _first_bits(seed, 53) * 2.0**-53


def _first_bits(seed: str, k: int) -> int:
    """`HashRandom(seed).getrandbits(k)` for k up to one block: the first block's low bits."""
    assert 0 <= k <= BLOCK_BITS
    block = blake2b(seed.encode() + b":0", digest_size=64).digest()
    return int.from_bytes(block, "little") & ((1 << k) - 1)


def base62(rng: Random, length: int) -> str:
    """`length` characters of BASE62, each equally likely (one draw, not one per character):
    `rng.randrange(62**length)` written out two digits at a time, lowest first."""
    bound = 62**length
    bits = bound.bit_length()
    number = rng.getrandbits(bits)
    while number >= bound:  # what `randrange` does, without its argument checks
        number = rng.getrandbits(bits)
    return _base62_text(number, length)


def _base62_text(number: int, length: int) -> str:
    """`length` BASE62 digits of `number`, lowest first: four at a time (as two pairs),
    then a pair and a digit for the rest."""
    characters: list[str] = []
    for _ in range(length // 4):
        number, four = divmod(number, _FOUR)
        high, low = divmod(four, _PAIR)
        characters += (_PAIRS[low], _PAIRS[high])
    if length % 4 >= 2:
        number, pair = divmod(number, _PAIR)
        characters.append(_PAIRS[pair])
    if length % 2:
        characters.append(BASE62[number])
    return "".join(characters)


_PAIR, _FOUR = 62**2, 62**4


_PAIRS = [BASE62[n % 62] + BASE62[n // 62] for n in range(62 * 62)]  # two digits, lowest first


def integer(rng: Random, low: int = 100_000, high: int = 9_999_999) -> int:
    return rng.randint(low, high)
