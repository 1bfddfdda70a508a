"""What the mock reads of an uploaded PDF (page count, text per page), through `pypdf`.

A real reader matters: since PDF 1.5 most files keep their page objects in compressed object
streams, where no byte pattern can find them. `pypdf` follows the document's page tree, so
`total_pages` (and the per-page processing time) is the file's real page count.

Bytes `pypdf` cannot read at all (not a PDF, or broken past repair) are measured as
`DEFAULT_PAGES` pages with no text: the mock stays lenient there, as test fixtures often
send stand-in bytes. A PDF encrypted with a password the mock does not have is `encrypted`:
its request is accepted and the document fails, as it would on a service that cannot open it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass

from pypdf import PdfReader

DEFAULT_PAGES = 1  # a document whose pages cannot be counted (not a PDF, or a URL not fetched)
MAX_TEXT_PER_PAGE = 2_000  # characters of extracted text kept per page
ENCRYPTED_MESSAGE = "The PDF is encrypted and cannot be opened"
READINGS_KEPT = 256  # documents whose reading is kept for the next upload of the same bytes

# pypdf reports what it repairs on its logger; a mock reading odd uploads has nothing to add
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one upload yields: pages (None when unreadable), text lines per page."""

    pages: int | None
    texts: tuple[tuple[str, ...], ...] = ()
    encrypted: bool = False


def read(data: bytes) -> Reading:
    """Page count and per-page text of a PDF; `pages` is None when `pypdf` cannot read it.

    Bytes read before (a test suite's fixture file, uploaded test after test) are known by
    their digest, which costs a thousandth of parsing them again."""
    digest = hashlib.sha256(data).digest()
    reading = _readings.get(digest)
    if reading is None:
        reading = _parse(data)
        if len(_readings) >= READINGS_KEPT:
            _readings.clear()
        _readings[digest] = reading
    return reading


_readings: dict[bytes, Reading] = {}  # by the bytes' SHA-256


def _parse(data: bytes) -> Reading:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return Reading(None, encrypted=True)  # not even the page tree can be read
        pages = list(reader.pages)
        return Reading(len(pages), tuple(_lines(page.extract_text()) for page in pages))
    except Exception:  # pypdf raises more than PyPdfError on hostile bytes: all mean unreadable
        return Reading(None)


def _lines(text: str) -> tuple[str, ...]:
    """The page's non-empty lines, at most MAX_TEXT_PER_PAGE characters in all."""
    kept: list[str] = []
    size = 0
    for line in filter(None, (part.strip() for part in text.splitlines())):
        if size + len(line) > MAX_TEXT_PER_PAGE:
            break
        kept.append(line)
        size += len(line)
    return tuple(kept)


def synthetic_pdf(*page_texts: str) -> bytes:
    """A small valid PDF showing one line per page: the stand-in for a URL's document."""
    pages = len(page_texts)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for number, title in enumerate(page_texts):
        safe = re.sub(r"[^ -~]", "?", title).replace("\\", "\\\\")
        safe = safe.replace("(", "\\(").replace(")", "\\)")
        text = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode()
        bodies.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * number)
        )
        bodies.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        xref,
    )
    return bytes(out)
