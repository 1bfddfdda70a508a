"""API keys in the admin API and its pages: every listing shows them masked, as job views do,
and every `?tenant=` filter takes the real key (its caller knows it)."""

from __future__ import annotations

from typing import Any

from mockserver.engine.journal import mask
from tests.conftest import Mock

NA = "/neuralanalog"
ADMIN = "/__mock__"


def create(mock: Mock, key: str) -> str:
    answer = mock.client.post(
        f"{NA}/from-link",
        headers=mock.headers("neuralanalog", key),
        json={"url": "https://x/a.wav"},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["audio_id"])


def queue(mock: Mock, tenant: str | None, outcome: str = "failed") -> dict[str, Any]:
    body = {"api": "neuralanalog", "outcome": outcome, "count": 2}
    answer = mock.client.post(f"{ADMIN}/scenarios", json=body | {"tenant": tenant})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def stall(mock: Mock, tenant: str | None) -> dict[str, Any]:
    """A rule that fires on the tenant's creates (and leaves their jobs running)."""
    answer = mock.client.post(
        f"{ADMIN}/faults", json={"fault": "stall", "api": "neuralanalog", "tenant": tenant}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_no_admin_listing_or_page_shows_a_key_in_full(mock: Mock) -> None:
    key = f"sk-live-{mock.key}-0123456789abcdef"
    shown = mask(key)
    assert shown is not None and key not in shown
    echoes = [queue(mock, key), stall(mock, key)]
    job = create(mock, key)  # the rule fires: the job takes a queued scenario, and stalls
    mock.client.get(f"{NA}/status/audio/{job}", headers=mock.headers("neuralanalog", key))

    scenarios = mock.client.get(f"{ADMIN}/scenarios").json()
    assert [q["tenant"] for q in scenarios["queued"]] == [shown]
    assert [q["tenant"] for q in echoes[0]["queued"]] == [shown, shown]
    [rule] = mock.client.get(f"{ADMIN}/faults").json()["faults"]
    assert (rule["tenant"], rule["fired"]) == (shown, {shown: 1})
    assert [r["tenant"] for r in echoes[1]["faults"]] == [shown]

    answers = [
        mock.client.get(f"{ADMIN}/{path}")
        for path in (
            "scenarios",
            "faults",
            "jobs",
            f"jobs/{job}",
            f"jobs/{job}/page",
            "journal",
            "violations",
            "dashboard",
            f"dashboard?tenant={key}",
        )
    ]
    assert all(answer.status_code == 200 for answer in answers)
    texts = [str(echo) for echo in echoes] + [answer.text for answer in answers]
    assert [text for text in texts if key in text] == []
    dashboard = answers[-1].text
    assert shown in dashboard  # its job and its request, masked


def test_keys_masked_alike_share_a_fault_count(mock: Mock) -> None:
    stall(mock, None)
    for key in ("ab", "cd"):
        create(mock, key)
    [rule] = mock.client.get(f"{ADMIN}/faults").json()["faults"]
    assert rule["fired"] == {"**": 2}


def test_tenant_filters_take_the_full_key(mock: Mock) -> None:
    mine, other = f"sk-mine-{mock.key}-0001", f"sk-other-{mock.key}-0002"
    queue(mock, mine)
    queue(mock, other)
    queue(mock, None, "stalled")
    stall(mock, mine)
    stall(mock, other)
    job = create(mock, mine)
    create(mock, other)

    listed = mock.client.get(f"{ADMIN}/scenarios", params={"tenant": mine}).json()["queued"]
    assert [(q["tenant"], q["scenario"]) for q in listed] == [(mask(mine), "failed")]
    rules = mock.client.get(f"{ADMIN}/faults", params={"tenant": mine}).json()["faults"]
    assert [(r["tenant"], r["fired"]) for r in rules] == [(mask(mine), {mask(mine): 1})]
    jobs = mock.client.get(f"{ADMIN}/jobs", params={"tenant": mine}).json()["jobs"]
    assert [(j["id"], j["tenant"]) for j in jobs] == [(job, mask(mine))]
    entries = mock.client.get(f"{ADMIN}/journal", params={"tenant": mine}).json()["entries"]
    assert {e["tenant"] for e in entries} == {mask(mine)}
    page = mock.client.get(f"{ADMIN}/dashboard", params={"tenant": mine}).text
    assert mask(mine) in page and mask(other) not in page

    for path in ("scenarios", "faults", "jobs"):  # the masked form names no key: no request
        by_mask = mock.client.get(f"{ADMIN}/{path}", params={"tenant": mask(mine)})  # sends '…'
        assert by_mask.status_code == 422, path
        assert "a header is read as Latin-1 bytes, which have no '…'" in by_mask.json()["error"]

    assert mock.client.delete(f"{ADMIN}/journal", params={"tenant": mine}).status_code == 200
    assert mock.client.get(f"{ADMIN}/journal", params={"tenant": mine}).json()["entries"] == []
    assert mock.client.get(f"{ADMIN}/journal", params={"tenant": other}).json()["entries"]
