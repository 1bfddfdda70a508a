"""Just enough PDF to make results follow the upload: page count, plain text, a stand-in file.

No PDF library: page objects are counted by their `/Type /Page` entries, and text is read
from uncompressed content streams (`(...) Tj`). A compressed or unusual PDF simply yields no
text, and a file that is not a PDF at all is measured as `DEFAULT_PAGES` pages.
"""

from __future__ import annotations

import re

DEFAULT_PAGES = 1  # a document whose pages cannot be counted (not a PDF, or a URL not fetched)
MAX_TEXT_PER_PAGE = 2_000  # characters of extracted text kept per page

PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
OBJECT = re.compile(rb"(\d+)\s+\d+\s+obj\b(.*?)\bendobj", re.DOTALL)
CONTENTS = re.compile(rb"/Contents\s*(\[[^\]]*\]|\d+\s+\d+\s+R)")
REFERENCE = re.compile(rb"(\d+)\s+\d+\s+R")
STREAM = re.compile(rb"stream\r?\n(.*?)\r?\n?endstream", re.DOTALL)
SHOWN_TEXT = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", re.DOTALL)
ESCAPES = {b"n": "\n", b"r": "\r", b"t": "\t", b"b": "\b", b"f": "\f"}


def is_pdf(data: bytes) -> bool:
    """PDF readers accept junk before the header, within the first kilobyte."""
    return b"%PDF-" in data[:1024]


def count_pages(data: bytes) -> int | None:
    """Number of page objects of a PDF; None when it is not a PDF or none can be seen."""
    if not is_pdf(data):
        return None
    return len(PAGE.findall(data)) or None


def page_texts(data: bytes) -> list[list[str]]:
    """The strings each page shows, page objects in file order; [] when nothing is readable."""
    if not is_pdf(data):
        return []
    objects = {int(match[1]): match[2] for match in OBJECT.finditer(data)}
    pages = [body for body in objects.values() if PAGE.search(body)]
    return [_page_strings(page, objects) for page in pages]


def _page_strings(page: bytes, objects: dict[int, bytes]) -> list[str]:
    contents = CONTENTS.search(page)
    if contents is None:
        return []
    strings: list[str] = []
    for reference in REFERENCE.finditer(contents[1]):
        body = objects.get(int(reference[1]), b"")
        stream = STREAM.search(body)
        if stream is None or b"/Filter" in body[: stream.start()]:
            continue  # compressed streams are beyond this reader
        strings += [_unescape(raw) for raw in SHOWN_TEXT.findall(stream[1])]
    kept, size = [], 0
    for text in filter(None, (s.strip() for s in strings)):
        if size + len(text) > MAX_TEXT_PER_PAGE:
            break
        kept.append(text)
        size += len(text)
    return kept


def _unescape(raw: bytes) -> str:
    """A PDF literal string: backslash escapes and octal codes, Latin-1 otherwise."""
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index : index + 1]
        if char != b"\\" or index + 1 >= len(raw):
            out.append(char.decode("latin-1"))
            index += 1
            continue
        following = raw[index + 1 : index + 2]
        octal = re.match(rb"[0-7]{1,3}", raw[index + 1 : index + 4])
        if octal:
            out.append(chr(int(octal[0], 8) & 0xFF))
            index += 1 + len(octal[0])
        else:
            out.append(ESCAPES.get(following, following.decode("latin-1")))
            index += 2
    return "".join(out)


def synthetic_pdf(title: str, pages: int = DEFAULT_PAGES) -> bytes:
    """A small valid PDF of `pages` pages, each showing one line: the stand-in for a URL."""
    safe = re.sub(r"[^ -~]", "?", title).replace("\\", "\\\\").replace("(", "\\(")
    safe = safe.replace(")", "\\)")
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
    ]
    for number in range(pages):
        text = f"BT /F1 12 Tf 72 720 Td ({safe} - page {number + 1}) Tj ET".encode()
        bodies.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>"
            % (4 + 2 * number)
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
