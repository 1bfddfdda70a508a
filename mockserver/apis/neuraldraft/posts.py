"""Blog posts and social posts: integer ids per project, as the docs and the SDK's types say.

A manual blog post exists from its create request on. A post a job writes is registered when
the job is created (so its id can go into the job's `result`) and can be read once the job
has completed (a blog post) or ended (a social post, `published` or `failed`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mockserver.apis.neuraldraft.models import slugify
from mockserver.engine.clock import isoformat

T = TypeVar("T")


@dataclass(slots=True)
class BlogPost:
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


@dataclass(slots=True)
class SocialPost:
    id: int
    title: str
    platforms: list[str]
    media_type: str | None
    job_id: str

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
    """Records of one kind per tenant, numbered 1, 2, 3... per tenant; the oldest are
    forgotten past `capacity`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, int], T] = OrderedDict()
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, tenant: str, make: Callable[[int], T]) -> T:
        """`make(id)` builds the record under the tenant's next id."""
        with self._lock:
            number = self._last[tenant] = self._last.get(tenant, 0) + 1
            item = make(number)
            self._items[(tenant, number)] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return item

    def get(self, tenant: str, number: int) -> T | None:
        with self._lock:
            return self._items.get((tenant, number))

    def all(self, tenant: str) -> list[T]:
        with self._lock:
            return [item for (owner, _), item in self._items.items() if owner == tenant]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._last.clear()
