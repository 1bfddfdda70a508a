"""Redis as the store: many workers on many machines share one world.

`redis://host:port/db`, `rediss://...` (TLS), and a Redis Cluster with
`redis+cluster://host:port` or `redis://host:port?cluster=true` (any node: the others are
discovered). `?prefix=name` (default `mockserver`) begins every key (`name:{tenant}:...`,
the tenant's hash tag stays the first `{...}`, so one tenant's keys share a cluster slot) and
names the events channel `name:events`; `clear()` deletes only that prefix's keys. Other query
options are redis-py's (`socket_timeout`, `ssl_cert_reqs`...).

Guarantees: every change is one Redis command or script, atomic for every client: `add` is
SET NX, `incr` INCRBY, `pop` LPOP, `pop_if` a script (LINDEX, then LPOP if the head is the
value read), `push` with `keep` a script (RPUSH then LTRIM), `update` a compare-and-set script
retried on conflict, `push_numbered` a script (INCR, then RPUSH and LTRIM on a list in the
same slot). `write` and `heads` send their commands in one pipeline, each command as atomic
as on its own (no MULTI: nothing there needs the whole at once).
Durability is Redis's own: with `appendonly yes` and `appendfsync always`, what was answered
survives the server being killed. An unreachable server is a StoreError naming host:port and
the reason.

Costs: one network round trip per operation (`get_many`, `write` and `heads` included), two
for `update` (read, then compare-and-set).
Measured on a 2-core machine with Redis on it: `get` and `set` about 60 µs, `incr` 60-120
µs, `update` 280 µs; a cluster adds 20-40 µs. `publish` reaches this process's listeners at
once, the others through Redis pub/sub (one thread per store with listeners; what is
published while a process is disconnected never reaches it).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import SplitResult, unquote

from redis import Redis
from redis.client import PubSub
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from mockserver.stores import shown
from mockserver.stores.base import Listener, Numbered, StateStore, StoreError, lasting
from mockserver.stores.codec import dumps, loads
from mockserver.stores.common import Listeners, checked_prefix, has_mapping, log, take_options

CONNECT_SECONDS = 5.0
LISTEN_SECONDS = 0.1  # how long `close` may wait for the events thread to notice
RELISTEN_SECONDS = 1.0  # how often the events thread tries again while Redis is away
_SCAN_BATCH = 500

# The compare-and-set of `update`: the new value only if the old is still what was read
# ('' stands for no value: an encoding is never empty; a new '' deletes).
_CAS = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""
# `revise`: the field set (or deleted) only if it still holds what was read.
_HCAS = """
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
"""
# `push` with `keep`: append, then drop the oldest past `keep`, in one step.
_PUSH = """
local size = redis.call('LLEN', KEYS[1])
for i = 2, #ARGV, 1000 do
  size = redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local keep = tonumber(ARGV[1])
if size > keep then
  if keep > 0 then redis.call('LTRIM', KEYS[1], -keep, -1) else redis.call('DEL', KEYS[1]) end
  size = keep
end
return size
"""

# `pop_if`: the head popped only if it is still the value read (its encoding).
_POP_IF = """
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[1])
return 1
"""

# `push_numbered`: count, then append the value with its number (its encoding around it)
_NUMBERED = """
local number = redis.call('INCR', KEYS[1])
local size = redis.call('RPUSH', KEYS[2], ARGV[2] .. string.format('%d', number) .. ARGV[3])
local keep = tonumber(ARGV[1])
if keep and size > keep then
  if keep > 0 then redis.call('LTRIM', KEYS[2], -keep, -1) else redis.call('DEL', KEYS[2]) end
end
return number
"""
# the number a value is encoded with for `push_numbered`, to be found in its encoding
_PLACEHOLDER = -7_301_928_465_019_283

_ERRORS = (RedisError, RedisClusterException)
P = ParamSpec("P")
R = TypeVar("R")


def _reported(
    method: Callable[Concatenate[RedisStore, P], R],
) -> Callable[Concatenate[RedisStore, P], R]:
    """Redis's errors as a StoreError in one line."""

    @functools.wraps(method)
    def run(store: RedisStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(store, *args, **kwargs)
        except _ERRORS as error:
            raise store.failure(error) from error

    return run


def _decoded(raw: Any) -> Any:
    return None if raw is None else loads(raw)


_UNKNOWN_OPTION = re.compile(r"unexpected keyword argument '([^']*)'")
# the path of `redis://host:port/db`: `/0`, `/`, none; ASCII digits (redis-py reads `/٣` as 3)
_DATABASE = re.compile(r"/?[0-9]*/?")


def _checked_location(url: str, parts: SplitResult, where: str) -> None:
    """StoreError, in one line, for a URL redis-py would misread: one naming no host
    (`redis://` reached it as `redis:`, refused for a missing scheme), or a database that is
    not a whole number (`/abc`, `/0/extra`: read as database 0, where the keys of another
    world may be)."""
    if not parts.netloc:
        raise StoreError(f"store {shown(url)!r} names no host: use redis://host:port/db")
    path = unquote(parts.path)
    if not _DATABASE.fullmatch(path):
        raise StoreError(
            f"store {where}: database {path.strip('/')!r} is not a whole number "
            "(redis://host:port/db, such as /0)"
        )


class RedisStore(StateStore):
    """The store on a Redis server or cluster; see the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts, options = take_options(url, "prefix", "cluster")
        self.prefix = checked_prefix(url)
        self.cluster = parts.scheme == "redis+cluster" or options.get("cluster", "").lower() in (
            "1",
            "true",
            "yes",
        )
        self.where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
        _checked_location(url, parts, self.where)
        target = parts._replace(scheme="redis" if parts.scheme == "redis+cluster" else parts.scheme)
        self._channel = f"{self.prefix}:events"
        self._listeners = Listeners()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener_thread: threading.Thread | None = None
        client: Redis | RedisCluster
        try:
            if self.cluster:
                client = RedisCluster.from_url(
                    target.geturl(), socket_connect_timeout=CONNECT_SECONDS
                )
            else:
                client = Redis.from_url(target.geturl(), socket_connect_timeout=CONNECT_SECONDS)
            client.ping()
        except _ERRORS as error:
            raise self.failure(error) from error
        except ValueError as error:  # a malformed URL or option
            raise StoreError(f"store {self.where}: {error}") from error
        except TypeError as error:  # redis-py hands an option it does not know to a connection
            found = _UNKNOWN_OPTION.search(str(error))
            option = repr(found.group(1)) if found else "in the URL"
            raise StoreError(f"store {self.where}: unknown store option {option}") from None
        self._client = client
        # a cluster answers per slot: redis-py groups the keys and puts the answers in order
        self._mget = client.mget_nonatomic if isinstance(client, RedisCluster) else client.mget
        self._cas = client.register_script(_CAS)
        self._hcas = client.register_script(_HCAS)
        self._push = client.register_script(_PUSH)
        self._numbered = client.register_script(_NUMBERED)
        self._pop_if = client.register_script(_POP_IF)

    def failure(self, error: BaseException) -> StoreError:
        reason = " ".join(str(error).split()) or type(error).__name__
        return StoreError(f"store redis at {self.where}: {reason}")

    def _k(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    # --- values ------------------------------------------------------------------------

    @_reported
    def get(self, key: str) -> Any | None:
        return _decoded(self._client.get(self._k(key)))

    @_reported
    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        if not keys:
            return []
        return [_decoded(raw) for raw in self._mget([self._k(k) for k in keys])]

    @_reported
    def set(self, key: str, value: Any) -> None:
        self._client.set(self._k(key), dumps(value))

    @_reported
    def add(self, key: str, value: Any) -> bool:
        return bool(self._client.set(self._k(key), dumps(value), nx=True))

    @_reported
    def delete(self, *keys: str) -> None:
        if keys:
            self._client.delete(*(self._k(k) for k in keys))

    @_reported
    def update(self, key: str, change: Callable[[Any | None], Any | None]) -> Any | None:
        name = self._k(key)
        while True:
            old = self._client.get(name)
            value = change(None if old is None else loads(old))
            new = b"" if value is None else dumps(value)
            if self._cas(keys=[name], args=[old or b"", new]):
                return value

    @_reported
    def incr(self, key: str, by: int = 1) -> int:
        return int(self._client.incrby(self._k(key), by))

    # --- lists ---------------------------------------------------------------------------

    @_reported
    def push(self, key: str, *values: Any, keep: int | None = None) -> int:
        name, encoded = self._k(key), [dumps(value) for value in values]
        if keep is not None:
            return int(self._push(keys=[name], args=[max(keep, 0), *encoded]))
        if encoded:
            return int(self._client.rpush(name, *encoded))
        return int(self._client.llen(name))

    @_reported
    def pop(self, key: str) -> Any | None:
        return _decoded(self._client.lpop(self._k(key)))

    @_reported
    def pop_if(self, key: str, head: Any) -> bool:
        """Compared by encoding: a value read from the store encodes back to the same bytes."""
        return bool(self._pop_if(keys=[self._k(key)], args=[dumps(head)]))

    @_reported
    def items(self, key: str, start: int = 0, stop: int = -1) -> list[Any]:
        return [loads(raw) for raw in self._client.lrange(self._k(key), start, stop)]

    @_reported
    def length(self, key: str) -> int:
        return int(self._client.llen(self._k(key)))

    @_reported
    def remove(self, key: str, value: Any) -> None:
        name = self._k(key)
        if self._client.lrem(name, 1, dumps(value).decode()) or not has_mapping(value):
            return
        # an equal item written with its keys in another order: found by decoding
        for raw in self._client.lrange(name, 0, -1):
            if loads(raw) == value:
                self._client.lrem(name, 1, raw if isinstance(raw, str) else raw.decode())
                return

    @_reported
    def heads(self, keys: Sequence[str]) -> list[Any | None]:
        pipe = self._client.pipeline(transaction=False)
        for k in keys:
            pipe.lindex(self._k(k), 0)
        return [_decoded(raw) for raw in pipe.execute()] if keys else []

    @_reported
    def push_numbered(
        self, counter: str, key: str, value: Numbered, keep: int | None = None
    ) -> int:
        """One script: the value is encoded with a placeholder number, which the script
        replaces (both keys must share a cluster slot)."""
        value.number = _PLACEHOLDER
        before, *after = dumps(value).split(str(_PLACEHOLDER).encode())
        if len(after) != 1:  # the placeholder's digits in the value too (a client's text)
            return super().push_numbered(counter, key, value, keep)
        keeping = "" if keep is None else max(keep, 0)
        names = [self._k(counter), self._k(key)]
        value.number = int(self._numbered(keys=names, args=[keeping, before, after[0]]))
        return value.number

    @_reported
    def write(
        self, values: Mapping[str, Any], appends: Sequence[tuple[str, Any]] = ()
    ) -> list[int]:
        """One pipeline: a server runs its commands in order. A cluster sends each node its
        part at once, so there the values go first: a list never names what is not there."""
        encoded = [(k, dumps(value)) for k, value in appends]  # nothing sent if one fails
        pipe = self._client.pipeline(transaction=False)
        for k, value in values.items():
            pipe.set(self._k(k), dumps(value))
        if self.cluster and values and appends:
            pipe.execute()
            pipe = self._client.pipeline(transaction=False)
        for k, raw in encoded:
            pipe.rpush(self._k(k), raw)
        done = pipe.execute() if len(pipe) else []
        return [int(size) for size in done[len(done) - len(appends) :]]

    # --- maps ----------------------------------------------------------------------------

    @_reported
    def put(self, key: str, field: str, value: Any) -> None:
        self._client.hset(self._k(key), field, dumps(value))

    @_reported
    def fetch(self, key: str, field: str) -> Any | None:
        return _decoded(self._client.hget(self._k(key), field))

    @_reported
    def discard(self, key: str, field: str) -> None:
        self._client.hdel(self._k(key), field)

    @_reported
    def revise(self, key: str, field: str, change: Callable[[Any | None], Any | None]) -> Any:
        name = self._k(key)
        while True:
            old = self._client.hget(name, field)
            value = change(None if old is None else loads(old))
            new = b"" if value is None else dumps(value)
            if self._hcas(keys=[name], args=[field, old or b"", new]):
                return value

    @_reported
    def entries(self, key: str) -> dict[str, Any]:
        found = self._client.hgetall(self._k(key))
        return {
            field if isinstance(field, str) else field.decode(): loads(raw)
            for field, raw in found.items()
        }

    # --- the whole store -----------------------------------------------------------------

    @_reported
    def clear(self, *, keep_lasting: bool = False) -> None:
        # SCAN walks every primary of a cluster; UNLINK frees the memory in the background
        batch: list[bytes] = []
        for name in self._client.scan_iter(match=f"{self.prefix}:*", count=_SCAN_BATCH):
            if keep_lasting and lasting(name.decode()):
                continue
            batch.append(name)
            if len(batch) == _SCAN_BATCH:
                self._client.unlink(*batch)
                batch.clear()
        if batch:
            self._client.unlink(*batch)

    def refresh(self) -> None:
        """Nothing to follow: every connection reaches the one Redis. A Redis that lost its
        data is noticed by its users (`MockState`'s generation mark)."""

    @_reported
    def publish(self, topic: str, message: str = "") -> None:
        self._listeners.deliver(topic, message)
        self._client.publish(self._channel, json.dumps([self._listeners.origin, topic, message]))

    @_reported
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        stop = self._listeners.add(listener)
        with self._lock:
            if self._listener_thread is None:
                self._listener_thread = self._start_listening()
        return stop

    def _start_listening(self) -> threading.Thread:
        """The thread that hears other processes, once Redis confirmed the subscription: what
        is published after `subscribe` returns reaches the listener."""
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(self._channel)
            deadline = time.monotonic() + CONNECT_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is not None and message["type"] == "subscribe":
                    break
            else:
                raise StoreError(f"store redis at {self.where}: SUBSCRIBE not confirmed")
        except BaseException:
            pubsub.close()
            raise
        thread = threading.Thread(
            target=self._listen, args=(pubsub,), name="redis-store-events", daemon=True
        )
        thread.start()
        return thread

    def _listen(self, pubsub: PubSub) -> None:
        """Deliver the other processes' events until closed. An outage is logged once, when
        it begins, and once more when the events come again: not once a second."""
        out = False
        try:
            while not self._stopping.is_set():
                try:
                    message = pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=LISTEN_SECONDS
                    )
                except _ERRORS as error:  # redis-py reconnects and subscribes again next time
                    if not out:
                        log.warning("%s; events wait for it", self.failure(error))
                    out = True
                    self._stopping.wait(RELISTEN_SECONDS)
                    continue
                if out:
                    log.warning("store redis at %s: events come again", self.where)
                    out = False
                if message is None or message["type"] != "message":
                    continue
                try:
                    origin, topic, text = json.loads(message["data"])
                except (ValueError, TypeError):
                    log.warning("store redis at %s: not an event: %r", self.where, message["data"])
                    continue
                self._listeners.deliver_from(origin, topic, text)
        finally:
            pubsub.close()

    def close(self) -> None:
        self._stopping.set()
        thread, self._listener_thread = self._listener_thread, None
        if thread is not None:
            thread.join()
        self._listeners.clear()
        self._client.close()
