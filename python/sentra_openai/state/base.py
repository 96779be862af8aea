"""The StateStore interface (/tmp/team/STATE_API.md): JSON documents by (collection, id), ordered by insertion."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Doc = dict[str, Any]
Change = Callable[[Doc], "Doc | None"]
Where = Callable[[Doc], bool]


class StateStore:
    """JSON documents by (collection, id). A write returns only once it is durable and visible to every worker.

    Each document also has a `parent` (an optional owner id, e.g. the conversation of an item), an insertion sequence
    (the order `list` uses), `created_at` and `expires_at` (wall-clock epoch seconds; None: never). An expired
    document is absent for every operation. `ttl_seconds=None` on `put` means the store's default TTL; 0 or less
    means the document never expires.
    """

    def __init__(self, *, default_ttl: float | None = None, clock: Callable[[], float] | None = None) -> None:
        import time

        self.default_ttl = default_ttl if default_ttl and default_ttl > 0 else None
        self.clock = clock or time.time

    def _expires_at(self, created_at: float, ttl_seconds: float | None) -> float | None:
        ttl = self.default_ttl if ttl_seconds is None else (ttl_seconds if ttl_seconds > 0 else None)
        return None if ttl is None else created_at + ttl

    def put(self, collection: str, id: str, doc: Doc, *, parent: str | None = None,
            created_at: float, ttl_seconds: float | None = None) -> None:
        """Inserts or replaces; a replace keeps the original insertion sequence."""
        raise NotImplementedError

    def put_many(self, entries: Iterable[tuple[str, str, Doc, str | None]], *, created_at: float,
                 ttl_seconds: float | None = None) -> None:
        """Several puts, (collection, id, doc, parent) each, as one write: all become visible together (one
        transaction in sqlite, one MULTI in Redis), far cheaper than one put each."""
        for collection, id, doc, parent in entries:
            self.put(collection, id, doc, parent=parent, created_at=created_at, ttl_seconds=ttl_seconds)

    def get(self, collection: str, id: str) -> Doc | None:
        """The document, or None when absent or expired."""
        raise NotImplementedError

    def delete(self, collection: str, id: str) -> bool:
        """True when the document existed (and had not expired)."""
        raise NotImplementedError

    def update(self, collection: str, id: str, change: Change) -> Doc | None:
        """Atomic read-modify-write: no other writer, in any process, interleaves. `change` returns the new document
        or None to leave it; returns the stored document afterwards (None when absent)."""
        raise NotImplementedError

    def list(self, collection: str, *, parent: str | None = None, order: str = "desc", after: str | None = None,
             limit: int = 20, where: Where | None = None) -> tuple[list[Doc], bool]:
        """Documents of `collection` (with that parent, when given) in insertion order ("asc") or reverse ("desc"),
        starting after the document `after` (in that order; an unknown `after` gives nothing), at most `limit`,
        filtered by `where`; returns (docs, has_more)."""
        raise NotImplementedError

    def with_id_prefix(self, collection: str, prefix: str, *, limit: int = 20) -> list[Doc]:
        """At most `limit` documents of `collection` whose id starts with `prefix`, in the order of their ids: a
        lookup by part of an id that needs no index beyond the ids' own."""
        raise NotImplementedError

    def delete_children(self, collection: str, parent: str) -> int:
        """Deletes every document of `collection` with that parent; returns how many there were."""
        raise NotImplementedError

    def clear(self) -> None:
        """Deletes everything (the control API's reset)."""
        raise NotImplementedError

    def purge_expired(self) -> int:
        """Frees what expired documents still hold (they are invisible already); returns how many were removed.
        The stores also do this by themselves now and then, on writes."""
        return 0

    def close(self) -> None:
        pass


def check_order(order: str) -> None:
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` (code point order, which is UTF-8 byte order,
    SQLite's and Redis's), or None when there is none (the empty prefix, or one of only U+10FFFF)."""
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return None
    successor = ord(stem[-1]) + 1
    if 0xD800 <= successor <= 0xDFFF:  # surrogates are never in a str that can be encoded
        successor = 0xE000
    return stem[:-1] + chr(successor)
