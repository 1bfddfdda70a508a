"""Neural Draft's shortcuts on the create path give what the plain way gives.

Each test builds the answer both ways (the shortcut and the general code it stands in for)
and compares them, on inputs where a careless shortcut would differ.
"""

from __future__ import annotations

import pytest

from mockserver.apis.neuraldraft.posts import BlogPost, Registry
from mockserver.stores import MemoryStore, key

ODD = ["tea", "a:b", "50%", "{x}", "*"]  # plain, and each character keys escape


@pytest.mark.parametrize("tenant", ODD)
@pytest.mark.parametrize("name", ODD)
def test_a_registry_keeps_names_and_suffixes_under_the_keys_key_makes(
    tenant: str, name: str
) -> None:
    store = MemoryStore()
    posts: Registry[BlogPost] = Registry(
        store, "neuraldraft", "blog-posts", 10, name_of=lambda post: post.slug
    )
    assert posts.claim(tenant, name)
    posts.add(tenant, lambda number: BlogPost(number, name, "Tea", "draft", 0.0))
    assert store.get(key(tenant, "neuraldraft", "blog-posts", "named", name)) == 1
    assert posts.named(tenant, name) == posts.get(tenant, 1)
    assert posts.next_suffix(tenant, name) == 2
    assert store.get(key(tenant, "neuraldraft", "blog-posts", "suffix", name)) == 1
