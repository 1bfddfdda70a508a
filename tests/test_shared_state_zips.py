"""Zip members are dated by the server clock, at the moment their link was made: on a manual
clock a zip says 2026, and one link gives the same bytes however often, and whenever, it is
downloaded."""

from __future__ import annotations

import io
import json
import zipfile

from mockserver.engine.artifacts import zip_bytes
from tests.conftest import Mock

NL = "/neurolinker/api/v1"
NA = "/neuralanalog"


def dates(archive: bytes) -> set[tuple[int, int, int, int, int, int]]:
    return {member.date_time for member in zipfile.ZipFile(io.BytesIO(archive)).infolist()}


def test_a_make_zip_link_is_dated_when_it_was_made_and_gives_the_same_bytes(mock: Mock) -> None:
    headers = mock.headers("neurolinker")
    form = {"form": json.dumps({"documents_url": ["https://example.com/a.pdf"]})}
    made = mock.client.post(f"{NL}/extract", headers=headers, data=form)
    request_id = made.json()["request_uid"]
    mock.advance(3600)  # done, at 2026-01-01T01:00:00Z
    answer = mock.client.post(f"{NL}/make-zip", headers=headers, json={"request_id": request_id})
    link = answer.json()["url"]

    first = mock.client.get(link).content
    mock.advance(1801)  # a later download of the same link: still dated when it was made
    later = mock.client.get(link).content

    assert dates(first) == {(2026, 1, 1, 1, 0, 0)}
    assert later == first


def test_a_download_archive_link_is_dated_when_it_was_made(mock: Mock) -> None:
    headers = mock.headers("neuralanalog")
    made = mock.client.post(f"{NA}/from-link", headers=headers, json={"url": "https://e.com/a.wav"})
    mock.advance(100)  # 2026-01-01T00:01:40Z
    body = {"id": made.json()["audio_id"], "versions": ["original"]}
    link = mock.client.post(f"{NA}/download-archive", headers=headers, json=body).json()
    first = mock.client.get(link["download_url"]).content
    mock.advance(1801)
    assert dates(first) == {(2026, 1, 1, 0, 1, 40)}
    assert mock.client.get(link["download_url"]).content == first


def test_a_zip_is_dated_within_what_a_zip_can_say() -> None:
    """A clock before 1980 or past 2107 dates its zips at the nearest instant a zip holds."""
    early = zip_bytes({"a.txt": b"a"}, 0.0)  # 1970-01-01
    late = zip_bytes({"a.txt": b"a"}, 221_845_392_000.0)  # 9000-01-01, the latest the clock goes
    assert dates(early) == {(1980, 1, 1, 0, 0, 0)}
    assert dates(late) == {(2107, 12, 31, 23, 59, 58)}
