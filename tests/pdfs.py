"""Real PDFs for the NeuroLinker tests: written by pypdf, or with PDF 1.5 object streams.

`written_pdf` has one line of text per page and a classic cross-reference table, rewritten by
pypdf's writer. `object_stream_pdf` keeps every page object inside a compressed object stream
with a cross-reference stream, as most PDFs written since PDF 1.5 do: no byte pattern sees
its pages, only a reader that follows the page tree. `encrypted_pdf` needs a password.
"""

from __future__ import annotations

import io
import zlib

from pypdf import PdfReader, PdfWriter

from mockserver.apis.neurolinker.pdf import synthetic_pdf


def _content(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()


def written_pdf(*pages: str) -> bytes:
    """One page per text, rewritten by pypdf's writer (xref table, uncompressed content)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(synthetic_pdf(*pages))))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf(*pages: str, password: str = "secret") -> bytes:
    """The pages of `written_pdf`, encrypted with a user password."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(written_pdf(*pages))))
    writer.encrypt(user_password=password, owner_password=password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def object_stream_pdf(*pages: str) -> bytes:
    """A PDF 1.5 file: catalog, page tree, font and pages in one Flate-compressed object
    stream, content streams as plain objects, and a cross-reference stream."""
    count = len(pages)
    page_numbers = [4 + i for i in range(count)]
    content_numbers = [4 + count + i for i in range(count)]
    kids = " ".join(f"{n} 0 R" for n in page_numbers)
    packed = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for page, content in zip(page_numbers, content_numbers, strict=True):
        packed[page] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>"
        ).encode()
    stream_number = 4 + 2 * count
    header, bodies, offset = [], b"", 0
    for number, body in packed.items():
        header.append(f"{number} {offset}")
        bodies += body + b"\n"
        offset += len(body) + 1
    first = " ".join(header).encode() + b"\n"
    object_stream = zlib.compress(first + bodies)

    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for content, text in zip(content_numbers, pages, strict=True):
        data = _content(text)
        offsets[content] = len(out)
        out += b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
            content,
            len(data),
            data,
        )
    offsets[stream_number] = len(out)
    out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\n" % (
        stream_number,
        len(packed),
        len(first),
        len(object_stream),
    )
    out += b"stream\n" + object_stream + b"\nendstream\nendobj\n"

    xref_number = stream_number + 1
    offsets[xref_number] = len(out)
    rows = [b"\x00\x00\x00\x00\xff\xff"]  # object 0: free
    for number in range(1, xref_number + 1):
        if number in packed:
            index = list(packed).index(number)
            rows.append(b"\x02" + stream_number.to_bytes(4, "big") + index.to_bytes(1, "big"))
        else:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00")
    table = zlib.compress(b"".join(rows))
    out += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Root 1 0 R /Filter /FlateDecode "
        b"/Length %d >>\nstream\n" % (xref_number, xref_number + 1, len(table))
    )
    out += table + b"\nendstream\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)
