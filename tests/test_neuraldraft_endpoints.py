"""Neural Draft: social post creation, images by key (upload, generate, replace), a blog
post's translations and the tags list.

Every response is checked against `contracts/neuraldraft.yaml` by the `mock` fixture.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mockserver.apis.neuraldraft.images import EMPTY, MAX_IMAGE_BYTES, NOT_A_FILE, sniff
from mockserver.apis.neuraldraft.models import png
from mockserver.contracts import load
from tests.conftest import Mock, make_mock

BASE = "/neuraldraft/v1"
PROBLEM = "application/problem+json"
OTHER = "someone-else"


def headers(mock: Mock, key: str | None = None, **extra: str) -> dict[str, str]:
    return mock.headers("neuraldraft", key=key, **extra)


def post(mock: Mock, path: str, body: Any, key: str | None = None, **extra: str) -> httpx.Response:
    return mock.client.post(BASE + path, headers=headers(mock, key, **extra), json=body)


def get(mock: Mock, path: str, key: str | None = None) -> httpx.Response:
    return mock.client.get(BASE + path, headers=headers(mock, key))


def upload(
    mock: Mock,
    data: bytes,
    key: str | None = "hero.background",
    method: str = "POST",
    path: str = "/images",
    api_key: str | None = None,
) -> httpx.Response:
    fields = {"key": key} if key is not None else {}
    return mock.client.request(
        method,
        BASE + path,
        headers=headers(mock, api_key),
        files={"file": ("hero.png", data, "application/octet-stream")},
        data=fields,
    )


def problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body = answer.json()
    assert (body["status"], body["code"]) == (status, code)
    assert "x-ratelimit-remaining" in answer.headers
    return body


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp(width: int, height: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


# --- POST /v1/social-posts -----------------------------------------------------------------


def test_a_manual_social_post_is_a_draft_with_its_copy(mock: Mock) -> None:
    answer = post(
        mock,
        "/social-posts",
        {
            "title": "New Saturday morning class",
            "platforms": ["facebook", "instagram", "facebook"],
            "facebook_content": "Book now",
            "instagram_content": "Slow down. Breathe.",
            "twitter_content": "not a platform of this post",
            "media_type": "image",
        },
    )
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    assert data == {
        "id": data["id"],
        "title": "New Saturday morning class",
        "platforms": ["facebook", "instagram"],
        "status": "draft",
        "media_type": "image",
        "content": {"facebook": "Book now", "instagram": "Slow down. Breathe."},
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    } and isinstance(data["id"], int)
    read = get(mock, f"/social-posts/{data['id']}")
    assert read.status_code == 200 and read.json()["data"] == data
    problem(get(mock, f"/social-posts/{data['id']}", key=OTHER), 404, "not_found")


def test_an_ai_social_post_is_the_job_post_jobs_starts(mock: Mock) -> None:
    answer = post(
        mock,
        "/social-posts",
        {"ai": {"topic": "launching our v1 API", "platforms": ["twitter"], "tone": "warm"}},
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert (job["type"], job["status"]) == ("social_post.generate", "pending")
    assert [step["name"] for step in job["steps"]] == ["write", "media"]
    mock.advance(60)
    done = get(mock, f"/jobs/{job['id']}").json()
    assert done["status"] == "completed"
    result = done["result"]
    assert (result["title"], result["platforms"]) == ("Launching Our V1 API", ["twitter"])
    social = get(mock, f"/social-posts/{result['social_post_id']}").json()["data"]
    assert (social["status"], social["title"]) == ("published", "Launching Our V1 API")
    problem(get(mock, f"/jobs/{job['id']}", key=OTHER), 404, "not_found")


def test_an_ai_social_post_about_a_blog_post_takes_its_title(mock: Mock) -> None:
    blog = post(mock, "/blog-posts", {"title": "five things we shipped"}).json()["data"]
    answer = post(mock, "/social-posts", {"ai": {"post_id": blog["id"]}})
    assert answer.status_code == 202, answer.text
    mock.advance(60)
    result = get(mock, f"/jobs/{answer.json()['id']}").json()["result"]
    assert (result["title"], result["platforms"]) == ("Five Things We Shipped", ["linkedin"])
    # another key's post is none of this key's
    refused = post(mock, "/social-posts", {"ai": {"post_id": blog["id"]}}, key=OTHER)
    assert problem(refused, 422, "validation_failed")["errors"] == {
        "ai.post_id": [f"Blog post {blog['id']} not found."]
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"title": "x", "platforms": []}, {"platforms"}),
        ({"title": "x", "platforms": ["myspace"]}, {"platforms.0"}),
        ({"ai": {"topic": "x", "media_type": "gif"}}, {"ai.media_type"}),
    ],
)
def test_a_bad_social_post_is_a_422_naming_the_field(
    mock: Mock, body: dict[str, Any], fields: set[str]
) -> None:
    answer = problem(post(mock, "/social-posts", body), 422, "validation_failed")
    assert set(answer["errors"]) == fields


def test_a_social_post_body_that_is_no_object_is_a_400(mock: Mock) -> None:
    answer = post(mock, "/social-posts", ["title"])
    assert problem(answer, 400, "bad_request")["detail"] == "Request body must be a JSON object."


def test_an_ai_social_post_can_run_out_of_credits(mock: Mock) -> None:
    answer = post(
        mock, "/social-posts", {"ai": {"topic": "x"}}, **{"X-Mock-Scenario": "out_of_credits"}
    )
    problem(answer, 402, "out_of_credits")


# --- images by key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime_type", "size"),
    [
        (png(640, 360, "x"), "image/png", (640, 360)),
        (gif(20, 10), "image/gif", (20, 10)),
        (jpeg(2048, 1152), "image/jpeg", (2048, 1152)),
        (webp(300, 200), "image/webp", (300, 200)),
        (b'<?xml version="1.0"?>\n<svg width="48" height="24"></svg>', "image/svg+xml", (48, 24)),
    ],
)
def test_an_image_is_told_by_its_bytes(data: bytes, mime_type: str, size: tuple[int, int]) -> None:
    assert sniff(data) == (mime_type, *size)


def test_what_is_no_image_is_not_one() -> None:
    assert sniff(b"%PDF-1.7 ...") is None
    assert sniff(b"\xff\xd8 truncated") is None


def test_an_upload_is_registered_at_once_and_swapped_by_key(mock: Mock) -> None:
    first = upload(mock, png(640, 360, "a"))
    assert first.status_code == 201, first.text
    image = first.json()["data"]
    assert image | {"url": ""} == {
        "key": "hero.background",
        "url": "",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "width": 640,
        "height": 360,
        "bytes": len(png(640, 360, "a")),
        "mime_type": "image/png",
        "generated": False,
    }
    assert image["url"].startswith("https://cdn.neuraldraft.io/prj_")
    assert image["url"].endswith(".png") and mock.key not in image["url"]
    assert get(mock, "/images/hero.background").json() == image  # not wrapped in data

    mock.advance(10)
    swapped = upload(mock, gif(20, 10))
    assert swapped.status_code == 200, swapped.text
    data = swapped.json()["data"]
    assert (data["mime_type"], data["width"], data["created_at"], data["updated_at"]) == (
        "image/gif",
        20,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:10Z",
    )
    problem(get(mock, "/images/hero.background", key=OTHER), 404, "not_found")


def test_a_generated_image_with_a_key_is_addressable_once_done(mock: Mock) -> None:
    created = post(mock, "/images", {"prompt": "A yoga studio", "key": "hero.background"})
    assert created.status_code == 202, created.text
    problem(get(mock, "/images/hero.background"), 404, "not_found")
    mock.advance(40)
    image = get(mock, "/images/hero.background")
    assert image.status_code == 200, image.text
    body = image.json()
    assert (body["generated"], body["width"], body["height"], body["mime_type"]) == (
        True,
        1920,
        1080,
        "image/png",
    )
    served = mock.client.get(body["url"])
    assert served.status_code == 200 and served.content.startswith(b"\x89PNG")
    assert get(mock, f"/jobs/{created.json()['id']}").json()["result"]["url"] == body["url"]
    problem(get(mock, "/images/hero.background", key=OTHER), 404, "not_found")


def test_a_failed_generation_registers_nothing(mock: Mock) -> None:
    body = {"prompt": "A yoga studio", "key": "hero.background"}
    post(mock, "/images", body, **{"X-Mock-Scenario": "failed"})
    mock.advance(60)
    problem(get(mock, "/images/hero.background"), 404, "not_found")


def test_put_replaces_an_image_by_upload_or_by_a_job(mock: Mock) -> None:
    problem(upload(mock, gif(1, 1), key=None, method="PUT", path="/images/logo"), 404, "not_found")
    upload(mock, gif(1, 1), key="logo")
    replaced = upload(mock, jpeg(64, 32), key=None, method="PUT", path="/images/logo")
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"]["mime_type"] == "image/jpeg"

    job = mock.client.put(
        BASE + "/images/logo",
        headers=headers(mock),
        json={"regenerate": True, "prompt": "A logo", "aspect_ratio": "1:1"},
    )
    assert job.status_code == 202, job.text
    assert job.json()["type"] == "image.generate"
    assert get(mock, "/images/logo").json()["mime_type"] == "image/jpeg"  # not done yet
    mock.advance(40)
    image = get(mock, "/images/logo").json()
    assert (image["generated"], image["width"], image["mime_type"]) == (True, 1024, "image/png")
    assert image["created_at"] == "2026-01-01T00:00:00Z"
    # another key cannot replace it
    other = upload(mock, gif(1, 1), key=None, method="PUT", path="/images/logo", api_key=OTHER)
    problem(other, 404, "not_found")


def test_an_upload_after_a_generation_wins_over_it(mock: Mock) -> None:
    post(mock, "/images", {"prompt": "A yoga studio", "key": "hero"})
    mock.advance(40)  # done, not yet read
    upload(mock, gif(5, 5), key="hero")
    assert get(mock, "/images/hero").json()["mime_type"] == "image/gif"


@pytest.mark.parametrize(
    ("data", "key", "field", "message"),
    [
        (
            b"plain text",
            "hero",
            "file",
            "The file must be an image: jpg, jpeg, png, webp, gif or svg.",
        ),
        (gif(1, 1), "not a/url key", "key", None),
    ],
)
def test_a_bad_upload_is_a_422_naming_the_field(
    mock: Mock, data: bytes, key: str | None, field: str, message: str | None
) -> None:
    errors = problem(upload(mock, data, key=key), 422, "validation_failed")["errors"]
    assert set(errors) == {field}
    if message is not None:
        assert errors[field] == [message]


def test_an_upload_past_10_mb_is_a_422_on_file(mock: Mock) -> None:
    big = gif(1, 1) + b"\x00" * MAX_IMAGE_BYTES
    errors = problem(upload(mock, big), 422, "validation_failed")["errors"]
    assert errors == {"file": [f"The file may not be greater than 10 MB ({len(big)} bytes sent)."]}


def test_a_body_neither_json_nor_multipart_is_a_400(mock: Mock) -> None:
    answer = mock.client.post(
        BASE + "/images", headers=headers(mock, **{"Content-Type": "text/plain"}), content=b"x"
    )
    problem(answer, 400, "bad_request")


def put(mock: Mock, path: str, body: Any, key: str | None = None, **extra: str) -> httpx.Response:
    return mock.client.put(BASE + path, headers=headers(mock, key, **extra), json=body)


def delete(mock: Mock, path: str, key: str | None = None) -> httpx.Response:
    return mock.client.delete(BASE + path, headers=headers(mock, key))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x.io/a.png"}, "url"),
        ({"url": "https://x.io/" + "a" * 2048}, "url"),
        ({"url": 5}, "url"),
    ],
)
def test_a_replace_by_a_bad_url_is_a_422_naming_the_field(
    mock: Mock, body: dict[str, Any], field: str
) -> None:
    upload(mock, gif(1, 1), key="logo")
    assert set(problem(put(mock, "/images/logo", body), 422, "validation_failed")["errors"]) == {
        field
    }
    assert get(mock, "/images/logo").json()["mime_type"] == "image/gif"  # untouched


def test_put_with_a_url_registers_it_as_it_is(mock: Mock) -> None:
    """The replace page's direct URL mode: synchronous, the updated Image; nothing fetched."""
    url = "https://images.example.com/brand/Hero.JPG?v=2"
    created = put(mock, "/images/hero.background", {"url": url})
    assert created.status_code == 201, created.text
    image = {
        "key": "hero.background",
        "url": url,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "mime_type": "image/jpeg",
        "generated": False,
    }
    assert created.json() == {"data": image}
    assert get(mock, "/images/hero.background").json() == image
    problem(get(mock, "/images/hero.background", key=OTHER), 404, "not_found")

    mock.advance(5)
    swapped = put(mock, "/images/hero.background", {"url": "https://images.example.com/hero"})
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["data"] == {
        "key": "hero.background",
        "url": "https://images.example.com/hero",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:05Z",
        "generated": False,
    }
    # an upload swaps a URL's image, and a URL an upload's
    replaced = upload(mock, gif(20, 10), key=None, method="PUT", path="/images/hero.background")
    assert replaced.status_code == 200 and replaced.json()["data"]["width"] == 20
    again = put(mock, "/images/hero.background", {"url": "https://x.io/a.webp"})
    assert again.status_code == 200 and "width" not in again.json()["data"]
    assert again.json()["data"]["mime_type"] == "image/webp"


def test_a_prompt_still_regenerates_by_put(mock: Mock) -> None:
    problem(put(mock, "/images/logo", {"prompt": "A logo"}), 404, "not_found")
    put(mock, "/images/logo", {"url": "https://x.io/logo.svg"})
    job = put(mock, "/images/logo", {"prompt": "A logo", "url": "https://x.io/other.png"})
    assert job.status_code == 202 and job.json()["type"] == "image.generate"
    mock.advance(40)
    image = get(mock, "/images/logo").json()
    assert (image["generated"], image["mime_type"]) == (True, "image/png")


def test_images_are_listed_by_key_and_prefix(mock: Mock) -> None:
    put(mock, "/images/hero.foreground", {"url": "https://x.io/f.png"})
    upload(mock, gif(2, 2), key="logo")
    put(mock, "/images/hero.background", {"url": "https://x.io/b.png"})
    post(mock, "/images", {"prompt": "A hero", "key": "hero.middle"})
    put(mock, "/images/hero.secret", {"url": "https://x.io/s.png"}, key=OTHER)
    listed = get(mock, "/images")
    assert listed.status_code == 200, listed.text
    assert [i["key"] for i in listed.json()["data"]] == [
        "hero.background",
        "hero.foreground",
        "logo",
    ]
    assert listed.json()["meta"] == {"page": 1, "page_size": 20, "total": 3}
    mock.advance(40)  # the generation with a key completed: it is listed
    hero = get(mock, "/images?prefix=hero.&page_size=2&page=2").json()
    assert hero["meta"] == {"page": 2, "page_size": 2, "total": 3}
    assert [i["key"] for i in hero["data"]] == ["hero.middle"]
    assert hero["data"][0]["generated"] is True
    assert mock.client.get(hero["data"][0]["url"]).status_code == 200
    assert get(mock, "/images?prefix=nothing").json() == {
        "data": [],
        "meta": {"page": 1, "page_size": 20, "total": 0},
    }
    problem(get(mock, "/images?page_size=101"), 422, "validation_failed")


def test_delete_lets_an_image_go(mock: Mock) -> None:
    upload(mock, gif(1, 1), key="logo")
    problem(delete(mock, "/images/logo", key=OTHER), 404, "not_found")
    gone = delete(mock, "/images/logo")
    assert (gone.status_code, gone.content) == (204, b"")
    assert "x-ratelimit-remaining" in gone.headers
    problem(get(mock, "/images/logo"), 404, "not_found")
    problem(delete(mock, "/images/logo"), 404, "not_found")
    assert get(mock, "/images").json()["data"] == []
    # the key is free again: a new registration is a new image
    fresh = put(mock, "/images/logo", {"url": "https://x.io/logo.png"})
    assert fresh.status_code == 201, fresh.text


# --- image keys, SVG sniffing, image sizes, upload wording ----------------------------------

SDK_KEY = re.compile(r"^[\w.\-\/]+$", re.ASCII)  # the SDK's `images.upload`: "must match"
SLASHED = "blog/cold-brew-hero"  # the contract's own example of a key


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk claiming `width` x `height`: all a sniffer reads."""
    ihdr = b"IHDR" + struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    chunk = struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_svg_sniffing_is_linear_in_the_comments_before_the_root() -> None:
    """Empty comments with no `<svg>` after them backtracked exponentially (25 took 10 s
    on the event loop, each one more doubled it): the old pattern never ends on these."""
    assert sniff(b"<!---->" * 5000 + b"<x>") is None
    assert sniff(b"<!-- -->\n" * 400 + b"<svg/>") == ("image/svg+xml", 0, 0)  # within the head
    many = b"<!---->" * 600 + b'<svg width="2">'  # its root past the bytes read: no SVG
    assert sniff(many) is None


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (b'\xef<svg width="1">', None),  # something else first
        (
            b'<?xml version="1.0"?><!-- a --><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN">'
            b'\n<!-- b --> <svg height="7" width="9">',
            (9, 7),
        ),
        (b"<!-- never closed <svg>", None),
        (b'<svgx width="3">', None),
        (b'<svg width="48" height="24"><rect width="10" height="5"/></svg>', (48, 24)),
        (b'<svg stroke-width="3" viewBox="0 0 4 4">', (0, 0)),
        (b"<svg width='48px' height=\"24\">", (48, 24)),
        (b'<svg width="50%" height="4.5em">', (0, 0)),
        (b'<svg width="' + b"9" * 4000 + b'" height="2">', (0, 2)),
        (b'<svg width="2147483647" height="2147483648">', (2147483647, 0)),
    ],
)
def test_an_svg_is_its_root_tag_and_an_absurd_side_is_unknown(
    data: bytes, size: tuple[int, int] | None
) -> None:
    assert sniff(data) == (None if size is None else ("image/svg+xml", *size))


@pytest.mark.parametrize(
    ("data", "sent"),
    [
        (png_header(0, 0), "0 x 0"),
        (png_header(4294967295, 4294967295), "4294967295 x 4294967295"),
        (png_header(2**31, 1), "2147483648 x 1"),
        (gif(0, 10), "0 x 10"),
    ],
)
def test_a_raster_image_without_pixels_or_past_pngs_bound_is_a_422_on_file(
    mock: Mock, data: bytes, sent: str
) -> None:
    errors = problem(upload(mock, data), 422, "validation_failed")["errors"]
    assert errors == {"file": [f"The image must be 1 to 2147483647 pixels a side ({sent} sent)."]}
    problem(get(mock, "/images/hero.background"), 404, "not_found")


def test_the_largest_png_and_an_absurd_svg_are_kept_within_bounds(mock: Mock) -> None:
    widest = upload(mock, png_header(2**31 - 1, 1))
    assert widest.status_code == 201, widest.text
    assert (widest.json()["data"]["width"], widest.json()["data"]["height"]) == (2**31 - 1, 1)
    svg = b'<svg width="' + b"9" * 4000 + b'" height="2"/>'
    absurd = upload(mock, svg, key="icon")
    assert absurd.status_code == 201, absurd.text
    assert (absurd.json()["data"]["width"], absurd.json()["data"]["height"]) == (0, 2)


def test_the_contract_holds_image_keys_to_the_sdks_rule() -> None:
    image_key = load("neuraldraft").document["components"]["schemas"]["ImageKey"]
    rule = re.compile(image_key["pattern"])
    samples = ["hero.background", SLASHED, "a_B-9.x", "/", "a b", "a~b", "é", "a?b", "a%2Fb", ""]
    assert [bool(rule.match(s)) for s in samples] == [bool(SDK_KEY.match(s)) for s in samples]
    assert image_key["maxLength"] == 255


def test_a_key_with_slashes_is_one_image_for_every_operation(mock: Mock) -> None:
    """The SDK sends `encodeURIComponent(key)`: `%2F`; a plain `/` reaches the same image."""
    created = post(mock, "/images", {"prompt": "Cold brew", "key": SLASHED})
    assert created.status_code == 202, created.text
    mock.advance(40)
    encoded = "/images/" + SLASHED.replace("/", "%2F")
    image = get(mock, encoded)
    assert image.status_code == 200, image.text
    assert (image.json()["key"], image.json()["generated"]) == (SLASHED, True)
    assert get(mock, "/images/" + SLASHED).json() == image.json()
    for path in (encoded, "/images/" + SLASHED):  # a HEAD is its GET's answer, bodiless
        head = mock.client.head(f"{BASE}{path}", headers=headers(mock))
        assert (head.status_code, head.content) == (200, b"")

    uploaded = upload(mock, gif(3, 2), key="blog/cover")
    assert uploaded.status_code == 201, uploaded.text
    replaced = upload(mock, gif(4, 2), key=None, method="PUT", path="/images/blog%2Fcover")
    assert (replaced.status_code, replaced.json()["data"]["width"]) == (200, 4)
    by_url = put(mock, "/images/blog/hero/dusk.v2", {"url": "https://x.io/dusk.jpg"})
    assert by_url.status_code == 201, by_url.text
    listed = get(mock, "/images?prefix=blog/").json()["data"]
    assert [i["key"] for i in listed] == ["blog/cold-brew-hero", "blog/cover", "blog/hero/dusk.v2"]
    gone = delete(mock, encoded)
    assert gone.status_code == 204, gone.text
    problem(get(mock, "/images/" + SLASHED), 404, "not_found")


BAD_KEYS = ["has space?#", "a~b", "café", "x" * 256, "hero\n"]  # `$` ends the text, as in JS


@pytest.mark.parametrize("bad", BAD_KEYS)
def test_a_key_off_the_rule_is_a_422_on_key_wherever_it_is_sent(mock: Mock, bad: str) -> None:
    generated = post(mock, "/images", {"prompt": "x", "key": bad})
    assert set(problem(generated, 422, "validation_failed")["errors"]) == {"key"}
    uploaded = upload(mock, gif(1, 1), key=bad)
    assert set(problem(uploaded, 422, "validation_failed")["errors"]) == {"key"}
    path = "/images/" + quote(bad, safe="")
    replaced = put(mock, path, {"url": "https://x.io/a.png"})
    assert set(problem(replaced, 422, "validation_failed")["errors"]) == {"key"}
    assert get(mock, "/images").json()["data"] == []  # nothing registered or expected
    mock.advance(40)
    assert get(mock, "/images").json()["data"] == []


def test_the_longest_key_is_taken(mock: Mock) -> None:
    longest = "k/" * 127 + "k"
    assert upload(mock, gif(1, 1), key=longest).status_code == 201
    assert get(mock, "/images/" + longest).json()["key"] == longest


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("parts", "errors"),
    [
        ({"file": (None, "text"), "key": (None, "k")}, {"file": [NOT_A_FILE]}),
        ({"file": (None, ""), "key": (None, "k")}, {"file": [NOT_A_FILE]}),
        ({"file": ("a.gif", gif(1, 1)), "key": (None, "")}, {"key": [EMPTY]}),
    ],
)
def test_an_upload_form_is_refused_in_plain_words(
    strict: bool, parts: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    """No Python class names, and a field sent empty is said to be empty, not missing."""
    for mock in make_mock(strict=strict):
        answer = mock.client.post(BASE + "/images", headers=headers(mock), files=parts)
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert (answer.status_code, answer.json()["errors"]) == (422, errors)


# --- POST /v1/videos ------------------------------------------------------------------------


def test_a_video_is_a_job_wrapped_in_data_with_a_served_mp4(mock: Mock) -> None:
    body = {"prompt": "Slow dolly through a sunlit studio", "duration_seconds": 12}
    created = post(mock, "/videos", body)
    assert created.status_code == 202, created.text
    job = created.json()["data"]
    assert set(created.json()) == {"data"}
    assert (job["type"], job["status"], job["progress"], job["message"]) == (
        "video.generate",
        "pending",
        0,
        "Queued",
    )
    assert [step["name"] for step in job["steps"]] == ["generate", "upload"]
    mock.advance(60)
    running = get(mock, f"/jobs/{job['id']}").json()
    assert (running["status"], running["message"]) == ("processing", "Generating the video")
    mock.advance(60)
    done = get(mock, f"/jobs/{job['id']}").json()
    assert done["status"] == "completed", done
    result = done["result"]
    assert result | {"url": ""} == {
        "url": "",
        "width": 1080,
        "height": 1920,
        "duration_seconds": 12,
    }
    served = mock.client.get(result["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "video/mp4"
    assert served.content[4:12] == b"ftypisom"
    mvhd = served.content.index(b"mvhd")
    assert struct.unpack(">II", served.content[mvhd + 16 : mvhd + 24]) == (1000, 12000)
    problem(get(mock, f"/jobs/{job['id']}", key=OTHER), 404, "not_found")


@pytest.mark.parametrize(
    ("ratio", "size"),
    [("16:9", (1920, 1080)), ("1:1", (1080, 1080)), ("3:4", (1080, 1440)), ("3:2", (1620, 1080))],
)
def test_a_videos_size_follows_its_aspect_ratio(
    mock: Mock, ratio: str, size: tuple[int, int]
) -> None:
    job = post(mock, "/videos", {"prompt": "A forest", "aspect_ratio": ratio}).json()["data"]
    mock.advance(120)
    result = get(mock, f"/jobs/{job['id']}").json()["result"]
    assert (result["width"], result["height"], result["duration_seconds"]) == (*size, 5)


def test_a_premium_video_of_a_project_below_build_is_402_plan_required(mock: Mock) -> None:
    scenario = {"X-Mock-Scenario": "plan_required"}
    body = {"prompt": "Drone shot over pines", "tier": "premium"}
    refused = problem(post(mock, "/videos", body, **scenario), 402, "plan_required")
    assert refused["type"] == "https://api.neuraldraft.io/errors/plan_required"
    assert refused["title"] == "Plan required"
    # the budget tier, and every other job, works for such a project
    budget = post(mock, "/videos", {"prompt": "Drone shot over pines"}, **scenario)
    assert budget.status_code == 202, budget.text
    image = post(mock, "/images", {"prompt": "A pine"}, **scenario)
    assert image.status_code == 202, image.text
    mock.advance(120)
    assert get(mock, f"/jobs/{budget.json()['data']['id']}").json()["status"] == "completed"
    # premium without the scenario runs; out of credits stays out_of_credits
    assert post(mock, "/videos", body).status_code == 202
    problem(
        post(mock, "/videos", body, **{"X-Mock-Scenario": "out_of_credits"}), 402, "out_of_credits"
    )


def test_plan_required_is_reached_by_magic_and_by_the_queue(mock: Mock) -> None:
    magic = {"prompt": "mock-plan_required drone shot", "tier": "premium"}
    problem(post(mock, "/videos", magic), 402, "plan_required")
    queued = mock.client.post(
        "/__mock__/scenarios",
        json={
            "api": "neuraldraft",
            "outcome": "plan_required",
            "tenant": mock.headers("neuraldraft")["Authorization"].split()[1],
        },
    )
    assert queued.status_code in (200, 201), queued.text
    problem(post(mock, "/videos", {"prompt": "Waves", "tier": "premium"}), 402, "plan_required")
    assert post(mock, "/videos", {"prompt": "Waves", "tier": "premium"}).status_code == 202


def test_plan_required_is_no_job_outcome(mock: Mock) -> None:
    job = post(mock, "/videos", {"prompt": "Waves"}).json()["data"]
    answer = mock.client.post(
        f"/__mock__/jobs/{job['id']}/transition", json={"outcome": "plan_required"}
    )
    assert answer.status_code == 422, answer.text
    assert "not a job outcome" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "ab"}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": "Waves", "tier": "gold"}, "tier"),
        ({"prompt": "Waves", "aspect_ratio": "4:5"}, "aspect_ratio"),
        ({"prompt": "Waves", "duration_seconds": 2}, "duration_seconds"),
        ({"prompt": "Waves", "duration_seconds": 31}, "duration_seconds"),
        ({"prompt": "Waves", "duration_seconds": "5"}, "duration_seconds"),
        ({"prompt": "Waves", "visual_style": "x" * 201}, "visual_style"),
        ({"prompt": "Waves", "platforms": ["youtube"]}, "platforms.0"),
    ],
)
def test_a_bad_video_is_a_422_naming_the_field(
    mock: Mock, body: dict[str, Any], field: str
) -> None:
    answer = problem(post(mock, "/videos", body), 422, "validation_failed")
    assert set(answer["errors"]) == {field}


def test_a_video_body_that_is_no_object_is_a_400(mock: Mock) -> None:
    answer = post(mock, "/videos", ["prompt"])
    assert problem(answer, 400, "bad_request")["detail"] == "Request body must be a JSON object."


def test_a_video_create_is_replayed_by_its_idempotency_key(mock: Mock) -> None:
    sent = {"Idempotency-Key": "video-1"}
    first = post(mock, "/videos", {"prompt": "Waves"}, **sent)
    again = post(mock, "/videos", {"prompt": "Waves"}, **sent)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


# --- a blog post's translations, tags -------------------------------------------------------


def manual_post(mock: Mock, key: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"title": "Five things", "content": "<p>Busy.</p>", "excerpt": "Highlights", **fields}
    answer = post(mock, "/blog-posts", body, key=key)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def test_put_translation_adds_a_language_and_lists_it(mock: Mock) -> None:
    blog = manual_post(mock)
    french = {"title": "Cinq choses", "content": "<p>Chargee.</p>", "excerpt": "Temps forts"}
    answer = mock.client.put(
        f"{BASE}/blog-posts/{blog['id']}/translations/fr", headers=headers(mock), json=french
    )
    assert answer.status_code == 200, answer.text
    written = {"lang": "fr", **french, "meta_title": None, "meta_description": None}
    assert answer.json() == {"data": written}
    listed = get(mock, f"/blog-posts/{blog['id']}/translations").json()["data"]
    assert [t["lang"] for t in listed] == ["en", "fr"] and listed[1] == written
    assert get(mock, f"/blog-posts/{blog['id']}").json()["data"]["translations"] == listed
    # a second PUT keeps what it does not send
    again = mock.client.put(
        f"{BASE}/blog-posts/{blog['id']}/translations/fr",
        headers=headers(mock),
        json={"title": "Cinq choses livrees"},
    )
    assert again.json()["data"] == written | {"title": "Cinq choses livrees"}
    # its own language writes the post itself
    mock.client.put(
        f"{BASE}/blog-posts/{blog['id']}/translations/en",
        headers=headers(mock),
        json={"title": "Six"},
    )
    assert get(mock, f"/blog-posts/{blog['id']}").json()["data"]["title"] == "Six"


def test_translations_are_the_keys_own(mock: Mock) -> None:
    blog = manual_post(mock)
    problem(get(mock, f"/blog-posts/{blog['id']}/translations", key=OTHER), 404, "not_found")
    answer = mock.client.put(
        f"{BASE}/blog-posts/{blog['id']}/translations/fr",
        headers=headers(mock, OTHER),
        json={"title": "Cinq"},
    )
    problem(answer, 404, "not_found")
    assert len(get(mock, f"/blog-posts/{blog['id']}/translations").json()["data"]) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/translations/fr", {"content": "no title"}, 400, "bad_request"),
        ("/translations/fr", {"title": 5}, 422, "validation_failed"),
        ("/translations/f", {"title": "x"}, 422, "validation_failed"),
        ("/translations/" + "x" * 36, {"title": "x"}, 422, "validation_failed"),
        ("/translations/fr", ["title"], 400, "bad_request"),
    ],
)
def test_a_bad_translation_is_a_4xx(
    mock: Mock, path: str, body: Any, status: int, code: str
) -> None:
    blog = manual_post(mock)
    answer = mock.client.put(
        f"{BASE}/blog-posts/{blog['id']}{path}", headers=headers(mock), json=body
    )
    problem(answer, status, code)


def test_a_translation_job_adds_its_languages_as_they_land(mock: Mock) -> None:
    blog = manual_post(mock, content="<p>Busy.</p>")
    job = post(mock, f"/blog-posts/{blog['id']}/translate", {"target_langs": ["fr", "de"]})
    assert job.status_code == 202, job.text

    def langs() -> list[str]:
        data = get(mock, f"/blog-posts/{blog['id']}").json()["data"]
        return [t["lang"] for t in data["translations"]]

    assert langs() == ["en"]
    mock.advance(25)  # the queue and French
    assert langs() == ["en", "fr"]
    mock.advance(60)
    assert get(mock, f"/jobs/{job.json()['id']}").json()["status"] == "completed"
    translations = get(mock, f"/blog-posts/{blog['id']}/translations").json()["data"]
    assert [t["lang"] for t in translations] == ["en", "de", "fr"]
    assert translations[1]["title"] == "[de] Five things"
    assert translations[1]["content"] == "[de] <p>Busy.</p>"
    listed = get(mock, "/blog-posts").json()["data"][0]
    assert listed["translations"] == translations


def test_a_written_translation_after_a_job_wins_and_one_before_it_loses(mock: Mock) -> None:
    blog = manual_post(mock)
    path = f"{BASE}/blog-posts/{blog['id']}/translations/fr"
    mock.client.put(path, headers=headers(mock), json={"title": "Avant"})
    post(mock, f"/blog-posts/{blog['id']}/translate", {"target_langs": ["fr"]})
    mock.advance(60)
    french = get(mock, f"/blog-posts/{blog['id']}/translations").json()["data"][1]
    assert french["title"] == "[fr] Five things"
    mock.client.put(path, headers=headers(mock), json={"title": "Apres"})
    french = get(mock, f"/blog-posts/{blog['id']}/translations").json()["data"][1]
    assert french["title"] == "Apres"


def test_tags_are_those_of_the_keys_posts(mock: Mock) -> None:
    manual_post(mock, tags=["weekly", "changelog"])
    manual_post(mock, tags=["Weekly News", "weekly"])
    manual_post(mock, key=OTHER, tags=["secret"])
    answer = get(mock, "/tags")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "data": [
            {"id": 3, "name": "Weekly News", "slug": "weekly-news"},
            {"id": 2, "name": "changelog", "slug": "changelog"},
            {"id": 1, "name": "weekly", "slug": "weekly"},
        ]
    }
    assert get(mock, "/tags", key="nobody").json() == {"data": []}


def test_crc_of_the_test_png_is_valid() -> None:
    data = png(2, 2, "x")
    assert zlib.crc32(data[12:29]) & 0xFFFFFFFF == struct.unpack(">I", data[29:33])[0]


def test_a_retried_upload_is_replayed_whatever_its_boundary(mock: Mock) -> None:
    """Clients draw a new multipart boundary per request: the Idempotency-Key still matches."""
    sent = {"Idempotency-Key": "upload-1"}

    def send(key: str) -> httpx.Response:
        return mock.client.post(
            BASE + "/images",
            headers=headers(mock, **sent),
            data={"key": key},
            files={"file": ("a.gif", gif(1, 1), "image/gif")},
        )

    first, again = send("logo"), send("logo")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    problem(send("other"), 409, "idempotency_conflict")
