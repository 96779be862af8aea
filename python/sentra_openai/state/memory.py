"""The in-memory store: one process only (tests, `--processes 1` when asked for)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import orjson

from .base import Change, Doc, StateStore, Where, check_order


@dataclass
class _Entry:
    body: bytes  # stored serialized, as the other stores do: a caller never shares a mutable document with the store
    parent: str | None
    seq: int
    created_at: float
    expires_at: float | None


class MemoryStore(StateStore):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._docs: dict[tuple[str, str], _Entry] = {}
        self._seq = 0
        self._lock = threading.RLock()

    def _live(self, collection: str, id: str) -> _Entry | None:
        entry = self._docs.get((collection, id))
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.clock():
            del self._docs[(collection, id)]
            return None
        return entry

    def put(self, collection: str, id: str, doc: Doc, *, parent: str | None = None,
            created_at: float, ttl_seconds: float | None = None) -> None:
        body = orjson.dumps(doc)
        with self._lock:
            old = self._live(collection, id)
            if old is None:
                self._seq += 1
                seq = self._seq
            else:
                seq = old.seq
            self._docs[(collection, id)] = _Entry(body, parent, seq, created_at,
                                                  self._expires_at(created_at, ttl_seconds))

    def get(self, collection: str, id: str) -> Doc | None:
        with self._lock:
            entry = self._live(collection, id)
            return None if entry is None else orjson.loads(entry.body)

    def delete(self, collection: str, id: str) -> bool:
        with self._lock:
            if self._live(collection, id) is None:
                return False
            del self._docs[(collection, id)]
            return True

    def update(self, collection: str, id: str, change: Change) -> Doc | None:
        with self._lock:
            entry = self._live(collection, id)
            if entry is None:
                return None
            new = change(orjson.loads(entry.body))
            if new is not None:
                entry.body = orjson.dumps(new)
            return orjson.loads(entry.body)

    def list(self, collection: str, *, parent: str | None = None, order: str = "desc", after: str | None = None,
             limit: int = 20, where: Where | None = None) -> tuple[list[Doc], bool]:
        check_order(order)
        with self._lock:
            now = self.clock()
            entries = sorted(
                ((key[1], e) for key, e in self._docs.items()
                 if key[0] == collection and (parent is None or e.parent == parent)
                 and (e.expires_at is None or e.expires_at > now)),
                key=lambda pair: pair[1].seq, reverse=order == "desc")
        if after is not None:
            position = next((i for i, (id, _) in enumerate(entries) if id == after), None)
            if position is None:
                return [], False
            entries = entries[position + 1:]
        found: list[Doc] = []
        for _, entry in entries:
            doc = orjson.loads(entry.body)
            if where is None or where(doc):
                if len(found) == limit:
                    return found, True
                found.append(doc)
        return found, False

    def delete_children(self, collection: str, parent: str) -> int:
        with self._lock:
            now = self.clock()
            keys = [k for k, e in self._docs.items() if k[0] == collection and e.parent == parent]
            live = sum(1 for k in keys if self._docs[k].expires_at is None or self._docs[k].expires_at > now)
            for key in keys:
                del self._docs[key]
            return live

    def purge_expired(self) -> int:
        with self._lock:
            now = self.clock()
            expired = [k for k, e in self._docs.items() if e.expires_at is not None and e.expires_at <= now]
            for key in expired:
                del self._docs[key]
            return len(expired)

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()
