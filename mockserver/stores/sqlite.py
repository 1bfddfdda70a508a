"""A SQLite file as the store: one machine, any number of processes, survives restarts.

`sqlite:///state.db` is relative to the working directory, `sqlite:////var/lib/mock/state.db`
absolute (three slashes, then the path); `?prefix=name` (default `mockserver`) keeps several
servers apart in one file, and `clear()` forgets only its own prefix. The directory must exist.

Guarantees: the file is in WAL mode with `synchronous=NORMAL`, so every committed operation
survives the process being killed (`kill -9`); a power cut may lose the last ones. `add`,
`incr` and `heads` are single statements; `update`, `push`, `pop`, `pop_if`, `remove`,
`push_numbered` and `write` are `BEGIN IMMEDIATE` transactions (`write` commits all its values
and appends at once), so they are atomic across threads and processes; a writer waits up to
`BUSY_SECONDS` for another to finish, then gets a StoreError. One connection per store, behind
a lock: threads of one process take turns.

Costs, measured on a 2-core machine: `get` about 10 µs, `set` and `incr` 20 µs, `update`
30 µs, `push` with `keep` 70 µs (one commit each, no fsync but at WAL checkpoints).
`publish` is one insert more. Other processes hear it within `POLL_SECONDS`: each store with
listeners has one thread asking SQLite every `POLL_SECONDS` whether anyone committed (`PRAGMA
data_version`: a few µs, no file read), and only then reading the new events. The last
`EVENTS_KEPT` events are kept: a process that falls further behind misses the oldest.

A file deleted (or replaced) at the path while in use is left for the one there now (made
anew if none) at the next `refresh()`, before each request: one `stat` of the path. Otherwise
the processes that had it open would go on in the deleted file, and any started since in a
new one: two worlds, each answering half of the polls.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mockserver.stores import shown
from mockserver.stores.base import Listener, Numbered, StateStore, StoreError, lasting
from mockserver.stores.codec import dumps, loads
from mockserver.stores.common import (
    Listeners,
    checked_prefix,
    has_mapping,
    known_options,
    log,
    take_options,
)

BUSY_SECONDS = 10.0
POLL_SECONDS = 0.025
EVENTS_KEPT = 10_000
_TRIM_EVERY = 500  # publishes between two trims of the events table
_IN_CHUNK = 500  # keys per `IN (...)` of get_many, far below SQLite's variable limit
File = tuple[int, int]  # a file as the system knows it: (device, inode)
_LAST_EVENT = "SELECT coalesce(max(id), 0) FROM store_events"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_values (
    ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (ns, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_lists (
    ns TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (ns, key, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_maps (
    ns TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (ns, key, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_sizes (
    ns TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (ns, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL, origin TEXT NOT NULL,
    topic TEXT NOT NULL, message TEXT NOT NULL);
"""
_TABLES = ("store_values", "store_lists", "store_maps", "store_sizes")
# a counter is kept as its JSON text, like any value, so `get` reads it
_INCREMENT = (
    "INSERT INTO store_values VALUES (?, ?, CAST(? AS BLOB)) ON CONFLICT DO UPDATE "
    "SET value = CAST(CAST(value AS INTEGER) + ? AS BLOB) RETURNING value"
)
# one row after the list's last (numbered by seq), looked up by the insert itself
_APPEND = (
    "INSERT INTO store_lists SELECT ?, ?, coalesce(max(seq), 0) + 1, ? FROM store_lists "
    "WHERE ns = ? AND key = ?"
)
# a list's length, kept beside it: counting its rows costs as much as the list is long
_RESIZE = (
    "INSERT INTO store_sizes VALUES (?, ?, ?) ON CONFLICT (ns, key) "
    "DO UPDATE SET size = size + excluded.size RETURNING size"
)


def path_and_prefix(url: str) -> tuple[Path, str]:
    """The file and namespace a `sqlite://` URL names; StoreError, in one line, for a URL
    naming no file or with an option other than `prefix` (checked before a server starts)."""
    parts, _ = take_options(url, "prefix")
    if parts.scheme != "sqlite" or parts.netloc or not parts.path.strip("/"):
        raise StoreError(
            f"store {shown(url)!r}: use sqlite:///relative/state.db or sqlite:////absolute/state.db"
        )
    known_options(url, "prefix")
    return Path(parts.path[1:]), checked_prefix(url)


class SqliteStore(StateStore):
    """The store in a SQLite file; see the module docstring for what it guarantees."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path, self.prefix = path_and_prefix(url)
        if not self.path.parent.is_dir():
            raise StoreError(
                f"store {shown(url)!r}: the directory {self.path.parent} does not exist"
            )
        self._lock = threading.RLock()
        self._listeners = Listeners()
        self._published = 0
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        # the file the store is on, and its last event then: where events are read from once
        # the store went on to another file (`refresh`)
        self._db, self._on = self._open()

    def _open(self) -> tuple[sqlite3.Connection, tuple[File | None, int]]:
        """A connection to the file at the path, made if there is none, with its tables; which
        file that is, and its last event."""
        db = self._connect()
        try:
            with self._reported():
                db.executescript(_SCHEMA)
                (last,) = db.execute(_LAST_EVENT).fetchone()
            return db, (self._file_now(), last)
        except StoreError:
            db.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        with self._reported():
            db = sqlite3.connect(
                self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.create_function("lasting", 1, lasting, deterministic=True)  # for `clear`
            except sqlite3.Error:
                db.close()
                raise
            return db

    def _file_now(self) -> File | None:
        """Which file is at the path now; None when there is none."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"store {self.path}: {error}") from error
        return found.st_dev, found.st_ino

    def refresh(self) -> None:
        """Open the file at the path once it is not the one open: what the other held is lost
        to this process, as a Redis restarted empty's data is, and noticed alike (a server's
        generation mark is not there)."""
        with self._lock:
            found = self._file_now()
            if found is not None and found == self._on[0]:
                return
            left, (self._db, self._on) = self._db, self._open()  # the watcher follows
            # closed without a checkpoint (SQLite sees its file moved): it unlinks no `-wal`
            # by its name, which may now be the new file's
            left.close()
        log.warning(
            "store %s: the file this process used was deleted or replaced: it goes on with "
            "the one at that path now%s; what the other held is lost to it",
            self.path,
            "" if found is not None else " (a new one)",
        )

    @contextmanager
    def _reported(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from error

    def _rows(self, sql: str, *params: Any) -> list[Any]:
        with self._lock, self._reported():
            return self._db.execute(sql, params).fetchall()

    def _write(self, sql: str, *params: Any) -> int:
        """Run one statement on its own (atomic by itself); the rows it changed."""
        with self._lock, self._reported():
            return self._db.execute(sql, params).rowcount

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock from the start, so what the transaction reads stays
        true until it commits."""
        with self._lock, self._reported():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            finally:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")

    # --- values ------------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        rows = self._rows(
            "SELECT value FROM store_values WHERE ns = ? AND key = ?", self.prefix, key
        )
        return loads(rows[0][0]) if rows else None

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        found: dict[str, Any] = {}
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._rows(
                    f"SELECT key, value FROM store_values WHERE ns = ? AND key IN ({marks})",
                    self.prefix,
                    *chunk,
                )
            )
        return [loads(found[k]) if k in found else None for k in keys]

    def set(self, key: str, value: Any) -> None:
        self._write(
            "INSERT OR REPLACE INTO store_values VALUES (?, ?, ?)", self.prefix, key, dumps(value)
        )

    def add(self, key: str, value: Any) -> bool:
        return (
            self._write(
                "INSERT INTO store_values VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                self.prefix,
                key,
                dumps(value),
            )
            == 1
        )

    def delete(self, *keys: str) -> None:
        with self._transaction() as db:
            for table in _TABLES:
                sql = f"DELETE FROM {table} WHERE ns = ? AND key = ?"
                db.executemany(sql, [(self.prefix, k) for k in keys])

    def update(self, key: str, change: Callable[[Any | None], Any | None]) -> Any | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT value FROM store_values WHERE ns = ? AND key = ?", (self.prefix, key)
            ).fetchone()
            value = change(loads(row[0]) if row else None)
            if value is None:
                db.execute("DELETE FROM store_values WHERE ns = ? AND key = ?", (self.prefix, key))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO store_values VALUES (?, ?, ?)",
                    (self.prefix, key, dumps(value)),
                )
            return value

    def incr(self, key: str, by: int = 1) -> int:
        rows = self._rows(_INCREMENT, self.prefix, key, by, by)
        return int(rows[0][0])

    # --- lists ---------------------------------------------------------------------------

    def push(self, key: str, *values: Any, keep: int | None = None) -> int:
        with self._transaction() as db:
            return self._append(db, (self.prefix, key), values, keep)

    @staticmethod
    def _append(
        db: sqlite3.Connection, where: tuple[str, str], values: Sequence[Any], keep: int | None
    ) -> int:
        """`push` inside a transaction: the list's length after it."""
        db.executemany(_APPEND, [(*where, dumps(value), *where) for value in values])
        ((size,),) = db.execute(_RESIZE, (*where, len(values))).fetchall()
        if keep is not None and size > max(keep, 0):
            # the oldest past `keep`: as many rows as go, whatever the list's length
            db.execute(
                "DELETE FROM store_lists WHERE ns = ? AND key = ? AND seq IN (SELECT seq "
                "FROM store_lists WHERE ns = ? AND key = ? ORDER BY seq LIMIT ?)",
                (*where, *where, size - max(keep, 0)),
            )
            ((size,),) = db.execute(_RESIZE, (*where, max(keep, 0) - size)).fetchall()
        return int(size)

    def pop(self, key: str) -> Any | None:
        rows = self._pop_head(key)
        return loads(rows[0][0]) if rows else None

    def pop_if(self, key: str, head: Any) -> bool:
        """The head's row deleted only while it holds `head`'s encoding (a value read from
        the store encodes back to the same bytes)."""
        return bool(self._pop_head(key, dumps(head)))

    def _pop_head(self, key: str, encoded: bytes | None = None) -> list[Any]:
        """Delete the list's oldest row (only if it holds `encoded`, when given) and shorten
        the list, in one transaction; the deleted row's value, or no rows."""
        where = (self.prefix, key)
        with self._transaction() as db:
            rows = db.execute(
                "DELETE FROM store_lists WHERE ns = ? AND key = ? AND seq = (SELECT min(seq) "
                "FROM store_lists WHERE ns = ? AND key = ?) AND value = coalesce(?, value) "
                "RETURNING value",
                (*where, *where, encoded),
            ).fetchall()
            if rows:
                db.execute(_RESIZE, (*where, -1)).fetchall()  # stepped to its end
        return rows

    def items(self, key: str, start: int = 0, stop: int = -1) -> list[Any]:
        where = (self.prefix, key)
        with self._lock, self._reported():
            self._db.execute("BEGIN")  # one snapshot for the size and the slice
            try:
                size = 0
                if start < 0 or stop < 0:
                    size = self._size(self._db, where)
                first = max(start + size if start < 0 else start, 0)
                last = stop + size if stop < 0 else stop
                rows = self._db.execute(
                    "SELECT value FROM store_lists WHERE ns = ? AND key = ? ORDER BY seq "
                    "LIMIT ? OFFSET ?",
                    (*where, max(last - first + 1, 0), first),
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        return [loads(raw) for (raw,) in rows]

    def length(self, key: str) -> int:
        with self._lock, self._reported():
            return self._size(self._db, (self.prefix, key))

    @staticmethod
    def _size(db: sqlite3.Connection, where: tuple[str, str]) -> int:
        row = db.execute("SELECT size FROM store_sizes WHERE ns = ? AND key = ?", where).fetchone()
        return int(row[0]) if row else 0

    def remove(self, key: str, value: Any) -> None:
        where = (self.prefix, key)
        with self._transaction() as db:
            row = db.execute(
                "SELECT seq FROM store_lists WHERE ns = ? AND key = ? AND value = ? "
                "ORDER BY seq LIMIT 1",
                (*where, dumps(value)),
            ).fetchone()
            if row is None and has_mapping(value):
                rows = db.execute(
                    "SELECT seq, value FROM store_lists WHERE ns = ? AND key = ? ORDER BY seq",
                    where,
                )
                row = next((found for found in rows if loads(found[1]) == value), None)
            if row is not None:
                db.execute(
                    "DELETE FROM store_lists WHERE ns = ? AND key = ? AND seq = ?",
                    (*where, row[0]),
                )
                db.execute(_RESIZE, (*where, -1)).fetchall()  # stepped to its end

    def heads(self, keys: Sequence[str]) -> list[Any | None]:
        """The oldest value of each list, in one statement (SQLite takes a bare column of a
        `min()` query from the row holding the minimum)."""
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        rows = self._rows(
            f"SELECT key, value, min(seq) FROM store_lists WHERE ns = ? AND key IN ({marks}) "
            "GROUP BY key",
            self.prefix,
            *keys,
        )
        found = {k: raw for k, raw, _ in rows}
        return [loads(found[k]) if k in found else None for k in keys]

    def push_numbered(
        self, counter: str, key: str, value: Numbered, keep: int | None = None
    ) -> int:
        """One transaction: the counter and the list change together or not at all."""
        with self._transaction() as db:
            ((number,),) = db.execute(_INCREMENT, (self.prefix, counter, 1, 1)).fetchall()
            value.number = int(number)
            self._append(db, (self.prefix, key), [value], keep)
        return value.number

    def write(
        self, values: Mapping[str, Any], appends: Sequence[tuple[str, Any]] = ()
    ) -> list[int]:
        """One transaction: the values, then the appends, all committed together."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO store_values VALUES (?, ?, ?)",
                [(self.prefix, k, dumps(value)) for k, value in values.items()],
            )
            return [self._append(db, (self.prefix, k), [value], None) for k, value in appends]

    # --- maps ----------------------------------------------------------------------------

    def put(self, key: str, field: str, value: Any) -> None:
        self._write(
            "INSERT OR REPLACE INTO store_maps VALUES (?, ?, ?, ?)",
            self.prefix,
            key,
            field,
            dumps(value),
        )

    def fetch(self, key: str, field: str) -> Any | None:
        rows = self._rows(
            "SELECT value FROM store_maps WHERE ns = ? AND key = ? AND field = ?",
            self.prefix,
            key,
            field,
        )
        return loads(rows[0][0]) if rows else None

    def discard(self, key: str, field: str) -> None:
        self._write(
            "DELETE FROM store_maps WHERE ns = ? AND key = ? AND field = ?",
            self.prefix,
            key,
            field,
        )

    def revise(self, key: str, field: str, change: Callable[[Any | None], Any | None]) -> Any:
        where = (self.prefix, key, field)
        with self._transaction() as db:
            row = db.execute(
                "SELECT value FROM store_maps WHERE ns = ? AND key = ? AND field = ?", where
            ).fetchone()
            value = change(loads(row[0]) if row else None)
            if value is None:
                db.execute("DELETE FROM store_maps WHERE ns = ? AND key = ? AND field = ?", where)
            else:
                db.execute(
                    "INSERT OR REPLACE INTO store_maps VALUES (?, ?, ?, ?)", (*where, dumps(value))
                )
            return value

    def entries(self, key: str) -> dict[str, Any]:
        rows = self._rows(
            "SELECT field, value FROM store_maps WHERE ns = ? AND key = ?", self.prefix, key
        )
        return {field: loads(raw) for field, raw in rows}

    # --- the whole store -----------------------------------------------------------------

    def clear(self, *, keep_lasting: bool = False) -> None:
        kept = " AND NOT lasting(key)" if keep_lasting else ""
        with self._transaction() as db:
            for table in _TABLES:
                db.execute(f"DELETE FROM {table} WHERE ns = ?{kept}", (self.prefix,))
            db.execute("DELETE FROM store_events WHERE ns = ?", (self.prefix,))

    def publish(self, topic: str, message: str = "") -> None:
        self._listeners.deliver(topic, message)
        with self._lock:
            rows = self._rows(
                "INSERT INTO store_events (ns, origin, topic, message) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                self.prefix,
                self._listeners.origin,
                topic,
                message,
            )
            self._published += 1
            if self._published % _TRIM_EVERY == 0:
                self._write("DELETE FROM store_events WHERE id <= ?", rows[0][0] - EVENTS_KEPT)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        stop = self._listeners.add(listener)
        with self._lock:
            if self._watcher is None:
                self._watcher = self._start_watcher()
        return stop

    def _start_watcher(self) -> threading.Thread:
        """The thread that hears other processes: it starts after the events there now, so
        whatever is published once `subscribe` returns reaches the listener."""
        db = self._connect()
        try:
            with self._reported():
                (seen,) = db.execute(_LAST_EVENT).fetchone()
        except StoreError:
            db.close()
            raise
        thread = threading.Thread(
            target=self._watch, args=(db, seen), name="sqlite-store-events", daemon=True
        )
        thread.start()
        return thread

    def _watch(self, db: sqlite3.Connection, seen: int) -> None:
        """Deliver the events after `seen`: every `POLL_SECONDS`, ask SQLite whether anyone
        committed, and only then read them. Once the store went on to another file
        (`refresh`), so does this, after the last event the store found there."""
        file, version = self._on[0], None  # None: read the events at the next look
        try:
            while not self._stopping.wait(POLL_SECONDS):
                try:
                    if file != self._on[0]:
                        followed = self._connect()
                        db.close()
                        db, (file, seen), version = followed, self._on, None
                    (now,) = db.execute("PRAGMA data_version").fetchone()
                    if now == version:
                        continue
                    version = now
                    rows = db.execute(
                        "SELECT id, origin, topic, message FROM store_events "
                        "WHERE id > ? AND ns = ? ORDER BY id",
                        (seen, self.prefix),
                    ).fetchall()
                except (sqlite3.Error, StoreError) as error:  # locked too long: try again later
                    log.warning("store %s: events not read: %s", self.path, error)
                    self._stopping.wait(1.0)
                    continue
                for _, origin, topic, message in rows:
                    self._listeners.deliver_from(origin, topic, message)
                if rows:
                    seen = rows[-1][0]
        finally:
            db.close()

    def close(self) -> None:
        self._stopping.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.join()
        self._listeners.clear()
        with self._lock:
            self._db.close()
