"""`generate-schema` without a language model: the fields a description names, by its commas.

"Extract the invoice number, total amount, due date, and every line item with description,
quantity, and unit price." names four fields; "every/each/all <x> with <a>, <b>" is a list of
objects. A name says its type: amounts, totals, prices... are numbers, quantities and counts
integers, the rest strings. Every field is required except dates, which documents often lack.
For the docs' own description this gives the docs' own answer; any description gives a schema
that `/extract-fields` accepts, the same for the same words.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MAX_FIELDS = 100
LIST_CLAUSE = re.compile(r"\b(?:every|each|all(?: the)?|any)\s+(.+?)\s+with\s+(.+)$", re.I)
SEPARATORS = re.compile(r"\s*(?:,|;|\band\b|\bor\b|&)\s*", re.I)
LEAD = re.compile(r"^\s*(?:please\s+)?(?:extract|get|find|return|capture)\s+", re.I)
TAIL = re.compile(r"\s+(?:from|in|of|on)\s+(?:an?|the|this|each|every)\s+[\w\s-]+$", re.I)
ARTICLES = {"the", "a", "an", "its", "their", "all"}
NUMBERS = ("amount", "total", "price", "cost", "sum", "tax", "balance", "rate", "fee", "weight")
INTEGERS = ("quantity", "count", "qty", "pages", "age", "year")
WORDS = re.compile(r"[^\W_]+")  # letters and digits of any script: "Fälligkeitsdatum" is one


def generate(description: str) -> dict[str, Any] | None:
    """The object schema the description names; None when it names no field (no word in it,
    or articles alone)."""
    text = TAIL.sub("", LEAD.sub("", description.strip().rstrip(".!?")))
    clause = LIST_CLAUSE.search(text)
    head = text[: clause.start()] if clause else text
    properties: dict[str, dict[str, Any]] = {name: _typed(name) for name in _names(head)}
    if clause:
        items = {name: _typed(name) for name in _names(clause[2])}
        name = _name(clause[1])
        if name and items:
            properties[_plural(name)] = {
                "type": "array",
                "items": {"type": "object", "properties": items, "required": list(items)},
            }
    if not properties:
        return None
    required = [name for name in properties if "date" not in name.split("_")]
    return {"type": "object", "properties": properties, "required": required}


def _names(text: str) -> list[str]:
    names: list[str] = []
    for part in SEPARATORS.split(text):
        name = _name(part)
        if name and name not in names and len(names) < MAX_FIELDS:
            names.append(name)
    return names


def _name(words: str) -> str:
    # composed first: an accent typed as its own mark (`e` + U+0301) stays in its word
    text = unicodedata.normalize("NFC", words).lower()
    kept = [w for w in WORDS.findall(text) if w not in ARTICLES]
    return "_".join(kept)[:64]


def _plural(name: str) -> str:
    return name if name.endswith("s") else f"{name}s"


def _typed(name: str) -> dict[str, str]:
    words = name.split("_")
    if "number_of" in name or any(word in words for word in INTEGERS):
        return {"type": "integer"}
    if any(word in words for word in NUMBERS):
        return {"type": "number"}
    return {"type": "string"}
