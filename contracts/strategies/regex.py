"""Strings matching a contract's `pattern`, drawn quickly for the shapes IDs have."""

from __future__ import annotations

import re
import string

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

REGEX_ATOM = re.compile(
    r"\[(?P<negated>\^?)(?P<members>(?:\\.|[^\]\\])+)\]|\\(?P<escaped>.)|(?P<literal>[^.^$*+?()\[\]{}|\\])"
)
REGEX_QUANTIFIER = re.compile(r"\{(?P<low>\d+)(?P<comma>,(?P<high>\d*))?\}|(?P<symbol>[*+?])")
REGEX_CLASSES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_"}


def regex_strings(pattern: str) -> SearchStrategy[str]:
    """Strings matching `pattern`. Sequences of literals and character classes (what the
    contracts' ID patterns are) draw each run in one go; other shapes use `from_regex`, which
    draws character by character and is several times slower."""
    parts = _regex_parts(pattern)
    if parts is None:
        return st.from_regex(pattern, fullmatch=True)
    compiled = re.compile(pattern)
    return st.tuples(*parts).map("".join).filter(lambda text: compiled.search(text) is not None)


def _regex_parts(pattern: str) -> list[SearchStrategy[str]] | None:
    body = pattern.removeprefix("^")
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1]
    parts, position = [], 0
    while position < len(body):
        atom = REGEX_ATOM.match(body, position)
        if atom is None:
            return None
        alphabet = _regex_alphabet(atom)
        if alphabet is None:
            return None
        position = atom.end()
        quantifier = REGEX_QUANTIFIER.match(body, position)
        low, high = _regex_repeats(quantifier)
        if quantifier is not None:
            position = quantifier.end()
        parts.append(st.text(alphabet, min_size=low, max_size=high))
    return parts


def _regex_alphabet(atom: re.Match[str]) -> str | SearchStrategy[str] | None:
    if atom["literal"] is not None:
        return atom["literal"]
    if atom["escaped"] is not None:
        letter = atom["escaped"]
        return REGEX_CLASSES.get(letter) if letter.isalnum() else letter
    members = _class_members(atom["members"])
    if members is None or not atom["negated"]:
        return members
    return st.characters(codec="utf-8", exclude_characters=members)


def _class_members(members: str) -> str | None:
    """The characters a `[...]` class lists: single characters, ranges, `\\d`, `\\w`."""
    tokens = re.findall(r"\\.|.", members)
    chars: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("\\") and token[1].isalnum():
            if token[1] not in REGEX_CLASSES:
                return None
            chars += REGEX_CLASSES[token[1]]
            index += 1
        elif index + 2 < len(tokens) and tokens[index + 1] == "-":
            first, last = ord(token[-1]), ord(tokens[index + 2][-1])
            chars += map(chr, range(first, last + 1))
            index += 3
        else:
            chars.append(token[-1])
            index += 1
    return "".join(dict.fromkeys(chars))


def _regex_repeats(quantifier: re.Match[str] | None) -> tuple[int, int]:
    if quantifier is None:
        return 1, 1
    symbol = quantifier["symbol"]
    if symbol is not None:
        return {"*": (0, 8), "+": (1, 9), "?": (0, 1)}[symbol]
    low = int(quantifier["low"])
    if not quantifier["comma"]:
        return low, low
    return low, int(quantifier["high"]) if quantifier["high"] else low + 8
