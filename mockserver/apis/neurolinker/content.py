"""The extraction results of a document, derived from what was uploaded: its name, size,
checksum, page count and, for simple PDFs, the text each page shows.

Each page holds a text element and a figure (one cropped image); the first page adds a table
of the file's facts, every second page a formula. `turbo` enrichment fills `extracted_text`
and `legend` for tables and images. Everything is a pure function of the document, so the
API's answers, the stored files behind the signed links and the ZIP always agree.
"""

from __future__ import annotations

import hashlib
import html
import json
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from mockserver.apis.neurolinker.models import DocumentFile
from mockserver.engine.artifacts import zip_bytes

CONTENT_TYPES = ("text", "formula", "tables", "images")
SUMMARY_TYPES = ("page", "section")
PAGES_PER_SECTION = 2
# the stored files of a full extraction whose names are fixed (the docs' examples); the
# document's own Markdown and JSON are `{stem}.md` and `{stem}.json`
IMAGES_FILE = "images.json"
PAGE_SUMMARIES_FILE = "page_summaries.json"
SECTION_SUMMARIES_FILE = "section_summaries.json"
ImageRef = Callable[[str], str]  # image file name -> how a file refers to it
MAX_NAME_BYTES = 255  # of one path component: what ext4, APFS and NTFS take


def _same(name: str) -> str:
    return name


def summary_file(summary_type: str) -> str:
    return f"document_summary_{summary_type}.md"


FIXED_FILES = frozenset(
    (IMAGES_FILE, PAGE_SUMMARIES_FILE, SECTION_SUMMARIES_FILE, *map(summary_file, SUMMARY_TYPES))
)


def markdown_file(document: DocumentFile) -> str:
    return file_name(_own_stem(document), ".md")


def json_file(document: DocumentFile) -> str:
    return file_name(_own_stem(document), ".json")


def file_name(stem: str, suffix: str) -> str:
    """`stem + suffix`, the stem cut to fit MAX_NAME_BYTES of UTF-8: a ZIP member named after
    an upload of 200 `é` could not be unpacked (`ENAMETOOLONG`), nor its link followed."""
    room = MAX_NAME_BYTES - len(suffix.encode())
    cut = stem.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    return cut + suffix


def _own_stem(document: DocumentFile) -> str:
    """The stem of the document's own Markdown and JSON: `{stem}_document` when `{stem}.md` or
    `{stem}.json` would be a fixed file's name (an upload named `page_summaries.pdf`), compared
    without case as a ZIP unpacked on macOS or Windows would: one file must not hide another."""
    stem = document.stem
    names = {f"{stem}.md".casefold(), f"{stem}.json".casefold()}
    return f"{stem}_document" if names & FIXED_FILES else stem


def structured(
    document_id: str,
    document: DocumentFile,
    images: Sequence[str],
    enrichment: str,
    content_types: Sequence[str] | None = None,
    image_ref: ImageRef = _same,
) -> dict[str, Any]:
    """The document as pages of elements (the `/documents/json` content), filtered."""
    wanted = set(content_types or CONTENT_TYPES)
    pages = []
    for number in range(1, document.pages + 1):
        elements = [
            element
            for element in _page_elements(document, number, images[number - 1], enrichment)
            if element["content_type"] in wanted
        ]
        for element in elements:
            if element["image"] is not None:
                element["image"] = image_ref(element["image"])
        pages.append({"page_number": number, "elements": elements})
    return {
        "document_id": document_id,
        "file_name": document.file_name,
        "total_pages": document.pages,
        "enrichment_mode": enrichment,
        "pages": pages,
    }


def _page_text(document: DocumentFile, number: int) -> str:
    shown = document.texts[number - 1] if number <= len(document.texts) else ()
    if shown:
        return " ".join(shown)
    return f"Page {number} of {document.pages} of {document.file_name}."


def _page_elements(
    document: DocumentFile, number: int, image: str, enrichment: str
) -> list[dict[str, Any]]:
    turbo = enrichment == "turbo"
    elements = [_element("text", _page_text(document, number))]
    if number == 1:
        elements.append(
            _element(
                "tables",
                _facts_table(document),
                extracted_text=f"File {document.file_name}, {document.pages} page(s)"
                if turbo
                else None,
                legend="Table 1: file facts" if turbo else None,
            )
        )
    if number % 2 == 0:
        elements.append(_element("formula", f"\\sum_{{k=1}}^{{{number}}} k = {_triangle(number)}"))
    elements.append(
        _element(
            "images",
            f"Figure on page {number} of {document.file_name}.",
            image=image,
            extracted_text=_page_text(document, number) if turbo else None,
            legend=f"Figure {number}" if turbo else None,
        )
    )
    return elements


def _triangle(number: int) -> int:
    return number * (number + 1) // 2


def _element(
    kind: str,
    content: str,
    image: str | None = None,
    extracted_text: str | None = None,
    legend: str | None = None,
) -> dict[str, Any]:
    return {
        "content_type": kind,
        "content": content,
        "image": image,
        "extracted_text": extracted_text,
        "legend": legend,
    }


def _facts_table(document: DocumentFile) -> str:
    rows = [
        ("File", document.file_name),
        ("Pages", str(document.pages)),
        ("Size (bytes)", str(document.size)),
        ("SHA-256", document.sha256[:16]),
    ]
    body = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{html.escape(value)}</td></tr>" for key, value in rows
    )
    return (
        "<table><thead><tr><th>Property</th><th>Value</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def markdown(
    document_id: str,
    document: DocumentFile,
    images: Sequence[str],
    enrichment: str,
    content_types: Sequence[str] | None = None,
    image_ref: ImageRef = _same,
) -> str:
    """The Markdown of the document, with the HTML tags the docs list, filtered."""
    data = structured(document_id, document, images, enrichment, content_types, image_ref)
    parts = [f"<header>{html.escape(document.file_name)}</header>", f"# {document.stem}"]
    for page in data["pages"]:
        parts.append(f"## Page {page['page_number']}")
        parts += [_markdown_element(element) for element in page["elements"]]
    return "\n\n".join(parts) + "\n"


def _markdown_element(element: dict[str, Any]) -> str:
    kind, content = element["content_type"], element["content"]
    if kind == "tables":
        caption = element["legend"]
        return content + (
            f"\n<tablecaption>{html.escape(caption)}</tablecaption>" if caption else ""
        )
    if kind == "formula":
        return f"$$\n{content}\n$$"
    if kind == "images":
        source = html.escape(element["image"], quote=True)
        return (
            f'<figure><img src="{source}" alt="{html.escape(content, quote=True)}"/>'
            f"<figurecaption>{html.escape(content)}</figurecaption></figure>"
        )
    return html.escape(content, quote=False)


def image_list(images: Sequence[str]) -> list[dict[str, Any]]:
    """The cropped images and the page each comes from (one per page)."""
    return [{"file_name": name, "page_number": page} for page, name in enumerate(images, 1)]


def page_summaries(document: DocumentFile) -> list[dict[str, Any]]:
    return [
        {"page_number": number, "summary": f"Page {number}: {_page_text(document, number)}"}
        for number in range(1, document.pages + 1)
    ]


def section_summaries(document: DocumentFile) -> list[dict[str, Any]]:
    """Sections of up to two pages, titled after their first page's text."""
    sections = []
    for start in range(1, document.pages + 1, PAGES_PER_SECTION):
        end = min(start + PAGES_PER_SECTION - 1, document.pages)
        title = _page_text(document, start)[:60]
        sections.append(
            {
                "title": title,
                "summary": f"Pages {start}-{end} of {document.file_name}, opening with: {title}",
                "start_page": start,
                "end_page": end,
            }
        )
    return sections


def document_summary(document: DocumentFile, summary_type: str) -> str:
    """One summary of the whole document, built from its page or section summaries."""
    parts = (
        [item["summary"] for item in page_summaries(document)]
        if summary_type == "page"
        else [item["summary"] for item in section_summaries(document)]
    )
    return f"{document.file_name} ({document.pages} page(s)). " + " ".join(parts)


# --- bytes -------------------------------------------------------------------------------------


def as_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


def png(name: str, width: int = 64, height: int = 48) -> bytes:
    """A one-colour PNG whose colour comes from its name, so each crop is a distinct file."""
    red, green, blue = hashlib.sha256(name.encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def archive(
    members: Sequence[tuple[str, DocumentFile, Sequence[str], str]],
    content_types: Sequence[str] | None,
    image_ref: Callable[[str, str], str],
    dated: float,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """A ZIP with one folder per document: Markdown, JSON, summaries and images.

    `members` are (document ID, document, image names, enrichment mode); `image_ref(document
    ID, image name)` says how the Markdown and JSON refer to an image; `dated` is the server
    clock's instant its members are dated at; `extra` adds files
    (path in the ZIP -> bytes) of documents that are not full extractions.
    """
    files: dict[str, bytes] = dict(extra or {})
    for document_id, document, images, enrichment in members:
        folder = f"{document_id}/"

        def ref(name: str, document_id: str = document_id) -> str:
            return image_ref(document_id, name)

        files[folder + markdown_file(document)] = markdown(
            document_id, document, images, enrichment, content_types, ref
        ).encode()
        files[folder + json_file(document)] = as_json(
            structured(document_id, document, images, enrichment, content_types, ref)
        )
        files[folder + PAGE_SUMMARIES_FILE] = as_json(page_summaries(document))
        files[folder + SECTION_SUMMARIES_FILE] = as_json(section_summaries(document))
        for name in images:
            files[f"{folder}images/{name}"] = png(name)
    return zip_bytes(files, dated)
