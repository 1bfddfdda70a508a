"""Text past ASCII, blank text and repeated text, where clients send it: the scenario header
(read as UTF-8), a scenario's `message` (never blank), a number in a path (ASCII digits, as
pydantic reads them), the clock at its last day, and the admin API's query parameters."""

from __future__ import annotations

import math

import anyio
import httpx
import pytest

from mockserver.contracts import load
from mockserver.contracts.validate import coerce
from tests.conftest import Mock
from tests.test_admin import MAIN_CREATES, create, status

NA = "/neuralanalog"
FAULT_RULE = {"fault": "latency", "delay": 0, "tenant": "someone else"}


def send(mock: Mock, *scenarios: bytes) -> httpx.Response:
    """A Neural Analog create sent these `X-Mock-Scenario` headers, their bytes as they are
    (Starlette's test client would send them again as UTF-8)."""
    auth = [(name.encode(), value.encode()) for name, value in mock.headers("neuralanalog").items()]
    headers = [*auth, *((b"x-mock-scenario", scenario) for scenario in scenarios)]

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=mock.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(
                f"{NA}/from-link", headers=headers, json={"url": "https://x/a.wav"}
            )

    return anyio.run(post)


def create_with(mock: Mock, scenario: bytes) -> str:
    """A Neural Analog job made with this header; its ID."""
    answer = send(mock, scenario)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["audio_id"])


def refused(mock: Mock, *scenarios: bytes) -> str:
    """The 400 of a Neural Analog create sent these headers: its message."""
    answer = send(mock, *scenarios)
    assert answer.status_code == 400, answer.text
    assert mock.client.get("/__mock__/jobs").json()["jobs"] == []  # nothing made
    detail: str = answer.json()["detail"]
    return detail


@pytest.fixture(params=["plain", "faults active"])
def path(request: pytest.FixtureRequest, mock: Mock) -> str:
    """The request's way through the server: past the fault layer, or through it (a rule
    held makes it read the header too)."""
    if request.param == "faults active":
        assert mock.client.post("/__mock__/faults", json=FAULT_RULE).status_code == 201
    return str(request.param)


# --- 1. the scenario header is UTF-8 ------------------------------------------------------


def test_a_message_past_ascii_reaches_the_job_as_sent(mock: Mock, path: str) -> None:
    audio_id = create_with(mock, "failed; after=1; message=日本 — naïve".encode())
    mock.advance(5)
    assert status(mock, audio_id)["error_message"] == "日本 — naïve"


def test_a_refusal_shows_the_text_as_sent(mock: Mock, path: str) -> None:
    """`after=٥` is no number (a number is in ASCII digits), and the 400 says it in the
    digit the client wrote, not in its UTF-8 bytes read one by one ('Ù¥')."""
    assert refused(mock, "failed; after=٥".encode()) == (
        "X-Mock-Scenario: scenario option after='٥' is not a number"
    )


def test_a_header_that_is_not_utf8_is_read_as_the_latin1_requests_sends(
    mock: Mock, path: str
) -> None:
    import requests

    prepared = requests.Request(
        "POST", "http://x/", headers={"X-Mock-Scenario": "failed; after=1; message=café"}
    ).prepare()
    sent = prepared.headers["X-Mock-Scenario"]
    raw = sent.encode("latin-1") if isinstance(sent, str) else sent  # as http.client writes it
    assert raw == b"failed; after=1; message=caf\xe9"
    audio_id = create_with(mock, raw)
    mock.advance(5)
    assert status(mock, audio_id)["error_message"] == "café"


def test_the_header_sent_twice_is_shown_as_text(mock: Mock) -> None:
    assert refused(mock, "failed; message=é".encode(), b"completed") == (
        "X-Mock-Scenario: the header is given twice ('failed; message=é' and 'completed'): "
        "give it once"
    )


def test_the_queue_takes_the_same_text_as_the_header(mock: Mock) -> None:
    """The admin API reads JSON, text already: both routes give the job the same message."""
    queue = {"api": "neuralanalog", "outcome": "failed", "after": 1, "message": "日本"}
    assert mock.client.post("/__mock__/scenarios", json=queue).status_code == 201
    queued, sent = create(mock), create_with(mock, "failed; after=1; message=日本".encode())
    mock.advance(5)
    assert status(mock, queued)["error_message"] == status(mock, sent)["error_message"] == "日本"


# --- 2. a message is never blank ----------------------------------------------------------


@pytest.mark.parametrize("sent", ["message=", "message=   ", "after=1; message= ;"])
def test_a_blank_message_in_the_header_is_refused(mock: Mock, path: str, sent: str) -> None:
    assert refused(mock, f"failed; {sent}".encode()) == (
        "X-Mock-Scenario: scenario option message= must be the text a client reads, not blank; "
        "leave it out for the API's own"
    )


@pytest.mark.parametrize("message", ["", "  "])
def test_a_blank_message_in_the_queue_is_refused(mock: Mock, message: str) -> None:
    queue = {"api": "neuralanalog", "outcome": "failed", "message": message}
    answer = mock.client.post("/__mock__/scenarios", json=queue)
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "scenario option message= must be the text a client reads, not blank; "
        "leave it out for the API's own"
    }
    assert mock.client.get("/__mock__/scenarios").json() == {"queued": []}


@pytest.mark.parametrize("api", list(MAIN_CREATES))
def test_every_api_refuses_a_blank_message(mock: Mock, api: str) -> None:
    word = "ERROR" if api == "camb" else "failed"
    path, request = MAIN_CREATES[api]
    headers = mock.headers(api, **{"X-Mock-Scenario": f"{word}; message="})
    answer = mock.client.post(path, headers=headers, **request)
    assert answer.status_code == 400, answer.text
    assert "message= must be the text a client reads, not blank" in answer.text


# --- 3. a number in a path or query is in ASCII digits, as pydantic reads it --------------

READS = {  # text -> (as an integer, as a number): None where pydantic's lax mode refuses it
    "41334731": (41334731, 41334731.0),
    "+7": (7, 7.0),
    "-0": (0, -0.0),
    " 12\t": (12, 12.0),
    "\xa012\u3000": (12, 12.0),  # Unicode white space, trimmed
    "1_000": (1000, 1000.0),
    " 1_000 ": (1000, None),  # a number's underscores go only without white space
    "007": (7, 7.0),
    "1.0": (1, 1.0),
    "1_0.00": (10, 10.0),
    "1.": (None, 1.0),
    ".5": (None, 0.5),
    "1.5": (None, 1.5),
    "1e3": (None, 1000.0),
    "1_0e1_0": (None, 1e11),
    "inf": (None, math.inf),
    "-Infinity": (None, -math.inf),
    "٤١٣٣٤٧٣١": (None, None),  # Arabic-Indic digits
    "１": (None, None),  # fullwidth
    "\x1c1": (None, None),  # Python's str.strip() takes it, pydantic's trim does not
    "ınf": (None, None),  # a dotless i: not ASCII
    "_1": (None, None),
    "1__0": (None, None),
    "1_": (None, None),
    "1.0_0": (None, 1.0),
    "0x10": (None, None),
    "": (None, None),
    "+-1": (None, None),
}


@pytest.mark.parametrize(("text", "read"), READS.items(), ids=[repr(t) for t in READS])
def test_coerce_reads_numbers_as_pydantic_does(
    text: str, read: tuple[int | None, float | None]
) -> None:
    contract = load("camb")
    whole, number = read
    assert coerce(text, {"type": "integer"}, contract) == (text if whole is None else whole)
    as_number = coerce(text, {"type": "number"}, contract)
    if number is None:
        assert as_number == text
    else:
        assert isinstance(as_number, float) and as_number == number


@pytest.mark.parametrize("run_id", ["٤١٣٣٤٧٣١", "４１３３４７３１"])
def test_a_run_id_in_other_digits_is_a_422_int_parsing(mock: Mock, run_id: str) -> None:
    answer = mock.client.get(
        f"/camb/apis/audio-separation-result/{run_id}", headers=mock.headers("camb")
    )
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert (problem["loc"], problem["type"], problem["input"]) == (
        ["path", "run_id"],
        "int_parsing",
        run_id,
    )


# --- 4. the clock at its last day ---------------------------------------------------------


def test_advancing_past_the_last_day_says_so(mock: Mock) -> None:
    assert mock.client.post("/__mock__/clock/set", json={"time": "9000-01-01"}).status_code == 200
    answer = mock.client.post("/__mock__/clock/advance", json={"seconds": 60})
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "'seconds' is too large: advancing the clock by 60 seconds would pass "
        "9000-01-01, where it stops (it reads 9000-01-01T00:00:00.000000Z)"
    }
    assert mock.client.post("/__mock__/clock/advance", json={"seconds": 0}).status_code == 200


def test_the_clock_says_so_to_python_too(mock: Mock) -> None:
    mock.state.clock.set(221_845_391_990.0)  # ten seconds before 9000-01-01
    with pytest.raises(ValueError, match=r"^advancing the clock by 11 seconds would pass"):
        mock.advance(11)
    mock.advance(10)
    assert mock.client.get("/__mock__/clock").json()["iso"] == "9000-01-01T00:00:00.000000Z"


# --- 5. a query parameter of the admin API is given once ----------------------------------


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            "/jobs?api=neuralanalog&api=camb",
            "query parameter 'api' is given twice ('neuralanalog' and 'camb'): give it once",
        ),
        (
            "/journal?limit=1&tenant=a&limit=2&limit=3",
            "query parameter 'limit' is given 3 times ('1', '2', ...): give it once",
        ),
        (
            "/scenarios?tenant=a&tenant=b",
            "query parameter 'tenant' is given twice ('a' and 'b'): give it once",
        ),
        (
            "/health?token=&token=x",
            "query parameter 'token' is given twice ('' and 'x'): give it once",
        ),
    ],
)
def test_a_repeated_query_parameter_is_refused(mock: Mock, query: str, error: str) -> None:
    answer = mock.client.get("/__mock__" + query)
    assert answer.status_code == 422
    assert answer.json() == {"error": error}


def test_only_values_that_differ_are_refused(mock: Mock) -> None:
    """A page's links carry `?token=`, to which a client may add its own: the same value
    again drops nothing."""
    create(mock)
    same = mock.client.get("/__mock__/jobs?api=neuralanalog&api=neuralanalog&token=&token=")
    assert (same.status_code, same.json()["count"]) == (200, 1)
    assert mock.client.get("/__mock__/jobs?api=neuralanalog&api=camb").status_code == 422


def test_a_page_refuses_a_repeated_query_parameter_as_a_page(mock: Mock) -> None:
    answer = mock.client.get("/__mock__/dashboard?status=failed&status=completed")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "query parameter &#x27;status&#x27; is given twice" in answer.text


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_a_file_link_takes_its_expiry_in_ascii_digits_alone(mock: Mock) -> None:
    """The link's signature is over the number: the same number in other digits (which
    int() reads) is no link the API gave, and is refused as a bad expiry."""
    expires = int(mock.state.now()) + 3600
    link = mock.state.signer.path("gone", "a.wav", expires)
    kept = mock.client.get(link)  # signed: what answers is the file store, for a gone job
    assert (kept.status_code, kept.json()["error"]) == (404, "NoSuchKey")
    respelt = link.replace(f"expires={expires}", f"expires={str(expires).translate(ARABIC_INDIC)}")
    answer = mock.client.get(respelt)
    assert (answer.status_code, answer.json()) == (
        403,
        {"error": "AccessDenied", "message": "Missing or bad expires"},
    )


@pytest.mark.parametrize("part", ["expires", "signature"])
def test_a_file_link_giving_its_expiry_or_signature_twice_is_refused(mock: Mock, part: str) -> None:
    """Either one would be used and the other dropped: no link the API gave looks so, and a
    client that builds one has a bug its downloads should show."""
    link = mock.state.signer.path("gone", "a.wav", int(mock.state.now()) + 3600)
    value = link.split(f"{part}=")[1].split("&")[0]
    answer = mock.client.get(f"{link}&{part}={value}")
    assert (answer.status_code, answer.json()) == (
        403,
        {"error": "AccessDenied", "message": "Repeated expires or signature"},
    )
