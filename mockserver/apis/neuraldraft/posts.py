"""Blog posts and social posts: integer ids per project, as the docs and the SDK's types say.

A manual blog post exists from its create request on. A post a job writes is registered when
the job is created (so its id can go into the job's `result`) and can be read once the job
has completed (a blog post) or ended (a social post, `published` or `failed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

from mockserver.apis.neuraldraft.models import slugify
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
    tags: list[str] = field(default_factory=list)
    meta_title: str | None = None
    meta_description: str | None = None
    featured_image: str | None = None
    job_id: str | None = None  # written by this job: readable once it completed

    state_tag: ClassVar[str] = "blog_post"

    @classmethod
    def generated(
        cls, number: int, slug: str, title: str, topic: str, content: str, at: float, job_id: str
    ) -> BlogPost:
        """The post a `blog_post.generate` job writes: published, as its pipeline ends with
        "publish". Every field given in order: half the time of naming the ones set."""
        return cls(
            number,
            slug,
            title,
            "published",
            at,  # created_at
            content,
            topic,  # excerpt
            "en",  # language_code
            [],  # tags
            title,  # meta_title
            topic,  # meta_description
            None,  # featured_image
            job_id,
        )

    def as_dict(self, at: float) -> dict[str, Any]:
        """The post as the SDK's `BlogPost` type reads it; `at`: when it was last written."""
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
            "tags": [
                {"id": index + 1, "name": name, "slug": slugify(name, f"tag-{index + 1}")}
                for index, name in enumerate(self.tags)
            ],
            "translations": [
                {
                    "lang": self.language_code,
                    "title": self.title,
                    "excerpt": self.excerpt,
                    "content": self.content or "",
                    "meta_title": self.meta_title,
                    "meta_description": self.meta_description,
                }
            ],
            "created_at": isoformat(at),
            "updated_at": isoformat(at),
        }


@storable
@dataclass(slots=True)
class SocialPost(Fields):
    id: int
    title: str
    platforms: list[str]
    media_type: str | None
    job_id: str

    state_tag: ClassVar[str] = "social_post"

    def as_dict(self, status: str, at: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "platforms": list(self.platforms),
            "status": status,
            "media_type": self.media_type,
            "content": {platform: f"{self.title} #{platform}" for platform in self.platforms},
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
    found in one lookup."""

    def __init__(
        self,
        store: StateStore,
        api: str,
        kind: str,
        capacity: int,
        name_of: Callable[[T], str] | None = None,
    ) -> None:
        self.capacity = capacity
        self._store = store
        self._name = (api, kind)
        self._name_of = name_of
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
        store = self._store
        number = store.incr(recurring_key(tenant, *self._name, "last"))
        item = make(number)
        store.put(self._records(tenant), str(number), item)
        if self._name_of is not None:
            store.set(self._named(tenant, self._name_of(item)), number)
        held = store.push(self._order, [tenant, number])
        while held > self.capacity:
            oldest = store.pop(self._order)
            if oldest is None:
                break
            self._forget(*oldest)
            held -= 1
        return item

    def _forget(self, tenant: str, number: int) -> None:
        records = self._records(tenant)
        item = self._store.fetch(records, str(number))
        self._store.discard(records, str(number))
        if item is not None and self._name_of is not None:
            self._store.delete(self._named(tenant, self._name_of(item)))

    def claim(self, tenant: str, name: str) -> bool:
        """Take `name` for the tenant's next record: False when a record has it (atomic: of
        two workers claiming one name, one gets it)."""
        return self._store.add(self._named(tenant, name), 0)

    def next_suffix(self, tenant: str, name: str) -> int:
        """2, 3, 4... per name: where to look for a free `name-N` once `name` is taken."""
        return self._store.incr(subkey(recurring_key(tenant, *self._name, "suffix"), name)) + 1

    def get(self, tenant: str, number: int) -> T | None:
        return self._store.fetch(self._records(tenant), str(number))

    def named(self, tenant: str, name: str) -> T | None:
        """The record that has `name`, or None."""
        number = self._store.get(self._named(tenant, name))
        return self.get(tenant, number) if number else None

    def all(self, tenant: str) -> list[T]:
        """The tenant's records, oldest first."""
        found = self._store.entries(self._records(tenant))
        return [found[number] for number in sorted(found, key=int)]
