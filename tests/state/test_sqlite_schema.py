"""The SQLite file's indexes: a row without a parent is in no parent index (each index of a row is another page
written at its commit), lookups by parent still use one, and a file written before that change keeps working."""

from __future__ import annotations

import sqlite3

from sentra_openai.state.sqlite import SqliteStore

# The schema of the stores before the parent index became partial (its rows and index as they were written).
OLD_SCHEMA = """
CREATE TABLE docs (seq INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, id TEXT NOT NULL, parent TEXT,
    created_at REAL NOT NULL, expires_at REAL, body BLOB NOT NULL, UNIQUE (collection, id));
CREATE INDEX docs_by_parent ON docs (collection, parent, seq);
CREATE INDEX docs_by_expiry ON docs (expires_at) WHERE expires_at IS NOT NULL;
INSERT INTO docs (collection, id, parent, created_at, expires_at, body) VALUES
    ('responses', 'resp_0123456789abcdef0069000000aa', '0123456789abcdef', 1.0, NULL, '{"n":1}'),
    ('items', 'msg_mine', 'resp_0123456789abcdef0069000000aa', 1.0, NULL, '{"n":2}');
"""


def indexes(path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))


def test_a_file_of_the_old_schema_loses_its_full_parent_index_and_keeps_its_rows(tmp_path) -> None:
    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    store = SqliteStore(str(path))
    assert set(indexes(path)) == {"docs_of_parents", "docs_by_expiry"}
    assert store.with_id_prefix("responses", "resp_0123456789abcdef") == [{"n": 1}]
    assert store.list("items", parent="resp_0123456789abcdef0069000000aa") == ([{"n": 2}], False)
    assert store.get("responses", "resp_0123456789abcdef0069000000aa") == {"n": 1}
    store.close()


def test_rows_without_a_parent_are_left_out_of_the_parent_index_which_lookups_by_parent_still_use(tmp_path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(str(path))
    store.put_many([("responses", f"resp_{n:04x}", {"n": n}, None) for n in range(50)], created_at=1.0)
    store.put_many([("items", f"msg_{n}", {"n": n}, "conv_a") for n in range(3)], created_at=1.0)
    with sqlite3.connect(path) as conn:
        conn.execute("ANALYZE")  # sqlite_stat1: an index's entries are the first number of its stat
        entries = conn.execute("SELECT stat FROM sqlite_stat1 WHERE idx = 'docs_of_parents'").fetchone()[0]
        assert entries.split()[0] == "3"
        plan = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq, body FROM docs WHERE collection = ? AND parent = ? AND seq < ? "
            "ORDER BY seq DESC LIMIT 21", ("items", "conv_a", 2**62)))
    assert "USING INDEX docs_of_parents" in plan, plan
    assert store.list("items", parent="conv_a", order="asc")[0] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len(store.with_id_prefix("responses", "resp_00", limit=100)) == 50
    store.close()
