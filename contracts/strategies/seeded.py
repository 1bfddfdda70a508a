"""One value of a strategy from a seed, the same in any process: what payload variety serves."""

from __future__ import annotations

import copy
import functools
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.internal.conjecture.providers import AVAILABLE_PROVIDERS, HypothesisProvider
from hypothesis.strategies import SearchStrategy

T = TypeVar("T")


class _SeededProvider(HypothesisProvider):
    """Hypothesis's own provider, minus the constants it mines from the caller's modules.

    Since 6.131 Hypothesis sometimes draws literals found in whatever local (non site-packages)
    modules are imported at that moment, so one seed gives different values depending on what
    the process happened to load (test order, xdist worker, a literal added to client code).
    Without them a draw depends on the seed alone. Registered as its own backend, used only by
    `example`; tests keep the default provider."""

    def _maybe_draw_constant(self, *args: Any, **kwargs: Any) -> None:
        return None


SEEDED_BACKEND = "contracts-seeded"
AVAILABLE_PROVIDERS.setdefault(SEEDED_BACKEND, _SeededProvider)


def example(strategy: SearchStrategy[T], seed: int) -> T:
    """One value of `strategy`, the same for the same seed (and Hypothesis version) in any
    process: what fault injection serves for "payload variety, seed N".

    Outside a test Hypothesis draws only through `@given`, so this runs a quiet, database-free
    `@given` pinned by `@seed` on the seeded backend and keeps its last example (the first
    example of a run is always the simplest one, the same for every seed)."""
    return copy.deepcopy(_seeded_draw(strategy, seed))


@functools.lru_cache(maxsize=512)
def _seeded_draw(strategy: SearchStrategy[Any], seed: int) -> Any:
    found: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        backend=SEEDED_BACKEND,
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

    collect()
    return found[-1]
