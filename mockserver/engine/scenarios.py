"""Scenarios: which outcome a new job is given, and how that choice is made.

A scenario is named by the API's own terminal status word, case-insensitive (`completed`,
`failed`, `ERROR`, `partial`, `cancelled`...) or by `stalled` (never finishes), with options
after `;`: `failed; after=30; message=Disk full`. Precedence, first match wins: the request's
`X-Mock-Scenario` header, the queue filled through the admin or Python API (for this tenant,
then for any tenant), the scenario bound to the API key (for the APIs that know its word and
options), a magic input, the default profile. The request being handled is shown the scenario
its create takes (`watching`): the fault middleware fires then what depends on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from random import Random
from typing import Any, ClassVar

from mockserver.errors import repeated, shown_value
from mockserver.stores import MemoryStore, StateStore, key, lasting_key, view
from mockserver.stores.codec import storable

HEADER = "x-mock-scenario"
HEADER_KEY = HEADER.encode()  # as ASGI spells a header name: lower-case bytes
STALLED = "stalled"
MAGIC = re.compile(r"mock-([a-z_]+)", re.IGNORECASE)


def magic_markers(text: str | None) -> list[re.Match[str]]:
    """The `mock-<word>` markers in `text`. Most texts have none: a case-blind look for
    "mock-" rules them out before the (slower, case-blind) pattern runs."""
    if not text or "mock-" not in text.lower():
        return []
    return list(MAGIC.finditer(text))


# the largest number `after=` may hold: ten years of seconds, longer than any test waits
# and small enough for every timestamp to print
MAX_OPTION = 315_360_000.0
MAX_QUEUED = 10_000
NUMERIC_OPTIONS = ("after",)  # an API's own numeric options (`failing=`) it checks itself
SHARED_OPTIONS = ("after", "message", "mode")  # what every API's scenarios may say
# what a scenario's options may say about its fault (`mockserver.faults`)
FAULT_OPTIONS = ("fault", "operation", "times", "rate", "retry_after", "delay", "seed", "payload")
POLL_MODE = "poll"  # `mode=poll`: one phase per status read
MAX_SCENARIO_TEXT = 4096  # characters of a scenario, options included (a `message=` fits)


class ScenarioError(ValueError):
    """A scenario text that cannot be understood; the message says why."""


@storable
@dataclass(frozen=True)
class Scenario:
    outcome: str  # lower-cased terminal word, or "stalled"
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "default"  # header, queue, key, magic, default

    state_tag: ClassVar[str] = "scenario"

    def to_state(self) -> list[Any]:
        return [self.outcome, self.options, self.source]

    @classmethod
    def from_state(cls, data: list[Any]) -> Scenario:
        return cls(*data)

    @classmethod
    def parse(cls, text: str, source: str = "header") -> Scenario:
        _check_length(text)
        name, *pairs = [part.strip() for part in text.split(";")]
        if not name:
            raise ScenarioError("a scenario needs an outcome name, e.g. 'failed; after=30'")
        options: dict[str, Any] = {}
        for pair in filter(None, pairs):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ScenarioError(
                    f"scenario option {shown_value(pair)} is not of the form name=value"
                )
            _add_option(options, key.strip().lower(), value.strip())
        return cls(name.lower(), options, source)

    @classmethod
    def parse_with(cls, text: str, source: str, options: Mapping[str, Any]) -> Scenario:
        """`text` parsed, with `options` (given as keyword arguments or JSON fields, any case,
        any type) added to its own, none named twice: how the admin API, the fixtures and a
        forced end take an outcome and its options."""
        parsed = cls.parse(text, source)
        merged = dict(parsed.options)
        for name, value in options.items():
            _add_option(merged, name.lower(), _option_text(name, value))
        scenario = cls(parsed.outcome, merged, source)
        _check_length(scenario.describe())
        return scenario.check()

    def number(self, name: str, default: float | None = None) -> float | None:
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            value = option_float(raw)
        except (TypeError, ValueError):
            raise ScenarioError(
                f"scenario option {name}={shown_value(raw)} is not a number"
            ) from None
        if not math.isfinite(value) or not 0 <= value <= MAX_OPTION:
            raise ScenarioError(
                f"scenario option {name}={shown_value(raw)} must be a number from 0 to "
                f"{MAX_OPTION:.0f}"
            )
        return value

    def check(self) -> Scenario:
        """Refuse now (ScenarioError) the numeric options a job would trip over later."""
        for name in NUMERIC_OPTIONS:
            self.number(name)
        return self

    def check_options(self, known: Iterable[str], api: str) -> None:
        """Refuse (ScenarioError) an option `api` does not know, a fault option without
        `fault=`, a `mode` other than poll, and `after=` with it: a typo (`afer=30`), a
        `times=2` with no fault to repeat or seconds per poll would otherwise be ignored, for
        no reason the test could see."""
        if not self.options:
            return
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise ScenarioError(
                f"unknown scenario option {shown_value(unknown[0])} for {api}; known: "
                + ", ".join(sorted(known))
            )
        if "fault" not in self.options:
            orphan = next((name for name in FAULT_OPTIONS if name in self.options), None)
            if orphan is not None:
                raise ScenarioError(
                    f"scenario option {orphan}= describes a fault, and none is named: add "
                    f"fault= (e.g. 'completed; fault=503; {orphan}=...') or leave it out"
                )
        mode = self.options.get("mode")
        if mode is not None and str(mode).lower() != POLL_MODE:
            raise ScenarioError(
                f"scenario option mode={shown_value(mode)} is not known; the one mode is "
                f"{POLL_MODE} (one phase per status read)"
            )
        if mode is not None and "after" in self.options:  # seconds have no say per poll
            raise ScenarioError(
                f"scenario options after= and mode={POLL_MODE} conflict: a job in {POLL_MODE} "
                "mode moves on per status read, not per second; give one of them"
            )

    @property
    def per_poll(self) -> bool:
        return str(self.options.get("mode", "")).lower() == POLL_MODE

    def describe(self) -> str:
        if not self.options:  # most jobs': every create describes its scenario
            return self.outcome
        return self.outcome + "".join(f"; {key}={value}" for key, value in self.options.items())


@dataclass(frozen=True, slots=True)
class Taken:
    """A scenario a create took from a queue (`tenant` None: the queue for any key)."""

    api: str
    tenant: str | None
    scenario: Scenario


@dataclass
class Profile:
    """The default for jobs no scenario names: speed and a seeded failure rate."""

    duration_scale: float = 1.0
    failure_rate: float = 0.0


class ScenarioBook:
    """Queued and key-bound scenarios, and the precedence that picks one for a new job.

    The queues live in the store (one per API and tenant, and one per API for any tenant): a
    pop is atomic, so of several workers sharing a store exactly one job gets each scenario.
    """

    def __init__(
        self,
        key_bindings: dict[str, str] | None = None,
        profile: Profile | None = None,
        limit: int = MAX_QUEUED,
        store: StateStore | None = None,
    ):
        self.limit = limit  # scenarios queued at once, every API and tenant together
        self._store = store or MemoryStore()
        self.key_bindings = {
            key: Scenario.parse(text, "key") for key, text in (key_bindings or {}).items()
        }
        self.profile = profile or Profile()
        # set for good once any scenario carries a `fault=` option (jobs keep their scenario):
        # until then the fault machinery need not look at scenarios at all. On a shared store
        # the mark is kept there too, for every process to read (`FAULTS_NAMED`)
        self._faults_named = False
        if any("fault" in s.options for s in self.key_bindings.values()):
            self.note_fault()

    @property
    def faults_named(self) -> bool:
        """Whether any scenario of any process named a fault (read once per request)."""
        if self._faults_named or not self._store.shared:
            return self._faults_named
        return bool(view.held(self._store, FAULTS_NAMED))

    def note_fault(self) -> None:
        self._faults_named = True
        if self._store.shared:
            self._store.set(FAULTS_NAMED, True)
            view.wrote(self._store, FAULTS_NAMED, True)

    def queue(
        self, api: str, scenario: Scenario, tenant: str | None = None, count: int = 1
    ) -> None:
        """Raises ScenarioError when the queue would hold more than `limit` scenarios."""
        store = self._store
        held = store.incr(_COUNT, count) if count >= 1 else None
        if held is None or held > self.limit:
            before = store.incr(_COUNT, -count) if held is not None else store.incr(_COUNT, 0)
            start = (
                "the scenario queue is full"
                if before >= self.limit
                else f"'count' must be from 1 to {self.limit - before}"
            )
            raise ScenarioError(
                f"{start}: it holds {before} of at most {self.limit} scenarios "
                "(max_queued_scenarios)"
            )
        store.put(_QUEUES, _queue_key(api, tenant), [api, tenant])
        store.push(_queue_key(api, tenant), *[scenario] * count)
        if "fault" in scenario.options:
            self.note_fault()

    def queued(self) -> list[dict[str, Any]]:
        return [
            {"api": api, "tenant": tenant, "scenario": s.describe()}
            for api, tenant in self._store.entries(_QUEUES).values()
            for name in _lists(api, tenant)
            for s in self._store.items(name)
        ]

    def clear(self) -> None:
        held = self._store.entries(_QUEUES).values()
        lists = [name for api, tenant in held for name in _lists(api, tenant)]
        self._store.delete(*lists, _QUEUES, _COUNT)

    def bound(
        self, tenant: str, known: Collection[str], options: Collection[str] | None = None
    ) -> Scenario | None:
        """The scenario bound to the key `tenant`, for an API whose scenario words are `known`
        and whose scenario options are `options` (None: any): a key may call every API, and
        a scenario that names another API's word (camb's `ERROR`) or option (Neural Draft's
        `code=`) is not for this one, whose jobs take theirs as if the key had none."""
        scenario = self.key_bindings.get(tenant)
        return scenario if scenario is not None and applies(scenario, known, options) else None

    def _pop(
        self, api: str, tenant: str, takes: Callable[[Scenario], bool] | None = None
    ) -> Taken | None:
        if not self._store.incr(_COUNT, 0):  # nothing queued anywhere: the usual case
            return None
        for owner in (tenant, None):
            lists = _lists(api, owner)
            scenario = self._pop_any(lists) if takes is None else self._pop_taken(lists, takes)
            if scenario is not None:
                self._store.incr(_COUNT, -1)
                return Taken(api, owner, scenario)
        return None

    def _pop_any(self, lists: tuple[str, str]) -> Scenario | None:
        """The head of the queue whose `lists` these are, taken whatever it is."""
        for name in lists:
            scenario = self._store.pop(name)
            if scenario is not None:
                return scenario
        return None

    def _pop_taken(
        self, lists: tuple[str, str], takes: Callable[[Scenario], bool]
    ) -> Scenario | None:
        """The head of the queue, taken only if `takes` it (else it waits for a create it
        applies to). Judged, then popped only if still the head: another worker may take it
        between the two, and the next head is judged in turn."""
        while True:
            heads = zip(lists, self._store.heads(lists), strict=True)
            found = next(((name, head) for name, head in heads if head is not None), None)
            if found is None or not takes(found[1]):
                return None
            if self._store.pop_if(*found):
                return found[1]

    def give_back(self, taken: Taken) -> None:
        """Put a queued scenario back at the head of its queue: the create that took it
        stored nothing, so it did not use it up. A queue cleared since (a reset) stays clear."""
        if self._store.fetch(_QUEUES, _queue_key(taken.api, taken.tenant)) is None:
            return
        self._store.incr(_COUNT, 1)  # counted first: a pop never finds more than is counted
        self._store.push(_given_back_key(taken.api, taken.tenant), taken.scenario)

    def choose(
        self,
        api: str,
        tenant: str,
        header: str | None,
        magic_inputs: Iterable[str | None],
        draw: Callable[[], Random],
        words: tuple[str, str],
        known: Collection[str],
        takes: Callable[[Scenario], bool] | None = None,
        taken: list[Taken] | None = None,
        options: Collection[str] | None = None,
    ) -> Scenario:
        """Pick the scenario of a new job; `words` are the API's (success, failure) outcomes,
        `draw` gives the generator of a default-profile outcome (called only when one is due:
        seeding it is a measurable share of a create). The first magic marker naming a word
        the API `known`s counts: `mock-ups` in a link is text. `takes` says whether a queued
        scenario applies to this create (a word for some creates only): a queue whose head
        does not is passed over, its head left for the next create it applies to (also when
        workers race for one queue: a head is taken only while it is the one judged). A
        scenario taken from a queue is noted in `taken`, to `give_back` if the create fails.
        The key's scenario counts where the API knows its word and its `options` (`bound`).
        The request's `watching` watcher is then shown the scenario.

        Raises ScenarioError for a header that cannot be parsed. `header` is as Starlette
        reads one, its bytes as Latin-1: they are read again as the UTF-8 clients send.
        """
        if header:
            scenario = Scenario.parse(header_text(header.encode("latin-1")), "header")
        else:
            queued = self._pop(api, tenant, takes)
            if queued is not None and taken is not None:
                taken.append(queued)
            scenario = (
                queued.scenario
                if queued is not None
                else self._unqueued(tenant, magic_inputs, draw, words, known, options)
            )
        watcher = _watcher.get()
        if watcher is not None:
            watcher(scenario)
        return scenario

    def _unqueued(
        self,
        tenant: str,
        magic_inputs: Iterable[str | None],
        draw: Callable[[], Random],
        words: tuple[str, str],
        known: Collection[str],
        options: Collection[str] | None,
    ) -> Scenario:
        """The scenario of a new job nothing names nor queues: the key's, a magic input's or
        the default profile's (see `choose`)."""
        bound = self.bound(tenant, known, options)
        if bound is not None:
            return bound
        for text in magic_inputs:
            for match in magic_markers(text):
                word = match.group(1).lower()
                if word in known:
                    return Scenario(word, {}, "magic")
        failed = self.profile.failure_rate > 0 and draw().random() < self.profile.failure_rate
        return _default(words[1] if failed else words[0])


@contextmanager
def watching(watcher: Callable[[Scenario], None]) -> Iterator[None]:
    """A block (the rest of a request) in which `watcher` is shown each scenario a create
    takes (`ScenarioBook.choose`), before the create goes on with it: the fault middleware
    fires then what depends on that scenario. It may raise to refuse the create, which then
    gives a queued scenario back. Only a create takes one: an Idempotency-Key's replay,
    answered with the first answer, shows none."""
    token = _watcher.set(watcher)
    try:
        yield
    finally:
        _watcher.reset(token)


# how a refusal names where its scenario came from, by `Scenario.source` (a header's is
# `X-Mock-Scenario`): the client did not send the scenario it is refused for
ORIGINS = {"queue": "queued scenario", "key": "scenario bound to this API key in the config"}


def applies(
    scenario: Scenario, known: Collection[str], options: Collection[str] | None = None
) -> bool:
    """Whether a key's bound `scenario` is for an API whose scenario words are `known` and
    whose options are `options` (None: any): its word and every option are the API's."""
    return scenario.outcome in known and (options is None or set(scenario.options) <= set(options))


def origin(scenario: Scenario | None) -> str:
    """Where `scenario` came from, as the 400 refusing it says (None: a header that did not
    parse)."""
    if scenario is None or scenario.source == "header":
        return "X-Mock-Scenario"
    if scenario.source == "magic":
        return f"magic input mock-{scenario.outcome}"
    where = ORIGINS.get(scenario.source, f"{scenario.source} scenario")
    return f"{where} {shown_value(scenario.describe())}"


def refusal(error: ScenarioError, scenario: Scenario | None) -> str:
    """The words of a 400 refusing `scenario` (None: the header) for `error`."""
    return f"{origin(scenario)}: {error}"


def header_once(values: Sequence[bytes]) -> str:
    """The scenario the `X-Mock-Scenario` header names (or the one value of another header
    meant once, as `Idempotency-Key`), refused (ScenarioError) when the header is sent more
    than once: one value used and the others dropped would change the job with no word about
    them, as an option given twice would."""
    if len(values) > 1:
        texts = [value.decode("utf-8", "replace") for value in values]
        raise ScenarioError(f"the header is given {repeated(texts)}: give it once")
    return header_text(values[0]) if values else ""


def option_float(raw: Any) -> float:
    """`float(raw)` for an option's value, refused (ValueError) for text past ASCII: float()
    reads '٥' as 5, which no client writes meaning a number."""
    if isinstance(raw, str) and not raw.isascii():
        raise ValueError(raw)
    return float(raw)


def header_text(raw: bytes) -> str:
    """The header's text as the client wrote it: its bytes as UTF-8, what curl sends past
    ASCII (read as Latin-1, byte by byte, `message=日本` reached the job garbled); bytes that
    are not UTF-8 as Latin-1, what requests sends (`café` as one byte for `é`). Latin-1 text
    that is also UTF-8 takes pairs such as `Ã©`, which no client means."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _add_option(options: dict[str, Any], name: str, value: str) -> None:
    """`options[name] = value`, refused when `name` is given already (the last one winning
    would change the job with no word about the first: `after=5; after=600`) and for a blank
    `message=`: the API's own would stand in for the text the test meant its client to read,
    as a forced end's blank `message` is refused too."""
    if name in options:
        raise ScenarioError(
            f"scenario option {name}= is given twice ({name}={shown_value(options[name])} and "
            f"{name}={shown_value(value)}): give it once"
        )
    if name == "message" and not value.strip():
        raise ScenarioError(
            "scenario option message= must be the text a client reads, not blank; leave it "
            "out for the API's own"
        )
    options[name] = value


def _option_text(name: str, value: Any) -> str:
    """An option given as a JSON field or keyword, as its scenario text will say it: a string
    or a number (not `null`, `true` or an object, which read back as Python's words), without
    `;`, which would end it and start another option (`message=Disk full; fault=503`)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        shown = "null" if value is None else type(value).__name__
        raise ScenarioError(
            f"scenario option {shown_value(name)} must be a string or a number, not {shown}"
        )
    text = str(value)
    if ";" in text:
        raise ScenarioError(
            f"scenario option {shown_value(name)} cannot hold ';': it separates a scenario's "
            "options"
        )
    return text


def _check_length(text: str) -> None:
    """A scenario is written into every job that takes it: its text is bounded (httptools
    takes a header of any length)."""
    if len(text) > MAX_SCENARIO_TEXT:
        raise ScenarioError(
            f"a scenario is at most {MAX_SCENARIO_TEXT} characters, options included (this "
            f"one has {len(text)})"
        )


@lru_cache(maxsize=64)
def _default(outcome: str) -> Scenario:
    """The default scenario of an outcome: one value, shared (scenarios are frozen, their
    options never changed), as most jobs take it."""
    return Scenario(outcome, {}, "default")


def _queue_key(api: str, tenant: str | None) -> str:
    return key(tenant, "queue", api)


def _given_back_key(api: str, tenant: str | None) -> str:
    """Scenarios given back to a queue: taken before the rest of it (a store's list takes
    no value at its head)."""
    return key(tenant, "queue-back", api)


def _lists(api: str, tenant: str | None) -> tuple[str, str]:
    """The lists of one queue, in the order they are taken from."""
    return _given_back_key(api, tenant), _queue_key(api, tenant)


# set once a scenario of any process named a fault: status answers may then fault, and
# the processes sharing the store stop keeping them (a reset keeps it, as each process does)
FAULTS_NAMED = lasting_key(None, "faults-named")
_COUNT = key(None, "queued")  # scenarios queued, all queues together: bounded by `limit`
_QUEUES = key(None, "queues")  # the queues that ever held one, to list them
# the request's watcher of the scenarios its creates take (`watching`)
_watcher: ContextVar[Callable[[Scenario], None] | None] = ContextVar("watcher", default=None)
