"""What the mock reads of an uploaded PDF (page count, text per page), through `pypdf`.

A real reader matters: since PDF 1.5 most files keep their page objects in compressed object
streams, where no byte pattern can find them. `pypdf` follows the document's page tree, so
`total_pages` (and the per-page processing time) is the file's real page count.

Bytes `pypdf` cannot read at all (not a PDF, or broken past repair) are measured as
`DEFAULT_PAGES` pages with no text: the mock stays lenient there, as test fixtures often
send stand-in bytes. A PDF encrypted with a password the mock does not have is `encrypted`:
its request is accepted and the document fails, as it would on a service that cannot open it.

A kilobyte of PDF can name a million pages (a page tree whose nodes list the same node many
times), and one small content stream shared by every page costs seconds of text extraction
each time: the page tree is counted before `pypdf` expands it, a PDF of more than `MAX_PAGES`
pages is `too_long` (its upload is refused), and text is extracted from at most `TEXT_BUDGET`
bytes of page content per document.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject, StreamObject

DEFAULT_PAGES = 1  # a document whose pages cannot be counted (not a PDF, or a URL not fetched)
MAX_TEXT_PER_PAGE = 2_000  # characters of extracted text kept per page
ENCRYPTED_MESSAGE = "The PDF is encrypted and cannot be opened"
READINGS_KEPT = 256  # documents whose reading is kept for the next upload of the same bytes
# Mock decisions (the docs name no limit): pages of one document; page-tree nodes walked to
# count them (a node listed N times is walked N times) and their depth; bytes of page content
# whose text is extracted (pypdf takes about 2 s a megabyte)
MAX_PAGES = 1_000
MAX_TREE_NODES, MAX_TREE_DEPTH = 10 * MAX_PAGES, 100
TEXT_BUDGET = 512 * 1024
MAX_FORM_DEPTH = 10  # form XObjects painted inside forms, counted for TEXT_BUDGET
PAINT = re.compile(rb"\bDo\b")  # the operator that paints an XObject (a form: its content)

# pypdf reports what it repairs on its logger; a mock reading odd uploads has nothing to add
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one upload yields: pages (None when unreadable or too long), text lines per page."""

    pages: int | None
    texts: tuple[tuple[str, ...], ...] = ()
    encrypted: bool = False
    too_long: bool = False  # more than MAX_PAGES pages: not read further


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
        if _count_pages(reader.root_object["/Pages"]) > MAX_PAGES:
            return Reading(None, too_long=True)
        pages = list(reader.pages)  # the tree just counted: bounded
        return Reading(len(pages), _texts(pages))
    except Exception:  # pypdf raises more than PyPdfError on hostile bytes: all mean unreadable
        return Reading(None)


def _count_pages(tree: Any) -> int:
    """The pages a reader finds in the page tree, counted up to MAX_PAGES + 1.

    A node listed several times counts each time, as `pypdf` (and a viewer) shows it; the walk
    takes one kid at a time, so it stops after MAX_TREE_NODES steps however the nodes are
    shared. A tree deeper than MAX_TREE_DEPTH (a cycle) or past MAX_TREE_NODES is unreadable."""
    pages, steps = 0, 0
    stack = [iter((tree,))]
    while stack and pages <= MAX_PAGES:
        kid = next(stack[-1], None)
        if kid is None:
            stack.pop()
            continue
        steps += 1
        if steps > MAX_TREE_NODES or len(stack) > MAX_TREE_DEPTH:
            raise PdfReadError("page tree past the mock's bounds")
        node = kid.get_object()
        if not isinstance(node, DictionaryObject) or not node:
            continue  # pypdf skips these entries too
        kind = _resolved(node, "/Type") or ("/Pages" if "/Kids" in node else "/Page")
        if kind == "/Page":
            pages += 1
        elif kind == "/Pages":
            kids = _resolved(node, "/Kids")
            stack.append(iter(kids if isinstance(kids, ArrayObject) else ()))
    return pages


def _resolved(node: DictionaryObject, key: str) -> Any:
    """`node[key]`, an indirect reference followed as `[]` does and `.get` does not; None when
    the key is absent."""
    value = node.get(key)
    return None if value is None else value.get_object()


def _texts(pages: list[PageObject]) -> tuple[tuple[str, ...], ...]:
    """Each page's lines while the content text extraction reads adds up to TEXT_BUDGET
    bytes; the pages past it have no text (their results say which page of what they are)."""
    texts: list[tuple[str, ...]] = []
    left = TEXT_BUDGET
    for page in pages:
        if left >= 0:
            left -= _text_cost(page, left)
        texts.append(_lines(page.extract_text()) if left >= 0 else ())
    return tuple(texts)


def _text_cost(page: PageObject, left: int) -> int:
    """Bytes of content pypdf reads to extract the page's text, counted until they pass `left`:
    the page's content, and for each `Do` in it the largest form XObject it may paint, forms
    inside forms included (a kilobyte form painted 5,000 times is read 5,000 times). Each form
    is decoded once, and no more than `left` bytes are decoded before the count stops."""
    costs: dict[int, int] = {}  # by form object

    def cost(data: bytes, resources: Any, depth: int) -> int:
        paints = len(PAINT.findall(data))
        largest = 0
        for form in _forms(resources) if paints else ():
            if id(form) not in costs:
                costs[id(form)] = (
                    left + 1
                    if depth >= MAX_FORM_DEPTH  # or a form painting itself
                    else cost(
                        form.get_data(), _resolved(form, "/Resources") or resources, depth + 1
                    )
                )
            largest = max(largest, costs[id(form)])
            if len(data) + paints * largest > left:
                break
        return min(len(data) + paints * largest, left + 1)

    contents = page.get_contents()
    data = contents.get_data() if contents is not None else b""
    return cost(data, _resolved(page, "/Resources"), 0)


def _forms(resources: Any) -> list[StreamObject]:
    """The form XObjects a content stream with these resources may paint."""
    xobjects = _resolved(resources, "/XObject") if isinstance(resources, DictionaryObject) else None
    if not isinstance(xobjects, DictionaryObject):
        return []
    found = (_resolved(xobjects, name) for name in xobjects)
    return [x for x in found if isinstance(x, StreamObject) and _resolved(x, "/Subtype") == "/Form"]


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
    return assembled(bodies)


def assembled(bodies: list[bytes]) -> bytes:
    """A PDF file of these objects (numbered from 1, the first the catalog), with its xref
    table and trailer."""
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
