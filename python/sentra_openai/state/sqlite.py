"""The SQLite store: one file per host, shared by every worker process (stdlib sqlite3, WAL journal).

Each process opens its own connection on first use after a fork (a connection must never cross a fork). Every write
is one transaction, committed before the call returns: with WAL and synchronous=NORMAL (the default) a committed
transaction survives the death of any process (SIGKILL included); synchronous=FULL also survives an OS crash or power
loss, at the cost of an fsync per write; synchronous=OFF skips even the checkpoints' fsyncs: a process's death still
loses nothing, but an OS crash or power loss can corrupt the file. Readers never block the writer and see a commit at
once.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from .base import Change, Doc, StateStore, Where, check_order, prefix_end

BUSY_TIMEOUT_MS = 10_000  # a writer waits this long for another process's transaction before giving up
# How often a writer waiting for another process's write looks again: first soon (a write holds the lock for a
# fraction of a millisecond), then at most every millisecond.
FIRST_LOOK_S, LAST_LOOK_S = 20e-6, 1e-3
PURGE_EVERY = 500  # puts of one process between deletions of expired rows (they are invisible meanwhile)
LIST_BATCH = 64
SYNCHRONOUS = ("off", "normal", "full")  # the PRAGMA synchronous levels offered (config: state.synchronous)
_INHERITED: list[sqlite3.Connection] = []  # connections a forked process got from its parent (see `_conn`)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order (AUTOINCREMENT: a deleted seq is never reused)
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    parent     TEXT,
    created_at REAL NOT NULL,
    expires_at REAL,
    body       BLOB NOT NULL,
    UNIQUE (collection, id)
);
-- Only rows with a parent: in SQLite each index of a row is another page written at its commit (README "State").
DROP INDEX IF EXISTS docs_by_parent;
CREATE INDEX IF NOT EXISTS docs_of_parents ON docs (collection, parent, seq) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS docs_by_expiry ON docs (expires_at) WHERE expires_at IS NOT NULL;
"""


class SqliteStore(StateStore):
    def __init__(self, path: str, *, synchronous: str = "normal", **kwargs) -> None:
        super().__init__(**kwargs)
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous
        # One connection per process, used under a lock: the server's handlers run on short-lived threads (Robyn
        # gives each call a new thread state), so a connection per thread would be a new connection per request.
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._write_lock: int | None = None  # this process's descriptor of the lock file (see `_write`)
        self._pid = os.getpid()
        self._puts = 0
        self._connect()  # creates the file and schema now, in the parent, so that a bad path fails at start-up

    # -- connections ------------------------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        return conn

    def _connect(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        conn = self._open()
        conn.execute("PRAGMA journal_mode = WAL")  # persistent: recorded in the file for every later connection
        with _transaction(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.close()

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """This process's connection, held for the block; a forked child opens its own (never closing its parent's)."""
        with self._lock:
            if self._pid != os.getpid():
                if self._connection is not None:
                    # SQLite forbids using, or closing, a connection across a fork: keep the parent's alive, untouched,
                    # for the life of this process (letting it be collected would close it here).
                    _INHERITED.append(self._connection)
                self._connection = None
                self._close_write_lock()  # the parent's: a lock taken through it would not exclude the parent
                self._pid = os.getpid()
            if self._connection is None:
                self._connection = self._open()
            yield self._connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken after this host's other writers under a lock of our own (flock on
        `<path>.lock`). SQLite would serialise the writers anyway, but a writer that finds its write lock taken
        sleeps 1 ms, then 2, 5, 10 ... (its busy handler), several times a write's length; this lock is looked at
        again within tens of microseconds. The kernel releases it when its process dies, SIGKILL included."""
        with self._use() as conn:
            if self._write_lock is None:
                self._write_lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            _lock_exclusively(self._write_lock)
            try:
                with _transaction(conn):
                    yield conn
            finally:
                fcntl.flock(self._write_lock, fcntl.LOCK_UN)

    # -- the interface ----------------------------------------------------------------------------------------------

    def put(self, collection: str, id: str, doc: Doc, *, parent: str | None = None,
            created_at: float, ttl_seconds: float | None = None) -> None:
        self.put_many([(collection, id, doc, parent)], created_at=created_at, ttl_seconds=ttl_seconds)

    def put_many(self, entries, *, created_at: float, ttl_seconds: float | None = None) -> None:
        expires_at = self._expires_at(created_at, ttl_seconds)
        rows = [(collection, id, parent, created_at, expires_at, orjson.dumps(doc))
                for collection, id, doc, parent in entries]
        now = self.clock()
        with self._write() as conn:
            for row in rows:
                # An expired document is gone: a put over it is an insert, with a new place in the order.
                conn.execute("DELETE FROM docs WHERE collection = ? AND id = ? AND expires_at <= ?",
                             (row[0], row[1], now))
                conn.execute(
                    "INSERT INTO docs (collection, id, parent, created_at, expires_at, body) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (collection, id) DO UPDATE SET parent = excluded.parent, "
                    "created_at = excluded.created_at, expires_at = excluded.expires_at, body = excluded.body", row)
        self._puts += len(rows)
        if self._puts >= PURGE_EVERY:
            self._puts = 0
            self.purge_expired()

    def get(self, collection: str, id: str) -> Doc | None:
        with self._use() as conn:
            row = conn.execute(
                "SELECT body FROM docs WHERE collection = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (collection, id, self.clock())).fetchone()
        return None if row is None else orjson.loads(row[0])

    def delete(self, collection: str, id: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM docs WHERE collection = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (collection, id, self.clock()))
            return cursor.rowcount > 0

    def update(self, collection: str, id: str, change: Change) -> Doc | None:
        with self._write() as conn:  # BEGIN IMMEDIATE: the write lock is ours from the read on
            row = conn.execute(
                "SELECT seq, body FROM docs WHERE collection = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (collection, id, self.clock())).fetchone()
            if row is None:
                return None
            new = change(orjson.loads(row[1]))
            if new is None:
                return orjson.loads(row[1])
            body = orjson.dumps(new)
            conn.execute("UPDATE docs SET body = ? WHERE seq = ?", (body, row[0]))
            return orjson.loads(body)

    def list(self, collection: str, *, parent: str | None = None, order: str = "desc", after: str | None = None,
             limit: int = 20, where: Where | None = None) -> tuple[list[Doc], bool]:
        check_order(order)
        with self._use() as conn:
            return self._list(conn, collection, parent, order, after, limit, where)

    def _list(self, conn: sqlite3.Connection, collection: str, parent: str | None, order: str, after: str | None,
              limit: int, where: Where | None) -> tuple[list[Doc], bool]:
        now = self.clock()
        scope = "collection = ?" + (" AND parent = ?" if parent is not None else "")
        scope_args: tuple = (collection,) if parent is None else (collection, parent)
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        if after is not None:
            row = conn.execute(f"SELECT seq FROM docs WHERE {scope} AND id = ? AND (expires_at IS NULL OR expires_at > ?)",
                               (*scope_args, after, now)).fetchone()
            if row is None:
                return [], False
            cursor_seq = row[0]
        else:
            cursor_seq = 0 if order == "asc" else 2**63 - 1
        found: list[Doc] = []
        while True:
            batch = conn.execute(
                f"SELECT seq, body FROM docs WHERE {scope} AND seq {comparison} ? "
                f"AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq {direction} LIMIT ?",
                (*scope_args, cursor_seq, now, LIST_BATCH if where else limit + 1)).fetchall()
            for seq, body in batch:
                doc = orjson.loads(body)
                if where is None or where(doc):
                    if len(found) == limit:
                        return found, True
                    found.append(doc)
                cursor_seq = seq
            if len(batch) < (LIST_BATCH if where else limit + 1):
                return found, False

    def with_id_prefix(self, collection: str, prefix: str, *, limit: int = 20) -> list[Doc]:
        bounds, args = "id >= ?", [collection, prefix]
        end = prefix_end(prefix)
        if end is not None:
            bounds += " AND id < ?"
            args.append(end)
        with self._use() as conn:
            rows = conn.execute(
                f"SELECT body FROM docs WHERE collection = ? AND {bounds} AND (expires_at IS NULL OR expires_at > ?) "
                "ORDER BY id LIMIT ?", (*args, self.clock(), limit)).fetchall()
        return [orjson.loads(body) for body, in rows]

    def delete_children(self, collection: str, parent: str) -> int:
        with self._write() as conn:
            live = conn.execute(
                "SELECT COUNT(*) FROM docs WHERE collection = ? AND parent = ? AND (expires_at IS NULL OR expires_at > ?)",
                (collection, parent, self.clock())).fetchone()[0]
            conn.execute("DELETE FROM docs WHERE collection = ? AND parent = ?", (collection, parent))
            return live

    def purge_expired(self) -> int:
        """Removes expired rows (they are already invisible); returns how many."""
        with self._write() as conn:
            return conn.execute("DELETE FROM docs WHERE expires_at <= ?", (self.clock(),)).rowcount

    def clear(self) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM docs")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None
            self._close_write_lock()

    def _close_write_lock(self) -> None:
        if self._write_lock is not None:
            os.close(self._write_lock)
            self._write_lock = None


def _lock_exclusively(descriptor: int) -> None:
    """flock(LOCK_EX) with SQLite's own bound on the wait (BUSY_TIMEOUT_MS), after which it fails as SQLite does."""
    pause, deadline = FIRST_LOOK_S, None
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            now = time.monotonic()
            if deadline is None:
                deadline = now + BUSY_TIMEOUT_MS / 1000
            elif now >= deadline:
                raise sqlite3.OperationalError("database is locked") from None
            time.sleep(pause)
            pause = min(pause * 2, LAST_LOOK_S)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
