"""The Hypothesis backend field-extraction payloads are drawn on: text as documents hold it.

A payload stands for fields an extractor read off a document, so its strings are written in
letters, digits, spaces and common punctuation wherever the string's own characters allow
them; a `pattern`'s or a `format`'s characters outside those are still drawn (each character
of a pattern comes with the few it may be). Otherwise the seeded backend's choices: the same
payload for the same document in any process.

Imported with the first schema a client sends, as Hypothesis is (`fields.payloads`).
"""

from __future__ import annotations

import functools
import string
from typing import Any

from hypothesis.internal.conjecture.providers import AVAILABLE_PROVIDERS

from mockserver.contracts.strategies.seeded import SeededProvider

READABLE = string.ascii_letters + string.digits + " .,;:-/()'&#%"
BACKEND = "neurolinker-extracted"


@functools.lru_cache(maxsize=256)
def _readable(intervals: Any) -> str:
    """The readable characters among those a string may hold (`intervals`, hashable)."""
    return "".join(character for character in READABLE if character in intervals)


class ExtractedProvider(SeededProvider):
    """The seeded backend, drawing each string from its readable characters when it has any."""

    def draw_string(self, intervals: Any, *, min_size: int = 0, max_size: int = 8192) -> str:
        readable = _readable(intervals)
        if not readable:
            return super().draw_string(intervals, min_size=min_size, max_size=max_size)
        size = self._size(min_size, max_size)
        return "".join(readable[self.random.randrange(len(readable))] for _ in range(size))


# registered as Hypothesis documents for alternative backends: a dotted path
AVAILABLE_PROVIDERS.setdefault(BACKEND, f"{__name__}.ExtractedProvider")
