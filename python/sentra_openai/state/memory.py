"""The in-memory store: one process only (tests, and servers that need nothing to outlive them)."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

import orjson
from sortedcontainers import SortedList

from .base import Change, Doc, StateStore, Where, check_order, prefix_end


def _compact(body: bytes) -> bytes:
    """A copy of exactly `body`'s size, to keep: orjson's output keeps the whole buffer it was written into (16 KiB
    for a 700-byte document under tracemalloc, orjson 3.13), so a kept one costs ~20x its length in memory and in
    fresh pages (issue 12: ~5 page faults per stored response)."""
    return bytes(memoryview(body))


@dataclass
class _Entry:
    body: bytes  # stored serialized, as the other stores do: a caller never shares a mutable document with the store
    parent: str | None
    seq: int
    created_at: float
    expires_at: float | None


class MemoryStore(StateStore):
    """Documents by key, plus sorted sequence numbers per collection and per (collection, parent) for `list`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._docs: dict[tuple[str, str], _Entry] = {}
        self._ids: dict[int, str] = {}  # seq -> id
        self._order: dict[tuple[str, str | None], list[int]] = {}  # (collection, None | parent) -> sorted seqs
        # collection -> its ids in order, for with_id_prefix (a plain list's insort moves ~1 ms of pointers a put
        # at a million documents)
        self._sorted_ids: dict[str, SortedList] = {}
        self._seq = 0
        self._lock = threading.RLock()

    # -- indexes ----------------------------------------------------------------------------------------------------

    def _index(self, collection: str, parent: str | None, seq: int) -> None:
        for key in ((collection, None), (collection, parent)) if parent is not None else ((collection, None),):
            bisect.insort(self._order.setdefault(key, []), seq)

    def _unindex(self, collection: str, parent: str | None, seq: int) -> None:
        for key in ((collection, None), (collection, parent)) if parent is not None else ((collection, None),):
            seqs = self._order.get(key)
            if seqs:
                position = bisect.bisect_left(seqs, seq)
                if position < len(seqs) and seqs[position] == seq:
                    seqs.pop(position)
                if not seqs:
                    del self._order[key]

    def _remove(self, collection: str, id: str) -> _Entry | None:
        entry = self._docs.pop((collection, id), None)
        if entry is not None:
            self._unindex(collection, entry.parent, entry.seq)
            self._ids.pop(entry.seq, None)
            self._sorted_ids[collection].remove(id)
        return entry

    def _expired(self, entry: _Entry) -> bool:
        return entry.expires_at is not None and entry.expires_at <= self.clock()

    def _live(self, collection: str, id: str) -> _Entry | None:
        entry = self._docs.get((collection, id))
        if entry is not None and self._expired(entry):
            self._remove(collection, id)
            return None
        return entry

    # -- the interface ----------------------------------------------------------------------------------------------

    def put(self, collection: str, id: str, doc: Doc, *, parent: str | None = None,
            created_at: float, ttl_seconds: float | None = None) -> None:
        body = _compact(orjson.dumps(doc))
        expires_at = self._expires_at(created_at, ttl_seconds)
        with self._lock:
            old = self._live(collection, id)
            if old is None:
                self._seq += 1
                entry = _Entry(body, parent, self._seq, created_at, expires_at)
                self._docs[(collection, id)] = entry
                self._ids[entry.seq] = id
                self._index(collection, parent, entry.seq)
                self._sorted_ids.setdefault(collection, SortedList()).add(id)
                return
            if old.parent != parent:
                self._unindex(collection, old.parent, old.seq)
                self._index(collection, parent, old.seq)
            old.body, old.parent, old.created_at, old.expires_at = body, parent, created_at, expires_at

    def put_many(self, entries, *, created_at: float, ttl_seconds: float | None = None) -> None:
        with self._lock:  # one lock hold: no reader sees part of the batch
            super().put_many(entries, created_at=created_at, ttl_seconds=ttl_seconds)

    def get(self, collection: str, id: str) -> Doc | None:
        with self._lock:
            entry = self._live(collection, id)
            return None if entry is None else orjson.loads(entry.body)

    def delete(self, collection: str, id: str) -> bool:
        with self._lock:
            if self._live(collection, id) is None:
                return False
            self._remove(collection, id)
            return True

    def update(self, collection: str, id: str, change: Change) -> Doc | None:
        with self._lock:
            entry = self._live(collection, id)
            if entry is None:
                return None
            new = change(orjson.loads(entry.body))
            if new is not None:
                entry.body = _compact(orjson.dumps(new))
            return orjson.loads(entry.body)

    def list(self, collection: str, *, parent: str | None = None, order: str = "desc", after: str | None = None,
             limit: int = 20, where: Where | None = None) -> tuple[list[Doc], bool]:
        check_order(order)
        with self._lock:
            seqs = self._order.get((collection, parent), [])
            if after is not None:
                anchor = self._live(collection, after)
                if anchor is None or (parent is not None and anchor.parent != parent):
                    return [], False
                position = bisect.bisect_left(seqs, anchor.seq)
                positions = range(position + 1, len(seqs)) if order == "asc" else range(position - 1, -1, -1)
            else:
                positions = range(len(seqs)) if order == "asc" else range(len(seqs) - 1, -1, -1)
            found: list[Doc] = []
            expired: list[str] = []
            more = False
            for index in positions:
                id = self._ids[seqs[index]]
                entry = self._docs[(collection, id)]
                if self._expired(entry):
                    expired.append(id)
                    continue
                doc = orjson.loads(entry.body)
                if where is None or where(doc):
                    if len(found) == limit:
                        more = True
                        break
                    found.append(doc)
            for id in expired:
                self._remove(collection, id)
            return found, more

    def with_id_prefix(self, collection: str, prefix: str, *, limit: int = 20) -> list[Doc]:
        with self._lock:
            ids = self._sorted_ids.get(collection, SortedList())
            end = prefix_end(prefix)
            found: list[Doc] = []
            expired: list[str] = []
            for id in ids.irange(prefix, end, inclusive=(True, False)):
                entry = self._docs[(collection, id)]
                if self._expired(entry):
                    expired.append(id)  # removed after the walk, which a removal would disturb
                    continue
                found.append(orjson.loads(entry.body))
                if len(found) == limit:
                    break
            for id in expired:
                self._remove(collection, id)
            return found

    def delete_children(self, collection: str, parent: str) -> int:
        with self._lock:
            live = 0
            for seq in list(self._order.get((collection, parent), [])):
                id = self._ids[seq]
                if not self._expired(self._docs[(collection, id)]):
                    live += 1
                self._remove(collection, id)
            return live

    def purge_expired(self) -> int:
        with self._lock:
            expired = [key for key, entry in self._docs.items() if self._expired(entry)]
            for collection, id in expired:
                self._remove(collection, id)
            return len(expired)

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()
            self._ids.clear()
            self._order.clear()
            self._sorted_ids.clear()
