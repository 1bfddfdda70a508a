"""What a multipart body holds, read as it streams by: each part's name, file name, size and,
for a text field, its value.

The journal keeps only the first bytes of a body, which for an upload is a cut-off blob; a
retry that drops a form field, or a file that arrives empty, shows only in the parts. They are
counted on the whole stream, so sizes are true however large the file.
"""

from __future__ import annotations

from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_PARTS = 100  # parts described; more are counted, not described
VALUE_LIMIT = 200  # characters of a text field's value kept


class PartsReader:
    """Feed it the chunks of one multipart body; `parts` then describes them."""

    def __init__(self, content_type: str) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        self.parts: list[dict[str, Any]] = []
        self.broken = not boundary
        self._field = b""
        self._headers: dict[bytes, bytes] = {}
        self._current: dict[str, Any] | None = None
        self._text = bytearray()
        callbacks: dict[str, Any] = {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }
        self._parser: MultipartParser | None = None
        if boundary:
            try:
                self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
            except FormParserError:  # a boundary past the library's 256 bytes: no parts read
                self.broken = True

    def feed(self, chunk: bytes) -> None:
        if self._parser is None or self.broken or not chunk:
            return
        try:
            self._parser.write(chunk)
        except FormParserError:  # a malformed body: described as far as it could be read
            self.broken = True

    # --- parser callbacks -----------------------------------------------------------------

    def _begin(self) -> None:
        self._headers, self._field = {}, b""
        self._current, self._text = None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        name = self._field.lower()
        self._headers[name] = self._headers.get(name, b"") + data[start:end]

    def _header_end(self) -> None:
        self._field = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        part: dict[str, Any] = {"name": _text(options.get(b"name", b"")), "size": 0}
        if b"filename" in options:
            part["filename"] = _text(options[b"filename"])
            part["content_type"] = _text(self._headers.get(b"content-type", b""))
        self._current = part
        if len(self.parts) < MAX_PARTS:
            self.parts.append(part)

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._current
        if part is None:
            return
        part["size"] += end - start
        if "filename" not in part and len(self._text) <= VALUE_LIMIT * 4:
            self._text += data[start:end]

    def _end(self) -> None:
        part = self._current
        if part is not None and "filename" not in part:
            value = self._text.decode("utf-8", "replace")
            part["value"] = value if len(value) <= VALUE_LIMIT else value[: VALUE_LIMIT - 1] + "…"
        self._current = None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def is_multipart(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/")
