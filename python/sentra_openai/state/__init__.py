"""The state store: JSON documents shared by every worker (memory | sqlite | redis). See /tmp/team/STATE_API.md."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import StateStore
from .memory import MemoryStore

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["MemoryStore", "StateStore", "default_sqlite_path", "open_store", "sqlite_path"]


def default_sqlite_path(port: int) -> str:
    """One file per server port in the system temp dir: every worker of that server shares it, and it outlives a
    restart (as OpenAI's stored responses outlive a connection)."""
    return os.path.join(tempfile.gettempdir(), f"sentra-openai-{port}.state.sqlite3")


def sqlite_path(settings: Settings) -> str:
    """The SQLite file of `settings.state` (the workers' store, and the one the front writes replayed rows to)."""
    return settings.state.path or default_sqlite_path(settings.server.port)


def open_store(settings: Settings, *, clock: Callable[[], float] | None = None) -> StateStore:
    """The store `settings.state` names. `clock` gives wall-clock epoch seconds (for expiry); default time.time."""
    state = settings.state
    common: dict[str, Any] = {"default_ttl": state.ttl_seconds, "clock": clock or time.time}
    if state.store == "memory":
        return MemoryStore(**common)
    if state.store == "sqlite":
        from .sqlite import SqliteStore

        return SqliteStore(sqlite_path(settings), synchronous=state.synchronous, **common)
    if state.store == "redis":
        from .redis_store import RedisStore

        url = state.redis_url or settings.rate_limiting.redis_url or os.environ.get("REDIS_URL")
        if not url:
            raise ValueError("state.store is redis but neither state.redis_url nor rate_limiting.redis_url is set")
        return RedisStore(url, **common)
    raise ValueError(f"unknown state.store {state.store!r}")
