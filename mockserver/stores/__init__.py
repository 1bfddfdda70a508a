"""Where the server keeps its state: `open_store(url)` for a `--store` URL.

- `memory` (the default): this process only, nothing survives it; the fastest.
- `sqlite:///path/state.db`: one machine; survives restarts, even `kill -9`.
- `redis://host:port/db`, `rediss://...`: many workers and machines as one world.
- `redis+cluster://host:port` (or `redis://...?cluster=true`): a Redis Cluster.

`?prefix=name` (SQLite and Redis) keeps several servers' state apart in one database.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from mockserver.stores.base import (
    StateStore,
    StoreError,
    key,
    lasting_key,
    recurring_key,
    subkey,
)
from mockserver.stores.memory import MemoryStore

SCHEMES = ("memory", "sqlite", "redis", "rediss", "redis+cluster")

__all__ = [
    "SCHEMES",
    "MemoryStore",
    "StateStore",
    "StoreError",
    "check_url",
    "key",
    "lasting_key",
    "open_store",
    "prefix_of",
    "recurring_key",
    "shown",
    "subkey",
    "with_prefix",
]
DEFAULT_PREFIX = "mockserver"
# redis-py's URL options that hold a secret: AUTH's password (beside the one in the user part)
# and the passphrase of a TLS private key
SECRET_OPTIONS = ("password", "ssl_password")
MASK = "***"


def check_url(url: str) -> str:
    """`url` if it names a store this kit knows; ValueError in one line if not."""
    scheme = urlsplit(url).scheme if "://" in url else url
    if scheme not in SCHEMES:
        raise ValueError(
            f"unknown store {shown(url)!r}: use memory, sqlite:///path/state.db, "
            "redis://host:port/db, rediss://host:port/db or redis+cluster://host:port"
        )
    if scheme == "sqlite" and not urlsplit(url).path.strip("/"):
        raise ValueError(f"store {shown(url)!r} names no file: use sqlite:///path/state.db")
    return url


def open_store(url: str = "memory") -> StateStore:
    """The store `url` names, connected (StoreError when it cannot be reached)."""
    scheme = urlsplit(check_url(url)).scheme or url
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from mockserver.stores.sqlite import SqliteStore

        return SqliteStore(url)
    from mockserver.stores.redis import RedisStore

    return RedisStore(url)


def shown(url: str) -> str:
    """`url` as health, the start line and errors show it: a password in its user part, or in
    an option redis-py reads as one (`?password=`, `?ssl_password=`), replaced by `***`. Cut
    by hand, as urlsplit cuts (the fragment, the query, then the host part): rebuilt by
    urlsplit, `sqlite:///state.db` would lose its slashes."""
    rest, hashed, fragment = url.partition("#")
    rest, asked, query = rest.partition("?")
    scheme, slashes, rest = rest.partition("//")
    netloc, slash, path = rest.partition("/")
    userinfo, _, host = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if colon:
        netloc = f"{user}:{MASK}@{host}"
    options = "&".join(_masked(option) for option in query.split("&"))
    return f"{scheme}{slashes}{netloc}{slash}{path}{asked}{options}{hashed}{fragment}"


def _masked(option: str) -> str:
    """`name=value`, its value masked when the name is a secret's (as redis-py reads it)."""
    name, _, value = option.partition("=")
    secret = value and unquote_plus(name).lower() in SECRET_OPTIONS
    return f"{name}={MASK}" if secret else option


def prefix_of(url: str) -> str:
    """The namespace `url` names with `?prefix=` (default "mockserver")."""
    return dict(parse_qsl(urlsplit(url).query)).get("prefix") or DEFAULT_PREFIX


def with_prefix(url: str, suffix: str) -> str:
    """`url` with its namespace narrowed by `suffix` (`prefix=mockserver-gw1`): state apart
    from the rest of the store's. The memory store is apart already."""
    if url == "memory":
        return url
    base, _, query = url.partition("?")
    options = {**dict(parse_qsl(query)), "prefix": f"{prefix_of(url)}-{suffix}"}
    return f"{base}?{urlencode(options)}"
