"""The engine on its own: clocks, plans, scenarios and the default profile."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from random import Random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.engine import clock as clock_module
from mockserver.engine.clock import ManualClock, SystemClock, isoformat, parse_time
from mockserver.engine.plan import Outcome, stretch
from mockserver.engine.scenarios import (
    Profile,
    Scenario,
    ScenarioBook,
    ScenarioError,
    Taken,
    refusal,
)
from mockserver.stores import open_store
from mockserver.virtualtime import MAX_BUDGET, REAL, VirtualTime, patched
from tests.conftest import Mock, make_mock


def test_system_clock_runs_time_scale_times_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [1000.0]
    monkeypatch.setattr(clock_module, "wall_time", lambda: wall[0])
    clock = SystemClock(scale=60)
    start = clock.now()
    wall[0] += 2  # two real seconds
    assert clock.now() == start + 120
    clock.advance(30)
    assert clock.now() == start + 150
    with pytest.raises(ValueError):
        SystemClock(scale=0)


def test_a_running_clock_stops_where_the_clock_may_be(monkeypatch: pytest.MonkeyPatch) -> None:
    """At a scale of a million the clock ran past 9999, and every timestamp was a 500."""
    wall = [1000.0]
    monkeypatch.setattr(clock_module, "wall_time", lambda: wall[0])
    clock = SystemClock(scale=1_000_000)
    clock.set(clock_module.LATEST - 10)
    wall[0] += 3600
    assert clock.now() == clock_module.LATEST
    assert isoformat(clock.now()) == "9000-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="from 1970-01-01 to 9000-01-01"):
        ManualClock().set(clock_module.LATEST + 1)


def test_what_jobs_schedule_after_the_latest_time_still_prints(mock: Mock) -> None:
    """A webhook retry hours after the clock's last instant fell in year 10000: a 500."""
    mock.state.clock.set(clock_module.LATEST - 60)
    nd, headers = "/neuraldraft/v1", mock.headers("neuraldraft")
    hooked = {"url": "http://127.0.0.1:1/hooks", "events": ["image.generated"]}
    assert mock.client.post(f"{nd}/webhook-endpoints", headers=headers, json=hooked).is_success
    scenario = {"X-Mock-Scenario": "completed; after=1"}
    image = mock.client.post(f"{nd}/images", headers={**headers, **scenario}, json={"prompt": "x"})
    assert image.status_code == 202, image.text
    mock.advance(60)
    deliveries = mock.client.get(f"{nd}/webhook-deliveries", headers=headers)
    assert deliveries.status_code == 200, deliveries.text
    assert [d["next_retry_at"][:4] for d in deliveries.json()["data"]] == ["9000"]
    with pytest.raises(ValueError):
        mock.advance(1)  # the clock's last instant


def test_manual_clock_moves_only_when_told_and_tells_listeners() -> None:
    clock = ManualClock()
    moves: list[float] = []
    stop = clock.on_change(lambda: moves.append(clock.now()))
    assert clock.now() == ManualClock.DEFAULT_START
    clock.advance(5)
    clock.set(parse_time("2026-02-01T00:00:00Z"))
    stop()
    clock.advance(1)
    assert moves == [ManualClock.DEFAULT_START + 5, parse_time("2026-02-01T00:00:00Z")]
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert isoformat(clock.now()) == "2026-02-01T00:00:01Z"


def test_plan_status_is_a_function_of_position() -> None:
    plan = stretch([("queued", 1, "wait"), ("running", 3, "work")], 40, Outcome("done"), False)
    assert [p.duration for p in plan.phases] == [10, 30]
    assert plan.at(0).state == "queued"
    assert plan.at(10).detail == "work"
    assert plan.at(25).fraction == pytest.approx(25 / 40)
    final = plan.at(40)
    assert final.terminal and final.state == "done" and final.phase_started == 40
    cut = plan.cut(15, Outcome("cancelled"))
    assert [p.duration for p in cut.phases] == [10, 5]
    assert cut.at(15).state == "cancelled" and cut.at(12).state == "running"


def test_stalled_and_per_poll_plans() -> None:
    stalled = stretch([("running", 1, "")], 10, None, False)
    assert not stalled.at(10**9).terminal
    per_poll = stretch([("a", 5, ""), ("b", 1, "")], 999, Outcome("done"), True)
    assert [p.duration for p in per_poll.phases] == [1, 1]
    assert per_poll.at(2).terminal


def test_a_stall_cut_past_its_nominal_length_ends_where_it_was_cut() -> None:
    """A stall's last phase lasts until something ends it: cut at 300 of a nominal 40, the
    job ended at 300 (it was dated back to 40, its last step shown finished before then)."""
    stalled = stretch([("queued", 1, "wait"), ("running", 3, "work")], 40, None, False)
    cut = stalled.cut(300, Outcome("cancelled"))
    assert [p.duration for p in cut.phases] == [10, 290] and cut.length == 300
    assert cut.at(299).state == "running" and cut.at(300).state == "cancelled"
    early = stalled.cut(5, Outcome("cancelled"))
    assert [p.duration for p in early.phases] == [5] and early.at(5).terminal


def test_scenario_text_is_parsed_with_its_options() -> None:
    scenario = Scenario.parse("FAILED; after=30; message=Disk full")
    assert scenario.outcome == "failed"
    assert scenario.options == {"after": "30", "message": "Disk full"}
    assert scenario.number("after") == 30
    assert scenario.describe() == "failed; after=30; message=Disk full"
    for bad in ("", "failed; after", "failed; after=soon"):
        with pytest.raises(ScenarioError):
            Scenario.parse(bad).number("after")


def test_a_scenario_option_nobody_knows_is_refused_naming_those_known() -> None:
    """A misspelt option (`afer=30`) was ignored: the job ended at its usual time."""
    known = ("after", "message", "mode")
    Scenario.parse("failed; message=x; MODE=Poll").check_options(known, "api")
    with pytest.raises(ScenarioError) as unknown:
        Scenario.parse("failed; afer=30").check_options(known, "api")
    assert str(unknown.value) == (
        "unknown scenario option 'afer' for api; known: after, message, mode"
    )
    with pytest.raises(ScenarioError, match="mode='pol' is not known; the one mode is poll"):
        Scenario.parse("failed; mode=pol").check_options(known, "api")
    with pytest.raises(ScenarioError, match="options after= and mode=poll conflict"):
        Scenario.parse("failed; after=30; MODE=Poll").check_options(known, "api")


@pytest.mark.parametrize(
    "given",
    [
        lambda: Scenario.parse("completed; after=5; after=600"),
        lambda: Scenario.parse("completed; after=5; AFTER=5"),
        lambda: Scenario.parse_with("failed; message=a", "queue", {"Message": "b"}),
        lambda: Scenario.parse_with("failed", "queue", {"message": "a", "MESSAGE": "a"}),
    ],
)
def test_an_option_given_twice_is_refused_not_won_by_the_last(given: Any) -> None:
    """`after=5; after=600` planned 600 s, with no word about the 5."""
    with pytest.raises(ScenarioError, match=r"option (after|message)= is given twice"):
        given()


def test_a_fault_option_without_a_fault_is_refused() -> None:
    """`completed; times=2` repeated nothing: there is no fault to repeat."""
    known = ("after", "fault", "times", "retry_after")
    Scenario.parse("completed; fault=503; times=2").check_options(known, "api")
    for text in ("completed; times=2", "completed; retry_after=3"):
        with pytest.raises(ScenarioError, match=r"describes a fault, and none is named"):
            Scenario.parse(text).check_options(known, "api")


def test_a_key_scenario_is_for_the_apis_that_know_its_word_and_options() -> None:
    book = ScenarioBook({"k": "failed; code=x"})
    words, known = ("completed", "failed"), {"completed", "failed", "stalled"}

    def choose(options: tuple[str, ...]) -> Scenario:
        return book.choose("api", "k", None, [], Random, words, known, options=options)

    assert choose(("after", "code")).source == "key"
    assert choose(("after", "reason")).source == "default"  # another API's option
    assert book.bound("k", {"SUCCESS", "ERROR"}) is None  # another API's words
    assert book.bound("k", known) is not None  # options not asked about


def test_a_refusal_names_where_its_scenario_came_from() -> None:
    """A key's or a queued scenario was refused as `X-Mock-Scenario: ...`, a header the client
    never sent."""
    error = ScenarioError("why")
    assert refusal(error, None) == "X-Mock-Scenario: why"
    assert refusal(error, Scenario("partial", {}, "header")) == "X-Mock-Scenario: why"
    bound = Scenario("partial", {"failing": "2"}, "key")
    assert refusal(error, bound) == (
        "scenario bound to this API key in the config 'partial; failing=2': why"
    )
    assert refusal(error, Scenario("partial", {}, "queue")) == "queued scenario 'partial': why"
    assert refusal(error, Scenario("partial", {}, "magic")) == "magic input mock-partial: why"


def test_a_scenario_is_at_most_4096_characters_options_included() -> None:
    """It is written into every job that takes it, and a header may be any length."""
    message = "x" * (4096 - len("failed; message="))
    assert Scenario.parse(f"failed; message={message}").options["message"] == message
    with pytest.raises(ScenarioError, match="at most 4096 characters, options included"):
        Scenario.parse(f"failed; message={message}x")
    with pytest.raises(ScenarioError, match=r"\(this one has 4097\)"):
        Scenario.parse_with("failed", "queue", {"message": message + "x"})


def test_precedence_header_queue_key_magic_default() -> None:
    import random

    book = ScenarioBook({"bound": "failed"}, Profile())

    def rng() -> random.Random:
        return random.Random(1)

    words = ("completed", "failed")
    known = {"completed", "failed", "stalled"}
    book.queue("api", Scenario("failed", {}, "queue"), tenant="queued")
    assert book.choose("api", "queued", "completed", [], rng, words, known).source == "header"
    assert book.choose("api", "queued", None, [], rng, words, known).source == "queue"
    bound = book.choose("api", "bound", None, ["x.mock-completed.wav"], rng, words, known)
    assert bound.source == "key"
    magic = book.choose("api", "other", None, ["x.mock-completed.wav"], rng, words, known)
    assert (magic.source, magic.outcome) == ("magic", "completed")
    plain = book.choose("api", "other", None, ["plain.wav"], rng, words, known)
    assert plain.outcome == "completed"
    # a marker naming no outcome is text; the first one that names one counts
    up = book.choose(
        "api", "other", None, ["mock-up.wav", "x.mock-ups-mock-failed"], rng, words, known
    )
    assert (up.source, up.outcome) == ("magic", "failed")
    assert (
        book.choose("api", "other", None, ["mock-ups.wav"], rng, words, known).source == "default"
    )


def test_a_scenario_given_back_is_taken_first_on_every_store(store_url: str) -> None:
    """A create that took a queued scenario and failed gives it back: at the head of the
    queue it came from (the key's, or the one for any key), counted again. A reset
    meanwhile leaves the queue clear."""
    import random

    book = ScenarioBook(store=open_store(store_url))
    words, known = ("completed", "failed"), {"completed", "failed", "stalled"}

    def choose(tenant: str, taken: list[Taken] | None = None) -> Scenario:
        return book.choose("api", tenant, None, [], random.Random, words, known, None, taken)

    book.queue("api", Scenario("failed", {}, "queue"), tenant="mine")
    book.queue("api", Scenario("stalled", {}, "queue"), tenant="mine")
    book.queue("api", Scenario("failed", {"after": "5"}, "queue"))
    taken: list[Taken] = []
    assert choose("mine", taken).outcome == "failed"
    assert choose("other", taken).describe() == "failed; after=5"
    assert [t.tenant for t in taken] == ["mine", None]
    for each in taken:
        book.give_back(each)
    queued = book.queued()  # the queues in any order, each queue's scenarios in order
    assert [q["scenario"] for q in queued if q["tenant"]] == ["failed", "stalled"]
    assert [q["scenario"] for q in queued if not q["tenant"]] == ["failed; after=5"]
    assert choose("mine").outcome == "failed"
    assert choose("other").describe() == "failed; after=5"
    book.clear()
    book.give_back(taken[0])
    assert book.queued() == [] and choose("mine").source == "default"


def test_default_profile_failure_rate_is_seeded() -> None:
    def outcomes() -> list[bool]:
        for mock in make_mock(failure_rate=0.5, duration_scale=0.5):
            headers = mock.headers("neuralanalog", "profile")
            ids = [
                mock.client.post(
                    "/neuralanalog/from-link", headers=headers, json={"url": "https://x/a.wav"}
                ).json()["audio_id"]
                for _ in range(12)
            ]
            mock.advance(10)  # half the usual 20 s import
            return [
                mock.client.get(f"/neuralanalog/status/audio/{i}", headers=headers).json()[
                    "is_failed"
                ]
                for i in ids
            ]
        raise AssertionError

    first = outcomes()
    assert first == outcomes()
    assert 0 < sum(first) < 12


def test_event_loop_timers_work_inside_virtual_time() -> None:
    """Sleeps move the clock; the loop's own timers (wait_for, call_later) still fire."""
    clock = ManualClock()
    start = clock.now()

    async def flow() -> list[str]:
        seen = []
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(asyncio.Event().wait(), 0.05)
        except TimeoutError:
            seen.append("timed out")
        fired = asyncio.Event()
        loop.call_later(0.01, fired.set)
        await asyncio.wait_for(fired.wait(), 5)
        seen.append("called later")
        await asyncio.sleep(30)  # virtual: returns at once, the server clock moves 30 s
        return seen

    with VirtualTime(clock).running():
        seen = asyncio.run(flow())
    assert seen == ["timed out", "called later"]
    assert clock.now() == start + 30


@pytest.mark.parametrize(
    ("budget", "max_still"),
    [(float("nan"), 10), (float("inf"), 10), (0, 10), (MAX_BUDGET * 2, 10), (60, 0), (60, 1.5)],
)
def test_virtual_time_refuses_limits_that_never_end(budget: float, max_still: int) -> None:
    """A NaN or infinite budget never runs out: a client that never stops polling would
    hang the run. The bounds are checked where the limits are given, not at the first sleep."""
    with pytest.raises(ValueError, match="is not allowed; expected"):
        VirtualTime(ManualClock(), budget, max_still=max_still)


def test_virtual_time_takes_a_budget_written_as_text() -> None:
    assert VirtualTime(ManualClock(), "600").budget == 600.0  # type: ignore[arg-type]


def test_a_name_that_takes_a_real_function_between_blocks_is_patched_in_the_next() -> None:
    """Entering virtual time remembers where the real functions were found; a module that
    takes one later (a new import, or an existing name rebound) is still covered."""
    clock = ManualClock()
    with VirtualTime(clock).running():
        pass
    client = types.ModuleType("late_client")
    client.pause = None  # type: ignore[attr-defined]
    sys.modules[client.__name__] = client
    try:
        with VirtualTime(clock).running():
            assert client.pause is None  # type: ignore[attr-defined]
        client.pause = time.sleep  # type: ignore[attr-defined]
        with VirtualTime(clock).running() as virtual:
            client.pause(0.01)  # type: ignore[attr-defined]
        assert virtual.slept == 0.01 and client.pause is time.sleep  # type: ignore[attr-defined]
    finally:
        del sys.modules[client.__name__]


def test_a_walk_made_while_the_functions_are_replaced_still_finds_them() -> None:
    """A block opened inside another (the client check's rows inside its `patched()`) walked
    the modules again when a new one held a real function: `time.sleep`, replaced then, was
    left out of what it remembered, so later blocks slept in real time (a client-check row
    hung for 60 s in full runs, its flow in a real `time.sleep`)."""
    clock = ManualClock()
    with patched():
        late = types.ModuleType("late_importer")
        late.sleep = REAL["sleep"]  # type: ignore[attr-defined]
        sys.modules[late.__name__] = late
        try:
            with VirtualTime(clock).running():
                pass
        finally:
            del sys.modules[late.__name__]
    del late
    with VirtualTime(clock).running() as virtual:
        time.sleep(0.01)
    assert virtual.slept == 0.01


def test_system_clock_counts_every_advance_from_many_threads() -> None:
    clock = SystemClock(scale=1e-9)  # wall time adds (next to) nothing
    start = clock.now()

    def advance() -> None:
        for _ in range(2000):
            clock.advance(1.0)

    threads = [threading.Thread(target=advance) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() - start == pytest.approx(16_000, abs=0.01)


def test_new_uuid_is_the_standard_library_s_version_4_uuid_of_the_same_bits() -> None:
    import uuid
    from random import Random

    from mockserver.engine.ids import new_uuid

    ours, theirs = Random(3), Random(3)
    for _ in range(2_000):
        assert new_uuid(ours) == str(uuid.UUID(int=theirs.getrandbits(128), version=4))


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 6, 7, 12, 32])
def test_base62_writes_out_randrange_of_the_same_generator(length: int) -> None:
    from random import Random

    from mockserver.engine.ids import BASE62, base62

    ours, theirs = Random(7), Random(7)
    for _ in range(500):
        number, expected = theirs.randrange(62**length), ""
        for _ in range(length):
            number, digit = divmod(number, 62)
            expected += BASE62[digit]
        assert base62(ours, length) == expected


@pytest.mark.parametrize("salt", ["", "a-salt"])
def test_a_uuid_drawn_without_a_generator_is_the_one_the_generator_gives(salt: str) -> None:
    from mockserver.engine.ids import IdFactory, new_uuid

    fast, slow = IdFactory(11, salt), IdFactory(11, salt)
    for n in range(300):
        tenant = f"tenant-{n % 3}"
        assert fast.uuid("neuralanalog", tenant) == new_uuid(slow.rng("neuralanalog", tenant))


@pytest.mark.parametrize("length", [1, 6, 12, 32, 100])
def test_base62_drawn_without_a_generator_is_what_the_generator_gives(length: int) -> None:
    from mockserver.engine.ids import IdFactory, base62

    fast, slow = IdFactory(5, "salt"), IdFactory(5, "salt")
    for _ in range(300):
        assert fast.base62("neuraldraft", "t", length) == base62(
            slow.rng("neuraldraft", "t"), length
        )


def test_a_unit_draw_is_the_first_random_of_the_hash_generator() -> None:
    from mockserver.engine.ids import HashRandom, unit_draw

    seeds = [f"3:fault-{n % 4}:camb:k:{n}" for n in range(500)]
    draws = [unit_draw(seed) for seed in seeds]
    assert draws == [HashRandom(seed).random() for seed in seeds]
    assert all(0.0 <= draw < 1.0 for draw in draws) and len(set(draws)) == len(draws)


@pytest.mark.parametrize(
    "text",
    [
        "How to brew",
        "mock-failed",
        "a MOCK-Failed b",
        "Mock-up and mock-stalled",
        "moc\u212a-failed",
    ],
)
def test_magic_markers_are_the_patterns_matches(text: str) -> None:
    from mockserver.engine.scenarios import MAGIC, magic_markers

    expected = [m.group(0) for m in MAGIC.finditer(text)]
    assert [m.group(0) for m in magic_markers(text)] == expected


@given(
    st.lists(
        st.sampled_from(["mock-", "MoCk-", "moc\u212a-", "mo", "ck-", "failed", "_", " ", "-"])
    ).map("".join)
)
def test_magic_markers_miss_no_match_of_the_pattern(text: str) -> None:
    from mockserver.engine.scenarios import MAGIC, magic_markers

    assert [m.span() for m in magic_markers(text)] == [m.span() for m in MAGIC.finditer(text)]


def test_a_long_keys_id_counters_are_named_by_its_digest_and_still_draw_apart() -> None:
    """A reset keeps the ID counters, so each key that made a job leaves them behind: a
    4,096-character key leaves a short name, not itself, and two keys still draw apart."""
    from mockserver.engine.ids import LONGEST_COUNTED, IdFactory
    from mockserver.stores import MemoryStore

    class Counted(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.counters: set[str] = set()

        def incr(self, key: str, by: int = 1) -> int:
            self.counters.add(key)
            return super().incr(key, by)

    store = Counted()
    ids = IdFactory(3, store=store)
    short, long_a, long_b = "sk-short", "a" * 4096, "a" * 4095 + "b"
    drawn = {ids.uuid("neuralanalog", tenant) for tenant in (short, long_a, long_b)}
    assert len(drawn) == 3
    assert max(len(name) for name in store.counters) < 2 * LONGEST_COUNTED
    assert any(short in name for name in store.counters)  # a kept store's counters go on
    # the same draws again from a fresh factory on a fresh store: the digest is stable
    again = IdFactory(3, store=MemoryStore())
    assert {again.uuid("neuralanalog", t) for t in (short, long_a, long_b)} == drawn
