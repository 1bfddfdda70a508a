"""Blog posts and social posts: integer ids per project, as the docs and the SDK's types say.

A manual blog post exists from its create request on. A blog post a job generates is written
when the job has completed, as the pipeline publishes it at its end: it gets its id and its
slug the first time anything reads the completed job (its status, its stream, a webhook
event) or the key's posts, so posts are numbered in the order they were written, and a job
that failed or was cancelled leaves no post and no gap. A social post is registered when its
job is created (its `result` names it from the start) and can be read once the job ended
(`published` or `failed`); a manual social post is a draft from its create request on.

A post's languages beyond its own are the translations written to it (`PUT
.../translations/{lang}`) and those its `translation.batch` jobs landed, the later one of a
language winning: the jobs are read when the post is, as their languages land on the clock.

Posts are the key's content, not jobs: a post stays when the store evicts the jobs that wrote
or translated it (`store_capacity` evicts ended jobs). What such a job leaves is noted in the
post once known for good (`settled`): the languages it lands, with their times; a generated
social post's ending likewise. A registry of each kind holds at most `store_capacity` records,
all keys together; past it the oldest go, but for a tag a kept post carries: it keeps its one
id while the post does (the posts bound the tags they carry, at most 50 each).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from mockserver.apis.neuraldraft.models import (
    PARAGRAPH_CHARS,
    SUMMARY_CHARS,
    TITLE_CHARS,
    clipped,
    slugify,
    title_of,
)
from mockserver.engine.clock import isoformat
from mockserver.stores import StateStore, key, recurring_key, subkey
from mockserver.stores.codec import storable

T = TypeVar("T")


class Fields:
    """A dataclass kept in a store as its fields, in order (all of them JSON data)."""

    __slots__ = ()

    def to_state(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]  # type: ignore[arg-type]

    @classmethod
    def from_state(cls, data: list[Any]) -> Any:
        return cls(*data)


@storable
@dataclass(slots=True)
class BlogPost(Fields):
    id: int
    slug: str
    title: str
    status: str  # draft, published, scheduled
    created_at: float
    content: str | None = None
    excerpt: str | None = None
    language_code: str = "en"
    tags: list[Tag] = field(default_factory=list)
    meta_title: str | None = None
    meta_description: str | None = None
    featured_image: str | None = None
    job_id: str | None = None  # written by this job: readable once it completed
    # lang -> [title, excerpt, content, meta_title, meta_description, written at]
    translations: dict[str, list[Any]] = field(default_factory=dict)
    translated_by: list[str] = field(default_factory=list)  # its translation.batch jobs
    # job -> the languages it lands and when, known for good: read once the job is evicted
    settled: dict[str, dict[str, float]] = field(default_factory=dict)

    state_tag: ClassVar[str] = "blog_post"

    @classmethod
    def generated(
        cls,
        number: int,
        slug: str,
        topic: str,
        at: float,
        job_id: str,
        languages: dict[str, float] | None = None,
    ) -> BlogPost:
        """The post a `blog_post.generate` job about `topic` writes at `at`: published, as its
        pipeline ends with "publish"; `languages`: those the job landed with it, and when."""
        title, summary = title_of(topic), clipped(topic, SUMMARY_CHARS)
        return cls(
            number,
            slug,
            title,
            "published",
            at,
            content=CONTENT.format(title=title, text=clipped(topic, PARAGRAPH_CHARS)),
            excerpt=summary,
            meta_title=title,
            meta_description=summary,
            job_id=job_id,
            settled={job_id: languages} if languages else {},
        )

    def translating(self) -> list[str]:
        """The jobs that may have translated the post: the one that wrote it, then its
        translation jobs."""
        return [*([self.job_id] if self.job_id is not None else []), *self.translated_by]

    def translated_by_job(self, job_id: str) -> BlogPost:
        """The post with `job_id` among its translation jobs, the last `TRANSLATION_JOBS_KEPT`
        of them kept: the languages of older ones are forgotten, what they settled too."""
        jobs = [*self.translated_by, job_id][-TRANSLATION_JOBS_KEPT:]
        kept = {self.job_id, *jobs}
        settled = {j: languages for j, languages in self.settled.items() if j in kept}
        return replace(self, translated_by=jobs, settled=settled)

    def settle(self, job_id: str, languages: dict[str, float]) -> BlogPost:
        """The post with the languages `job_id` lands in it, and when, known for good (it
        ended, or its plan runs to its end by itself); nothing for a job it no longer keeps."""
        if job_id not in self.translating():
            return self
        return replace(self, settled={**self.settled, job_id: languages})

    def own_translation(self) -> dict[str, Any]:
        """The post's texts in its own language, as a `translations[]` item."""
        return {
            "lang": self.language_code,
            "title": self.title,
            "excerpt": self.excerpt,
            "content": self.content or "",
            "meta_title": self.meta_title,
            "meta_description": self.meta_description,
        }

    def translation_list(self, landed: dict[str, float]) -> list[dict[str, Any]]:
        """Its own language first, then the others by code: each written one, or the machine
        translation of a language a job landed (`landed`: lang -> when) if that came later."""
        found = {
            lang: dict(zip(TRANSLATION_FIELDS, texts[:-1], strict=True))
            for lang, texts in self.translations.items()
            if landed.get(lang, -1.0) <= texts[-1]
        }
        for lang in landed:
            if lang not in found and lang != self.language_code:
                found[lang] = self.machine_translation(lang)
        return [self.own_translation(), *(found[lang] | {"lang": lang} for lang in sorted(found))]

    def machine_translation(self, lang: str) -> dict[str, Any]:
        """What a translation job writes for `lang`: the texts marked with the language, each
        quoted up to its bound (`QUOTED`), so that a long manual post's translations, one per
        language landed, stay small (a generated post's texts are quoted whole)."""
        tag, own = f"[{lang}] ", self.own_translation()
        return {"lang": lang} | {
            name: None if own[name] is None else tag + clipped(own[name], QUOTED[name])
            for name in TRANSLATION_FIELDS
        }

    def as_dict(self, at: float, landed: dict[str, float] | None = None) -> dict[str, Any]:
        """The post as the SDK's `BlogPost` type reads it; `at`: when it was last written,
        `landed`: the languages its translation jobs landed, and when."""
        published = isoformat(at) if self.status == "published" else None
        return {
            "id": self.id,
            "slug": self.slug,
            "status": self.status,
            "featured_image": self.featured_image,
            "published_at": published,
            "scheduled_at": None,
            "title": self.title,
            "excerpt": self.excerpt,
            "content": self.content,
            "meta_title": self.meta_title,
            "meta_description": self.meta_description,
            "category": None,
            "tags": [tag.as_dict() for tag in self.tags],
            "translations": self.translation_list(landed or {}),
            "created_at": isoformat(at),
            "updated_at": isoformat(at),
        }


TRANSLATION_JOBS_KEPT = 32  # per post: the languages of older jobs are forgotten
EVICTION_LOOKS = 8  # records a registry looks at per add, past its capacity, at most
CONTENT = "<h1>{title}</h1>\n<p>{text}</p>"  # a generated post's body: headline, topic
# the most characters of each text a machine translation quotes: a generated post's fit whole
QUOTED = {
    "title": TITLE_CHARS,
    "excerpt": SUMMARY_CHARS,
    "content": len(CONTENT.format(title="", text="")) + TITLE_CHARS + PARAGRAPH_CHARS,
    "meta_title": TITLE_CHARS,
    "meta_description": SUMMARY_CHARS,
}
TRANSLATION_FIELDS = tuple(QUOTED)


@storable
@dataclass(frozen=True, slots=True)
class Tag(Fields):
    """One tag of an API key, the same `id` wherever it shows (a post's `tags[]`, `GET
    /tags`): numbered among the key's tags as they are first named."""

    id: int
    name: str  # as first named
    slug: str  # what makes it one tag: see `tag_slug`
    # the newest of the key's posts carrying it (0: none yet): while that post is kept, the
    # tag is; once it is evicted, so are the older ones, and no kept post carries the tag
    carrier: int = 0

    state_tag: ClassVar[str] = "tag"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "slug": self.slug}

    def carried_by(self, post: int) -> Tag:
        """The tag carried by the post numbered `post` too."""
        return replace(self, carrier=max(self.carrier, post))


def tag_slug(name: str) -> str:
    """The slug of the tag called `name`, which is what makes it one tag: names that slug
    alike (`weekly`, `Weekly`, `weekly!`) are one tag. A name with nothing a slug can keep
    (`日本`, `!!!`) gets one from its digest, so that it stays a tag of its own."""
    digest = hashlib.sha256(name.casefold().encode()).hexdigest()[:12]
    return slugify(name, f"tag-{digest}")


@storable
@dataclass(slots=True)
class SocialPost(Fields):
    id: int
    title: str
    platforms: list[str]
    media_type: str | None
    job_id: str | None  # None: a manual post, a draft from its create on
    copy: dict[str, str] | None = None  # a manual post's per-platform copy
    created_at: float | None = None  # a manual post's create
    # a generated post's [status, when] once its job's ending is known for good (None: no
    # post to show, or not known yet): read once the job is evicted
    ended: list[Any] | None = None

    state_tag: ClassVar[str] = "social_post"

    def as_dict(self, status: str, at: float) -> dict[str, Any]:
        copy = self.copy
        if copy is None:  # generated: one line per platform
            copy = {platform: f"{self.title} #{platform}" for platform in self.platforms}
        return {
            "id": self.id,
            "title": self.title,
            "platforms": list(self.platforms),
            "status": status,
            "media_type": self.media_type,
            "content": dict(copy),
            "created_at": isoformat(at),
            "updated_at": isoformat(at),
        }


class Registry(Generic[T]):
    """Records of one kind per tenant, numbered 1, 2, 3... per tenant; the oldest of all
    tenants are forgotten past `capacity`.

    A tenant's records are a map in the state store under its key, numbered by a counter
    beside it, so workers sharing the store never give out one number twice; a server-wide
    list holds their order for the capacity. With `name_of`, each record also has a name
    unique per tenant (a post's slug), claimed atomically before the record is made and
    found in one lookup.

    A record a job writes when it completes (`write_once`) is `expect`ed from the job's
    create on: the jobs still listed are the ones whose records may be due. With
    `source_of`, which job wrote a record is let go with the record. With `kept`, a record
    it holds for one that is kept elsewhere (a tag a kept post carries) is not let go past
    the capacity: it goes to the back of the line, `EVICTION_LOOKS` records looked at per
    add at most (the registry holds more than `capacity` while they are all kept).
    """

    def __init__(
        self,
        store: StateStore,
        api: str,
        kind: str,
        capacity: int,
        name_of: Callable[[T], str] | None = None,
        source_of: Callable[[T], str | None] | None = None,
        kept: Callable[[str, T], bool] | None = None,
    ) -> None:
        self.capacity = capacity
        self._store = store
        self._name = (api, kind)
        self._name_of = name_of
        self._source_of = source_of
        self._kept = kept
        self._order = key(None, api, kind)  # [tenant, number] of every record, oldest first

    def _records(self, tenant: str) -> str:
        return recurring_key(tenant, *self._name)

    def _named(self, tenant: str, name: str) -> str:
        """`key(tenant, api, kind, "named", name)`, its recurring part made once per tenant
        (asked for up to three times per create)."""
        return subkey(recurring_key(tenant, *self._name, "named"), name)

    def add(self, tenant: str, make: Callable[[int], T]) -> T:
        """`make(id)` builds the record under the tenant's next id (its name, if any, claimed
        already with `claim`)."""
        return self._add(tenant, make)[1]

    def _add(self, tenant: str, make: Callable[[int], T]) -> tuple[int, T]:
        store = self._store
        number = store.incr(recurring_key(tenant, *self._name, "last"))
        item = make(number)
        store.put(self._records(tenant), str(number), item)
        if self._name_of is not None:
            store.set(self._named(tenant, self._name_of(item)), number)
        held = store.push(self._order, [tenant, number])
        looks = min(held - 1, EVICTION_LOOKS)  # never the record just added: not carried yet
        while held > self.capacity and looks > 0:
            looks -= 1
            oldest = store.pop(self._order)
            if oldest is None:
                break
            if self._stays(*oldest):
                store.push(self._order, oldest)
            else:
                self._forget(*oldest)
                held -= 1
        return number, item

    def _stays(self, tenant: str, number: int) -> bool:
        """Whether the record `number`, past the capacity, is kept (see `kept`)."""
        if self._kept is None:
            return False
        item = self.get(tenant, number)
        return item is not None and self._kept(tenant, item)

    def expect(self, tenant: str, source: str) -> None:
        """`source` (a job) will write a record when it completes; the oldest of a tenant's
        expected are let go past the capacity (their jobs are forgotten by then)."""
        self._store.push(self._expected(tenant), source, keep=self.capacity)

    def expected(self, tenant: str) -> list[str]:
        """The sources expected and not written yet, oldest first."""
        return self._store.items(self._expected(tenant))

    def not_expected(self, tenant: str, source: str) -> None:
        """`source` ended without writing a record (or is forgotten)."""
        self._store.remove(self._expected(tenant), source)

    def write_once(
        self, tenant: str, source: str, name: str, make: Callable[[int, str], T]
    ) -> tuple[int, str]:
        """The (id, name) of the record `source` writes: the first time, `make(id, name)`
        builds it under the tenant's next id and the first free one of `name`, `name-2`...
        Workers sharing the store that write it at once each make one; the first kept wins,
        the others are forgotten again (their ids stay unused)."""
        store, written = self._store, self._by_source(tenant, source)
        while True:
            found = store.get(written)
            if found is not None:
                number, free = found
                return number, free
            free = self.claim_free(tenant, name)
            number, _ = self._add(tenant, partial(_with_name, make, free))
            if store.add(written, [number, free]):
                self.not_expected(tenant, source)
                return number, free
            self._forget(tenant, number, source_too=False)

    def _forget(self, tenant: str, number: int, source_too: bool = True) -> None:
        """The record `number` and its name let go; `source_too`: and which source wrote it
        (not for a second copy, made by a worker that lost the race to write it)."""
        records = self._records(tenant)
        item = self._store.fetch(records, str(number))
        self._store.discard(records, str(number))
        if item is None:
            return
        if self._name_of is not None:
            self._store.delete(self._named(tenant, self._name_of(item)))
        source = self._source_of(item) if self._source_of is not None else None
        if source_too and source is not None:
            self._store.delete(self._by_source(tenant, source))

    def _expected(self, tenant: str) -> str:
        return recurring_key(tenant, *self._name, "expected")

    def _by_source(self, tenant: str, source: str) -> str:
        return subkey(recurring_key(tenant, *self._name, "by-source"), source)

    def claim_free(self, tenant: str, name: str) -> str:
        """`name`, or `name-2`, `name-3`... when a record of the tenant has it, claimed for
        the record about to be made. A few lookups, however many records the tenant has."""
        if self.claim(tenant, name):
            return name
        while True:  # past numbers taken by records that chose such a name themselves
            free = f"{name}-{self.next_suffix(tenant, name)}"
            if self.claim(tenant, free):
                return free

    def claim(self, tenant: str, name: str) -> bool:
        """Take `name` for the tenant's next record: False when a record has it (atomic: of
        two workers claiming one name, one gets it)."""
        return self._store.add(self._named(tenant, name), 0)

    def next_suffix(self, tenant: str, name: str) -> int:
        """2, 3, 4... per name: where to look for a free `name-N` once `name` is taken."""
        return self._store.incr(subkey(recurring_key(tenant, *self._name, "suffix"), name)) + 1

    def get(self, tenant: str, number: int) -> T | None:
        return self._store.fetch(self._records(tenant), str(number))

    def revise(self, tenant: str, number: int, change: Callable[[T], T]) -> T | None:
        """Record `number` replaced by `change(record)` (same id and name), unless it was
        forgotten (None then). Atomic: of two workers changing one record, neither loses
        its change; `change` may run more than once, so it has no side effects."""
        return self._store.revise(
            self._records(tenant),
            str(number),
            lambda record: None if record is None else change(record),
        )

    def put_named(self, tenant: str, name: str, make: Callable[[int, T | None], T]) -> T:
        """The record called `name` made anew: `make(id, old)` gets the record it replaces
        (kept under its id) or None (a new record, under the tenant's next id); no side
        effects, as it may run more than once."""
        while True:
            if self.claim(tenant, name):
                return self.add(tenant, lambda number: make(number, None))
            number: int = self._store.get(self._named(tenant, name)) or 0
            item = self.revise(tenant, number, partial(make, number)) if number else None
            if item is not None:
                return item
            # its record was forgotten, or never made (claimed by a worker killed before it
            # added the record: waiting for it would spin for ever): the name is free again
            self._store.delete(self._named(tenant, name))

    def forget_named(self, tenant: str, name: str) -> None:
        """The record called `name` let go, and its name free again (nothing if none has it)."""
        number = self._store.get(self._named(tenant, name))
        if number:
            self._forget(tenant, number)

    def named(self, tenant: str, name: str) -> T | None:
        """The record that has `name`, or None."""
        number = self._store.get(self._named(tenant, name))
        return self.get(tenant, number) if number else None

    def all(self, tenant: str) -> list[T]:
        """The tenant's records, oldest first."""
        found = self._store.entries(self._records(tenant))
        return [found[number] for number in sorted(found, key=int)]


def _with_name(make: Callable[[int, str], T], name: str, number: int) -> T:
    return make(number, name)
