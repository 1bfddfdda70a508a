"""What pydantic says of a `form` that is not JSON, in its words: `form` is a `Json` field,
parsed by jiter, whose errors differ from Python's `json` in wording and position.

`{"a": 1,}` is "trailing comma at line 1 column 9" where `json` says "Expecting property
name enclosed in double quotes: line 1 column 9 (char 8)"; jiter counts columns in UTF-8
bytes, an error at the end of the text is at its last byte (column 0 for an empty line), and
it refuses what `json` takes: a lone UTF-16 surrogate escape (`"\\ud800"`), a value nested in
more than 200 arrays and objects. NaN and Infinity it takes, as `json` does.

The text is walked as jiter walks it, without recursion; runs of plain values, strings
without escapes and whitespace are each matched by one regular expression.
"""

from __future__ import annotations

import re

RECURSION_LIMIT = 200  # containers around a value (pydantic's `Json`)
EOF_VALUE = "EOF while parsing a value"
EOF_LIST = "EOF while parsing a list"
EOF_OBJECT = "EOF while parsing an object"
EOF_STRING = "EOF while parsing a string"
EXPECTED_VALUE = "expected value"
EXPECTED_IDENT = "expected ident"
INVALID_NUMBER = "invalid number"
INVALID_ESCAPE = "invalid escape"
CONTROL = "control character (\\u0000-\\u001F) found while parsing a string"
LONE_SURROGATE = "lone leading surrogate in hex escape"
END_OF_ESCAPE = "unexpected end of hex escape"

_WS = re.compile(r"[ \t\n\r]*")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')  # a string's characters up to a quote, escape or control
_DIGITS = re.compile(r"[0-9]*")
_HEX = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = frozenset('"\\/bfnrt')
_W = r"[ \t\n\r]*+"
# a string jiter takes: no control character, every escape known, surrogates in pairs
_STRING = (
    r'"(?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{4}'
    r'|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})*+"'
)
_SCALAR = (
    rf"(?>{_STRING}|-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
    r"|true|false|null|NaN|-?+Infinity)"
)


def _nested(value: str) -> str:
    """A value that is `value`, or an array or object of such values."""
    member = rf"{_STRING}{_W}:{_W}{value}{_W}"
    array = rf"\[{_W}(?:{value}{_W}(?:,{_W}{value}{_W})*+)?+\]"
    return rf"(?>{value}|{array}|\{{{_W}(?:{member}(?:,{_W}{member})*+)?+\}})"


DEPTH = 2  # levels of arrays and objects a run's values may hold
_VALUE = _nested(_nested(_SCALAR))
# runs of such items and members, each with its comma: one match for most of a big form
_ITEMS = re.compile(rf"(?:{_W}{_VALUE}{_W},)*+")
_MEMBERS = re.compile(rf"(?:{_W}{_STRING}{_W}:{_W}{_VALUE}{_W},)*+")
_LAST_ITEM = re.compile(rf"{_W}{_VALUE}{_W}\]")  # and the array's end
_LAST_MEMBER = re.compile(rf"{_W}{_STRING}{_W}:{_W}{_VALUE}{_W}\}}")
_IDENTS = {"t": "true", "f": "false", "n": "null", "N": "NaN", "I": "Infinity"}


class _Invalid(Exception):
    """The first error: its kind and the index (in characters) jiter reports it at."""

    def __init__(self, kind: str, index: int) -> None:
        super().__init__(kind)
        self.kind, self.index = kind, index


def error(text: str) -> str | None:
    """jiter's message for `text` ("expected value at line 1 column 1"); None when it is JSON."""
    try:
        _Walk(text).document()
    except _Invalid as found:
        return f"{found.kind} at {_position(text, found.index)}"
    return None


def _position(text: str, index: int) -> str:
    """jiter's `line L column C` of a character index: columns count bytes from 1, a newline is
    column 0 of its line, and the end of the text is the column of its last byte."""
    data = text.encode("utf-8", "surrogatepass")
    at = len(text[:index].encode("utf-8", "surrogatepass"))
    seen = data[: at + 1] if at < len(data) else data
    start = seen.rfind(b"\n") + 1
    column = at + 1 - start if at < len(data) else len(data) - start
    line = seen.count(b"\n") + 1
    return f"line {line} column {column}"


class _Walk:
    """One text, walked value by value; each step raises `_Invalid` where jiter would."""

    def __init__(self, text: str) -> None:
        self.text, self.end = text, len(text)

    def document(self) -> None:
        index = self._value(self._space(0))
        index = self._space(index)
        if index < self.end:
            raise _Invalid("trailing characters", index)

    def _space(self, index: int) -> int:
        return _end(_WS, self.text, index)

    def _value(self, index: int) -> int:
        """The end of the value at `index`; arrays and objects are walked with a stack of
        their kinds, `[` or `{`."""
        stack: list[str] = []
        index = self._open_or_scalar(index, stack)
        while stack:
            index = self._space(index)
            if index == self.end:
                raise _Invalid(EOF_LIST if stack[-1] == "[" else EOF_OBJECT, index)
            char, close = self.text[index], "]" if stack[-1] == "[" else "}"
            if char == close:
                stack.pop()
                index += 1
            elif char != ",":
                raise _Invalid(f"expected `,` or `{close}`", index)
            elif close == "]":
                index = self._next_item(index + 1, stack)
            else:
                index = self._next_member(index + 1, stack)
        return index

    def _open_or_scalar(self, index: int, stack: list[str]) -> int:
        """A value's start: an array or object is opened (and its first entry read, if
        any), anything else read whole."""
        if index == self.end:
            raise _Invalid(EOF_VALUE, index)
        if len(stack) > RECURSION_LIMIT:
            raise _Invalid("recursion limit exceeded", index)
        char = self.text[index]
        if char == "[":
            stack.append("[")
            after = self._space(index + 1)
            if after == self.end:
                raise _Invalid(EOF_LIST, after)
            if self.text[after] == "]":
                stack.pop()
                return after + 1
            return self._items(after, stack)
        if char == "{":
            stack.append("{")
            after = self._space(index + 1)
            if after == self.end:
                raise _Invalid(EOF_OBJECT, after)
            if self.text[after] == "}":
                stack.pop()
                return after + 1
            return self._members(after, stack)
        return self._scalar(index)

    def _next_item(self, index: int, stack: list[str]) -> int:
        """After an array's comma: another item, not its end."""
        index = self._space(index)
        if index == self.end:
            raise _Invalid(EOF_VALUE, index)
        if self.text[index] == "]":
            raise _Invalid("trailing comma", index)
        return self._items(index, stack)

    def _items(self, index: int, stack: list[str]) -> int:
        """An array's items from `index`, the first or one after a comma: runs of plain ones
        (`DEPTH` levels at most), commas and all, in one match, the last with the array's end."""
        if len(stack) <= RECURSION_LIMIT - DEPTH:
            index = self._space(_end(_ITEMS, self.text, index))
            if index < self.end and self.text[index] == "]":
                raise _Invalid("trailing comma", index)
            last = _LAST_ITEM.match(self.text, index)
            if last is not None:
                stack.pop()
                return last.end()
        return self._open_or_scalar(index, stack)

    def _next_member(self, index: int, stack: list[str]) -> int:
        """After an object's comma: another key, not its end."""
        index = self._space(index)
        if index == self.end:
            raise _Invalid(EOF_VALUE, index)
        if self.text[index] == "}":
            raise _Invalid("trailing comma", index)
        return self._members(index, stack)

    def _members(self, index: int, stack: list[str]) -> int:
        """An object's members from `index`, as `_items` reads items; then one key, its colon
        and the start of its value."""
        if len(stack) <= RECURSION_LIMIT - DEPTH:
            index = self._space(_end(_MEMBERS, self.text, index))
            if index < self.end and self.text[index] == "}":
                raise _Invalid("trailing comma", index)
            last = _LAST_MEMBER.match(self.text, index)
            if last is not None:
                stack.pop()
                return last.end()
        if index == self.end:
            raise _Invalid(EOF_VALUE, index)
        if self.text[index] != '"':
            raise _Invalid("key must be a string", index)
        index = self._space(self._string(index))
        if index == self.end:
            raise _Invalid(EOF_OBJECT, index)
        if self.text[index] != ":":
            raise _Invalid("expected `:`", index)
        return self._open_or_scalar(self._space(index + 1), stack)

    def _scalar(self, index: int) -> int:
        char = self.text[index]
        if char == '"':
            return self._string(index)
        if char in _IDENTS:
            return self._ident(index, _IDENTS[char])
        if char in "-0123456789":
            return self._number(index)
        raise _Invalid(EXPECTED_VALUE, index)

    def _ident(self, index: int, word: str) -> int:
        """`true`, `false`, `null`, `NaN`, `Infinity`: the first letter that differs, or the
        end of the text, is the error."""
        for at in range(index + 1, index + len(word)):
            if at == self.end:
                raise _Invalid(EOF_VALUE, at)
            if self.text[at] != word[at - index]:
                raise _Invalid(EXPECTED_IDENT, at)
        return index + len(word)

    def _number(self, index: int) -> int:
        """A number: `-` then digits (a leading 0 alone), a fraction, an exponent; each part
        needs a digit where it starts. `-Infinity` too, not `-NaN`."""
        text, at = self.text, index + (self.text[index] == "-")
        if at == self.end:
            raise _Invalid(EOF_VALUE, at)
        if text[at] == "I":
            return self._ident(at, "Infinity")
        if text[at] == "0":
            at += 1
            if at < self.end and text[at] in "0123456789":
                raise _Invalid(INVALID_NUMBER, at)
        else:
            at = self._digits(at)
        if at < self.end and text[at] == ".":
            at = self._digits(at + 1)
        if at < self.end and text[at] in "eE":
            at += 1
            if at < self.end and text[at] in "+-":
                at += 1
            at = self._digits(at)
        return at

    def _digits(self, index: int) -> int:
        """One digit at least, then as many as follow."""
        if index == self.end:
            raise _Invalid(EOF_VALUE, index)
        if self.text[index] not in "0123456789":
            raise _Invalid(INVALID_NUMBER, index)
        return _end(_DIGITS, self.text, index)

    def _string(self, index: int) -> int:
        """The end of the string whose quote is at `index`."""
        text, at = self.text, index + 1
        while True:
            at = _end(_PLAIN, text, at)
            if at == self.end:
                raise _Invalid(EOF_STRING, at)
            char = text[at]
            if char == '"':
                return at + 1
            if char != "\\":
                raise _Invalid(CONTROL, at)
            if at + 1 == self.end:
                raise _Invalid(EOF_STRING, self.end)
            if text[at + 1] == "u":
                at = self._unicode(at + 1)
            elif text[at + 1] in _SIMPLE_ESCAPES:
                at += 2
            else:
                raise _Invalid(INVALID_ESCAPE, at + 1)

    def _unicode(self, index: int) -> int:
        """After a `\\u` escape (`index` at its `u`): a high surrogate must be followed by a
        `\\u` escape of a low one, and a low one never comes first."""
        code, last = self._hex(index)
        if 0xDC00 <= code <= 0xDFFF:
            raise _Invalid(LONE_SURROGATE, last)
        if not 0xD800 <= code <= 0xDBFF:
            return last + 1
        for offset, expected in ((1, "\\"), (2, "u")):
            if last + offset == self.end:
                raise _Invalid(EOF_STRING, self.end)
            if self.text[last + offset] != expected:
                raise _Invalid(END_OF_ESCAPE, last + offset)
        low, last = self._hex(last + 2)
        if not 0xDC00 <= low <= 0xDFFF:
            raise _Invalid(LONE_SURROGATE, last)
        return last + 1

    def _hex(self, index: int) -> tuple[int, int]:
        """The four hex digits after `index` (a `u`), and the index of the last. jiter reads
        four bytes: fewer left is the end of the text, a character past ASCII is no digit."""
        digits = self.text[index + 1 : index + 5]
        if len(digits.encode("utf-8", "surrogatepass")) < 4:
            raise _Invalid(EOF_STRING, self.end)
        for offset, digit in enumerate(digits, 1):
            if digit not in _HEX:
                raise _Invalid(INVALID_ESCAPE, index + offset)
        return int(digits, 16), index + 4


def _end(pattern: re.Pattern[str], text: str, index: int) -> int:
    """Where the run of `pattern` at `index` ends (each pattern here matches an empty run)."""
    found = pattern.match(text, index)
    assert found is not None
    return found.end()
