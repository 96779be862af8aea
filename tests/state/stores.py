"""The three stores, built the same way for the state tests: memory, sqlite (a fresh file), redis (a fresh prefix)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from sentra_openai.state import MemoryStore, StateStore
from sentra_openai.state.sqlite import SqliteStore

KINDS = ("memory", "sqlite", "redis")
_fresh = itertools.count()


def make_store(kind: str, tmp: Path, redis_url: str | None, *, clock: Callable[[], float] | None = None,
               default_ttl: float | None = None) -> StateStore:
    n = next(_fresh)
    if kind == "memory":
        return MemoryStore(clock=clock, default_ttl=default_ttl)
    if kind == "sqlite":
        return SqliteStore(str(tmp / f"state-{n}.sqlite3"), clock=clock, default_ttl=default_ttl)
    from sentra_openai.state.redis_store import RedisStore

    assert redis_url is not None
    return RedisStore(redis_url, prefix=f"test:{n}:", clock=clock, default_ttl=default_ttl)
