"""Neural Draft: a body past the server's limit is a `413 payload_too_large` problem, as
docs/security-and-limits.md says of every API's uploads, not a `422` on `body`.

Every response is checked against `contracts/neuraldraft.yaml` by `make_mock`.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Mock, make_mock

BASE = "/neuraldraft/v1"
LIMIT = 64_000
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * (LIMIT + 1_000)  # past the limit before it is judged


@pytest.fixture
def small() -> Any:
    yield from make_mock(max_upload_bytes=LIMIT, max_json_bytes=LIMIT)


def too_large(answer: httpx.Response) -> None:
    """The refusal in Neural Draft's problem format, with the code the docs' naming gives."""
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "https://api.neuraldraft.io/errors/payload_too_large",
        "title": "Payload too large",
        "status": 413,
        "code": "payload_too_large",
        "detail": f"Request body too large: the limit is {LIMIT} bytes",
        "instance": answer.headers["x-request-id"],
    }


def test_an_upload_past_the_limit_is_a_413(small: Mock) -> None:
    answer = small.client.post(
        f"{BASE}/images",
        headers=small.headers("neuraldraft"),
        files={"file": ("a.png", PNG, "image/png")},
        data={"key": "hero.background"},
    )
    too_large(answer)
    listed = small.client.get(f"{BASE}/images", headers=small.headers("neuraldraft"))
    assert listed.json()["data"] == []


def test_a_replacing_upload_past_the_limit_is_a_413(small: Mock) -> None:
    answer = small.client.put(
        f"{BASE}/images/hero.background",
        headers=small.headers("neuraldraft"),
        files={"file": ("a.png", PNG, "image/png")},
    )
    too_large(answer)


def test_a_generation_request_past_the_json_limit_is_a_413_too(small: Mock) -> None:
    """The operation documents a 413 now: a body too large is one whatever its type."""
    answer = small.client.post(
        f"{BASE}/images",
        headers=small.headers("neuraldraft"),
        json={"prompt": "x" * LIMIT},
    )
    too_large(answer)
