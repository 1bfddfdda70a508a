"""The dashboard and the job pages read and refuse as the JSON views do: the same filters, the
same refusals in the same words and status, answered as a page; no path of theirs redirects."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import Mock, make_mock

ADMIN = "/__mock__"
NA = "/neuralanalog"


def create(mock: Mock, key: str | None = None, scenario: str | None = None) -> str:
    headers = mock.headers("neuralanalog", key)
    if scenario is not None:
        headers["X-Mock-Scenario"] = scenario
    answer = mock.client.post(f"{NA}/from-link", headers=headers, json={"url": "https://x/a.wav"})
    assert answer.status_code == 200, answer.text
    return answer.json()["audio_id"]


def signed_link(mock: Mock) -> tuple[str, str]:
    """A NeuroLinker request's ID and its `job_page_url`, as a path."""
    headers = mock.headers("neurolinker")
    form = {"form": json.dumps({"documents_url": ["https://e.com/a.pdf"]})}
    request_id = mock.client.post("/neurolinker/v1/extract", headers=headers, data=form).json()[
        "request_uid"
    ]
    status = mock.client.get(f"/neurolinker/v1/request-status/{request_id}", headers=headers)
    return request_id, status.json()["job_page_url"].removeprefix("http://testserver")


def listed(page: httpx.Response) -> list[str]:
    """The IDs of the jobs a dashboard lists, newest first."""
    assert page.status_code == 200, page.text
    return re.findall(r'<a class="long" href="jobs/([^/"]+)/page', page.text)


def by_json(mock: Mock, **params: str) -> list[str]:
    """The IDs `/__mock__/jobs` lists with those filters, newest first."""
    answer = mock.client.get(f"{ADMIN}/jobs", params=params)
    assert answer.status_code == 200, answer.text
    return [job["id"] for job in reversed(answer.json()["jobs"])]


def refused(answer: httpx.Response, status: int, message: str) -> str:
    """The refusal page's text, checked to be a page saying `message` with `status`."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    text = html.unescape(answer.text)
    assert f"<p>{message}</p>" in text, text
    return text


def test_a_tenant_filter_is_the_key_as_an_api_reads_it(mock: Mock) -> None:
    """`?tenant=%20key%20` showed "0 jobs" while the JSON view found the job."""
    job = create(mock)
    create(mock, "someone-else")
    spaced = {"tenant": f" {mock.key} "}
    assert listed(mock.client.get(f"{ADMIN}/dashboard", params=spaced)) == [job]
    assert by_json(mock, **spaced) == [job]


@pytest.mark.parametrize("tenant", ["", " ", "k" * 4097])
def test_a_tenant_filter_no_key_can_be_is_a_422_page(mock: Mock, tenant: str) -> None:
    """A blank `?tenant=` showed "0 jobs"; the JSON views answer a 422 saying why."""
    create(mock)
    said = mock.client.get(f"{ADMIN}/jobs", params={"tenant": tenant}).json()["error"]
    page = mock.client.get(f"{ADMIN}/dashboard", params={"tenant": tenant})
    assert 'href="dashboard">All jobs' in refused(page, 422, said)


def test_the_dashboard_filters_by_status_as_the_jobs_view(mock: Mock) -> None:
    """`?status=failed` was ignored: every job was listed."""
    running = create(mock)
    failed = create(mock, scenario="failed; after=1")
    mock.advance(5)
    for word in ("failed", "FAILED"):
        page = mock.client.get(f"{ADMIN}/dashboard", params={"status": word})
        assert listed(page) == by_json(mock, status=word) == [failed]
        assert "<p>1 job." in page.text
    both = {"api": "neuralanalog", "tenant": mock.key, "status": "in_progress"}
    assert listed(mock.client.get(f"{ADMIN}/dashboard", params=both)) == [running]
    said = mock.client.get(f"{ADMIN}/jobs", params={"status": "nope"}).json()["error"]
    refused(mock.client.get(f"{ADMIN}/dashboard", params={"status": "nope"}), 422, said)


def test_a_status_filter_on_many_jobs_does_not_claim_a_total(mock: Mock) -> None:
    """The count of every job kept is no count of the failed ones."""
    create(mock, scenario="failed; after=1")
    create(mock)
    mock.advance(5)
    page = mock.client.get(f"{ADMIN}/dashboard", params={"status": "failed"}).text
    assert "<p>1 job." in page and "2 jobs" not in page


@pytest.mark.parametrize("page", ["dashboard", "job", "signed"])
def test_a_page_takes_what_it_reads_and_refuses_another_parameter_in_a_422_page(
    page: str,
) -> None:
    """`?bogus=1` was a 200, where every JSON view answers a 422 naming it; the token goes
    everywhere (a signed page's client may send one too: it is not checked there)."""
    for mock in make_mock(admin_token="s3cret"):
        job = create(mock)
        _, link = signed_link(mock)
        every = {"api": "neuralanalog", "tenant": mock.key, "status": "in_progress"}
        path, reads, home = {
            "dashboard": (
                f"{ADMIN}/dashboard?{urlencode(every)}",
                "api, tenant, status",
                "dashboard",
            ),
            "job": (f"{ADMIN}/jobs/{job}/page?token=s3cret", "signature", "../../dashboard"),
            "signed": (link, "signature", None),
        }[page]
        target = path.split("?")[0]
        assert mock.client.get(path + "&token=s3cret").status_code == 200
        answer = mock.client.get(path + "&token=s3cret&bogus=1")
        text = refused(
            answer, 422, f"unknown query parameter 'bogus'; GET {target} takes only {reads}"
        )
        if home is None:  # the client given the link: nothing of the admin API
            assert "href" not in text.split("<body>")[1]
        else:
            assert f'href="{home}?token=s3cret">All jobs' in text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"tenant": "x"}', 422, "unknown key 'tenant' in the body; GET {} takes no body"),
        (b"[", 400, "the body is not valid JSON"),
        (b"[]", 400, "the body must be a JSON object"),
    ],
)
@pytest.mark.parametrize("page", ["dashboard", "job", "signed"])
def test_a_page_refuses_a_body_as_every_get_does(
    mock: Mock, page: str, body: bytes, status: int, message: str
) -> None:
    job = create(mock)
    _, link = signed_link(mock)
    path = {
        "dashboard": f"{ADMIN}/dashboard",
        "job": f"{ADMIN}/jobs/{job}/page",
        "signed": link,
    }[page]
    answer = mock.client.request("GET", path, content=body)
    refused(answer, status, message.format(path.split("?")[0]))
    for none in (b"", b"{}"):  # no body, as clients send it
        assert mock.client.request("GET", path, content=none).status_code == 200


def test_a_refusal_page_links_the_dashboard_with_the_token_it_was_opened_with() -> None:
    for mock in make_mock(admin_token="s3cret"):
        job = create(mock)
        blank = {"tenant": "", "token": "s3cret"}
        text = refused(
            mock.client.get(f"{ADMIN}/dashboard", params=blank),
            422,
            "'tenant' must be an API key, not blank (got '')",
        )
        assert 'href="dashboard?token=s3cret"' in text
        unknown = mock.client.get(f"{ADMIN}/jobs/{job}-x/page", params={"token": "s3cret"})
        text = refused(unknown, 404, f"no job '{job}-x'")
        assert 'href="../../dashboard?token=s3cret"' in text


@pytest.mark.parametrize("path", ["dashboard/", "jobs/", "health/", "jobs/{job}/page/"])
def test_a_trailing_slash_is_a_404_not_a_redirect(mock: Mock, path: str) -> None:
    """They answered a 307 to the path without it: the admin API has no such path."""
    target = f"{ADMIN}/" + path.format(job=create(mock))
    answer = mock.client.get(target, follow_redirects=False)
    assert (answer.status_code, answer.json()) == (
        404,
        {"error": f"no admin endpoint at {target}"},
    )


def test_a_signed_link_with_a_trailing_slash_is_no_page(mock: Mock) -> None:
    """The page there would link its documents wrongly (`../` from one level deeper)."""
    _, link = signed_link(mock)
    path, query = link.split("?")
    answer = mock.client.get(f"{path}/?{query}", follow_redirects=False)
    assert (answer.status_code, answer.json()) == (404, {"error": f"no admin endpoint at {path}/"})
