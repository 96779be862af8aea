"""The SQLite store keeps one connection per process: the server runs handlers on short-lived threads, and a
connection per thread would mean opening a connection (and a file handle) per request."""

from __future__ import annotations

import threading

from sentra_openai.state.sqlite import SqliteStore


def test_requests_on_new_threads_share_one_connection(tmp_path) -> None:
    store = SqliteStore(str(tmp_path / "state.sqlite3"))
    opened = []
    real_open = store._open
    store._open = lambda: opened.append(1) or real_open()  # type: ignore[method-assign]
    store.put("docs", "a", {"n": 1}, created_at=0.0)

    def one_request() -> None:
        assert store.get("docs", "a") == {"n": 1}
        store.put("docs", threading.current_thread().name, {"n": 2}, created_at=0.0)

    threads = [threading.Thread(target=one_request) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 1
    assert store.list("docs", limit=100)[0].__len__() == 51
    store.close()
