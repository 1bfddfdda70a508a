"""One value of a strategy from a seed, the same in any process: what payload variety serves."""

from __future__ import annotations

import copy
import functools
import math
import threading
from contextvars import ContextVar
from random import Random
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.internal.conjecture.providers import AVAILABLE_PROVIDERS, PrimitiveProvider
from hypothesis.strategies import SearchStrategy

T = TypeVar("T")

# one draw at a time per process: a server draws in worker threads (payload variety, NeuroLinker
# field extraction), and each draw is a whole `@given` run
DRAWING = threading.Lock()


class SeededProvider(PrimitiveProvider):
    """A Hypothesis backend (the documented `PrimitiveProvider` interface) whose every choice
    comes from one `random.Random` of the draw's seed, and from nothing else.

    Hypothesis' own provider sometimes draws literals found in whatever local modules are
    imported at that moment, so one seed would give different values depending on what the
    process happened to load (test order, xdist worker, a literal added to client code). This
    one leans to short sizes and small numbers, as payload variety wants; tests keep the
    default provider."""

    lifetime = "test_function"
    # a payload is no test case to shrink: no choice counts against Hypothesis' 8 KiB buffer,
    # which a string of 2,100 characters from all of Unicode overran (Hypothesis then drew
    # again for seconds and settled on its simplest value, the same for every seed)
    avoid_realization = True

    def __init__(self, conjecturedata: Any, /) -> None:
        super().__init__(conjecturedata)
        self.random = Random(_SEED.get())

    def draw_boolean(self, p: float = 0.5) -> bool:
        return p >= 1 or (p > 0 and self.random.random() < p)

    def draw_integer(
        self,
        min_value: int | None = None,
        max_value: int | None = None,
        *,
        weights: dict[int, float] | None = None,
        shrink_towards: int = 0,
    ) -> int:
        if weights and self.random.random() < sum(weights.values()):
            return self.random.choices(list(weights), list(weights.values()))[0]
        span = 2 ** self.random.randint(0, 16)  # mostly small magnitudes, sometimes large
        low = min_value if min_value is not None else (max_value or shrink_towards) - span
        high = max_value if max_value is not None else low + span
        return self.random.randint(low, high)

    def draw_float(
        self,
        *,
        min_value: float = -math.inf,
        max_value: float = math.inf,
        allow_nan: bool = True,
        smallest_nonzero_magnitude: float = 0.0,
    ) -> float:
        low = max(min_value, -1e6)
        high = min(max_value, 1e6)
        if low > high:  # a range far from zero
            low, high = min_value, max_value
        value = self.random.uniform(low, high)
        if 0 < abs(value) < smallest_nonzero_magnitude:
            value = min(max(math.copysign(smallest_nonzero_magnitude, value), min_value), max_value)
        return value

    def draw_string(self, intervals: Any, *, min_size: int = 0, max_size: int = 8192) -> str:
        if len(intervals) == 0:
            return ""
        size = self._size(min_size, max_size)
        return "".join(chr(intervals[self.random.randrange(len(intervals))]) for _ in range(size))

    def draw_bytes(self, min_size: int = 0, max_size: int = 8192) -> bytes:
        return self.random.randbytes(self._size(min_size, max_size))

    def _size(self, min_size: int, max_size: int) -> int:
        return self.random.randint(min_size, min(max_size, min_size + 12))


_SEED: ContextVar[int] = ContextVar("seed", default=0)
SEEDED_BACKEND = "contracts-seeded"
# registered as Hypothesis documents for alternative backends: a dotted path
AVAILABLE_PROVIDERS.setdefault(SEEDED_BACKEND, f"{__name__}.SeededProvider")


def example(strategy: SearchStrategy[T], seed: int) -> T:
    """One value of `strategy`, the same for the same seed (and Hypothesis version) in any
    process: what fault injection serves for "payload variety, seed N".

    Outside a test Hypothesis draws only through `@given`, so this runs a quiet, database-free
    `@given` pinned by `@seed` on the seeded backend and keeps its last example (the first
    example of a run is always the simplest one, the same for every seed). A seed that is not
    a whole number (NaN, 1.5, True) is a TypeError: Hypothesis would take it, not reproducibly.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a whole number (an int), not {seed!r}")
    return copy.deepcopy(_seeded_draw(strategy, seed))


@functools.lru_cache(maxsize=512)
def _seeded_draw(strategy: SearchStrategy[Any], seed: int) -> Any:
    return fresh_example(strategy, seed)


def fresh_example(strategy: SearchStrategy[T], seed: int, backend: str = SEEDED_BACKEND) -> T:
    """`example`, drawn anew and kept by nobody: for a strategy made for one draw (a
    NeuroLinker payload's, from the client's schema), whose values a cache would only hold.
    `backend`: a registered subclass of `SeededProvider`, its `random` seeded alike."""
    found: list[T] = []

    @hypothesis_seed(seed)
    @settings(
        backend=backend,
        database=None,
        max_examples=2,
        derandomize=False,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    with DRAWING:
        token = _SEED.set(seed)
        try:
            collect()
        finally:
            _SEED.reset(token)
    return found[-1]
