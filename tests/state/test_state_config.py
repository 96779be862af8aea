"""The `state.*` settings: defaults, validation, and which store `open_store` opens for them."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time

import pytest
from sentra_openai.config import ConfigError, load_settings
from sentra_openai.state import MemoryStore, default_sqlite_path, open_store
from sentra_openai.state.sqlite import SqliteStore


def test_defaults() -> None:
    state = load_settings(environ={}).state
    assert (state.store, state.path, state.redis_url, state.ttl_seconds) == ("sqlite", None, None, 2592000.0)


def test_the_default_sqlite_file_is_per_port_in_the_temp_dir() -> None:
    settings = load_settings(environ={}, cli={"server.port": 18123})
    store = open_store(settings)
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == default_sqlite_path(18123)
        assert store.path.startswith(tempfile.gettempdir()) and "18123" in store.path
    finally:
        store.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(default_sqlite_path(18123) + suffix)


def test_path_from_config_and_environment(tmp_path) -> None:
    from_cli = load_settings(environ={}, cli={"state.path": str(tmp_path / "a.db")})
    assert open_store(from_cli).path == str(tmp_path / "a.db")
    from_env = load_settings(environ={"SENTRA_STATE_PATH": str(tmp_path / "b.db")})
    assert from_env.state.path == str(tmp_path / "b.db")


def test_memory_store_and_its_ttl() -> None:
    store = open_store(load_settings(environ={}, cli={"state.store": "memory", "state.ttl_seconds": 5}))
    assert isinstance(store, MemoryStore) and store.default_ttl == 5
    assert open_store(load_settings(environ={}, cli={"state.store": "memory", "state.ttl_seconds": 0})).default_ttl is None


@pytest.mark.parametrize("cli, message", [
    ({"state.store": "postgres"}, "state.store: expected one of memory, sqlite, redis"),
    ({"state.store": "memory", "server.processes": 2}, "state.store: expected sqlite or redis with several processes"),
    ({"state.ttl_seconds": -1}, "state.ttl_seconds"),
])
def test_invalid_settings_are_refused(cli, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(environ={}, cli=cli)


def test_redis_url_falls_back_to_the_limiter_s(monkeypatch) -> None:
    pytest.importorskip("redis")
    settings = load_settings(environ={}, cli={"state.store": "redis", "rate_limiting.redis_url": "redis://127.0.0.1:1/0"})
    store = open_store(settings)  # connects lazily: nothing listens there, and nothing has been asked yet
    assert store.client.connection_pool.connection_kwargs["port"] == 1
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ValueError, match="state.redis_url"):
        open_store(load_settings(environ={}, cli={"state.store": "redis"}))


@pytest.mark.parametrize(("name", "level"), [("off", 0), ("normal", 1), ("full", 2)])
def test_state_synchronous_sets_how_the_sqlite_file_commits(tmp_path, name: str, level: int) -> None:
    settings = load_settings(environ={}, cli={"state.path": str(tmp_path / "s.sqlite3"), "state.synchronous": name})
    store = open_store(settings)
    try:
        store.put("responses", "resp_1", {"id": "resp_1"}, created_at=time.time())
        with store._use() as conn:
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == level
        assert store.get("responses", "resp_1") == {"id": "resp_1"}
    finally:
        store.close()


def test_state_synchronous_must_be_a_level_the_store_offers() -> None:
    assert load_settings(environ={}).state.synchronous == "normal"
    with pytest.raises(ConfigError, match="state.synchronous"):
        load_settings(environ={}, cli={"state.synchronous": "extra"})
