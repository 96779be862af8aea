"""A Hypothesis state machine drives each store (memory, sqlite, redis) against a plain-Python model of the
interface in STATE_API.md: put / get / delete / update / list (parent, order, after, limit, where) /
with_id_prefix / delete_children / clear, with documents expiring as a driven clock passes their TTL."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from stores import make_store

DEFAULT_TTL = 100.0
COLLECTIONS = st.sampled_from(["responses", "items"])
IDS = st.sampled_from(["a", "ab", "abc", "b", "ba", "\U0010ffff", "\U0010ffffx", "\ud7ffz"])  # prefixes of each other
PREFIXES = st.sampled_from(["", "a", "ab", "b", "c", "\U0010ffff", "\ud7ff"])
PARENTS = st.sampled_from([None, "p1", "p2"])
TTLS = st.sampled_from([None, 0, 5.0, 30.0, 250.0])


class Model:
    """What the interface promises, in the plainest Python."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], dict] = {}  # key -> {doc, parent, seq, expires_at}
        self.seq = 0
        self.now = 1_000_000.0

    def alive(self, key) -> dict | None:
        entry = self.docs.get(key)
        if entry is None:
            return None
        if entry["expires_at"] is not None and entry["expires_at"] <= self.now:
            del self.docs[key]
            return None
        return entry

    def put(self, collection, id, doc, parent, ttl) -> None:
        old = self.alive((collection, id))
        if old is None:
            self.seq += 1
        ttl = DEFAULT_TTL if ttl is None else (ttl if ttl > 0 else None)
        self.docs[(collection, id)] = {"doc": doc, "parent": parent, "seq": old["seq"] if old else self.seq,
                                       "expires_at": None if ttl is None else self.now + ttl}

    def list(self, collection, parent, order, after, limit, where):
        keys = [k for k in list(self.docs) if k[0] == collection and self.alive(k)
                and (parent is None or self.docs[k]["parent"] == parent)]
        keys.sort(key=lambda k: self.docs[k]["seq"], reverse=order == "desc")
        ids = [k[1] for k in keys]
        if after is not None:
            if after not in ids:
                return [], False
            keys = keys[ids.index(after) + 1:]
        docs = [self.docs[k]["doc"] for k in keys if where is None or where(self.docs[k]["doc"])]
        return docs[:limit], len(docs) > limit


def even_n(doc: dict) -> bool:
    return doc["n"] % 2 == 0


class StoreMachine(RuleBasedStateMachine):
    kind = "memory"
    redis_url: str | None = None

    @initialize()
    def open(self) -> None:
        self.model = Model()
        self.tmp = tempfile.TemporaryDirectory()
        self.store = make_store(self.kind, Path(self.tmp.name), self.redis_url, clock=lambda: self.model.now,
                                default_ttl=DEFAULT_TTL)
        self.counter = 0

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.clear()
            self.store.close()
            self.tmp.cleanup()

    @rule(collection=COLLECTIONS, id=IDS, parent=PARENTS, ttl=TTLS)
    def put(self, collection, id, parent, ttl) -> None:
        self.counter += 1
        doc = {"id": id, "n": self.counter, "nested": {"list": [self.counter, "x"]}}
        self.store.put(collection, id, doc, parent=parent, created_at=self.model.now, ttl_seconds=ttl)
        self.model.put(collection, id, doc, parent, ttl)

    @rule(entries=st.lists(st.tuples(COLLECTIONS, IDS, PARENTS), min_size=1, max_size=4), ttl=TTLS)
    def put_many(self, entries, ttl) -> None:
        batch = []
        for collection, id, parent in entries:
            self.counter += 1
            batch.append((collection, id, {"id": id, "n": self.counter, "batch": True}, parent))
        self.store.put_many(batch, created_at=self.model.now, ttl_seconds=ttl)
        for collection, id, doc, parent in batch:  # as puts one after another (a repeated id: the last wins)
            self.model.put(collection, id, doc, parent, ttl)

    @rule(collection=COLLECTIONS, id=IDS)
    def get(self, collection, id) -> None:
        entry = self.model.alive((collection, id))
        assert self.store.get(collection, id) == (entry["doc"] if entry else None)

    @rule(collection=COLLECTIONS, id=IDS)
    def delete(self, collection, id) -> None:
        existed = self.model.alive((collection, id)) is not None
        self.model.docs.pop((collection, id), None)
        assert self.store.delete(collection, id) is existed

    @rule(collection=COLLECTIONS, id=IDS, leave=st.booleans())
    def update(self, collection, id, leave) -> None:
        entry = self.model.alive((collection, id))

        def change(doc):
            return None if leave else {**doc, "n": doc["n"] + 1, "updated": True}

        result = self.store.update(collection, id, change)
        if entry is None:
            assert result is None
        else:
            if not leave:
                entry["doc"] = change(entry["doc"])
            assert result == entry["doc"]

    @rule(collection=COLLECTIONS, parent=PARENTS, order=st.sampled_from(["asc", "desc"]),
          after=st.one_of(st.none(), IDS), limit=st.integers(1, 7), filtered=st.booleans())
    def list(self, collection, parent, order, after, limit, filtered) -> None:
        where = even_n if filtered else None
        expected = self.model.list(collection, parent, order, after, limit, where)
        assert self.store.list(collection, parent=parent, order=order, after=after, limit=limit,
                               where=where) == expected

    @rule(collection=COLLECTIONS, prefix=PREFIXES, limit=st.integers(1, 4))
    def with_id_prefix(self, collection, prefix, limit) -> None:
        ids = sorted(k[1] for k in list(self.model.docs) if k[0] == collection and k[1].startswith(prefix)
                     and self.model.alive(k))
        expected = [self.model.docs[(collection, id)]["doc"] for id in ids[:limit]]
        assert self.store.with_id_prefix(collection, prefix, limit=limit) == expected

    @rule(collection=COLLECTIONS, parent=st.sampled_from(["p1", "p2"]))
    def delete_children(self, collection, parent) -> None:
        keys = [k for k in list(self.model.docs) if k[0] == collection and self.model.docs[k]["parent"] == parent]
        live = sum(1 for k in keys if self.model.alive(k))
        for key in keys:
            self.model.docs.pop(key, None)
        assert self.store.delete_children(collection, parent) == live

    @rule(seconds=st.sampled_from([1.0, 4.0, 10.0, 60.0]))
    def advance(self, seconds) -> None:
        self.model.now += seconds

    @rule()
    def purge_expired(self) -> None:
        self.store.purge_expired()  # frees storage only: nothing visible changes

    @precondition(lambda self: self.counter % 7 == 3)
    @rule()
    def clear(self) -> None:
        self.store.clear()
        self.model.docs.clear()

    @invariant()
    def full_listing_agrees(self) -> None:
        if not hasattr(self, "store"):
            return
        for collection in ("responses", "items"):
            expected = self.model.list(collection, None, "asc", None, 1000, None)
            assert self.store.list(collection, order="asc", limit=1000) == expected


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_store_matches_the_model(kind, request) -> None:
    machine = type(f"{kind.title()}StoreMachine", (StoreMachine,), {"kind": kind})
    if kind == "redis":
        machine.redis_url = request.getfixturevalue("state_redis_url")
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(
        max_examples=60 if kind != "redis" else 40, stateful_step_count=30, deadline=None,
        suppress_health_check=list(HealthCheck)))


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_purge_leaves_nothing_of_expired_documents(kind, request, tmp_path) -> None:
    url = request.getfixturevalue("state_redis_url") if kind == "redis" else None
    now = [1_000_000.0]
    store = make_store(kind, tmp_path, url, clock=lambda: now[0], default_ttl=10)
    for n in range(30):
        store.put("docs", f"d{n}", {"n": n}, parent=f"p{n % 3}", created_at=now[0])
    store.put("docs", "kept", {"n": -1}, parent="p0", created_at=now[0], ttl_seconds=0)
    now[0] += 11
    assert store.purge_expired() == 30
    assert store.list("docs", limit=100) == ([{"n": -1}], False)
    assert store.list("docs", parent="p0", limit=100) == ([{"n": -1}], False)
    assert store.with_id_prefix("docs", "", limit=100) == [{"n": -1}]
    if kind == "sqlite":
        with store._use() as conn:
            assert conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0] == 1
    if kind == "redis":
        keys = sorted(k.decode().removeprefix(store.prefix) for k in store.client.keys(store.prefix + "*"))
        assert keys == ["children:docs:p0", "doc:docs:kept", "ids-complete:docs", "ids:docs", "order:docs", "seq"]
        assert store.client.zcard(store.prefix + "ids:docs") == 1
        assert store.client.zcard(store.prefix + "order:docs") == 1
    store.clear()
    store.close()


def test_a_redis_store_written_before_its_id_index_finds_those_documents_by_id_prefix(state_redis_url) -> None:
    from sentra_openai.state.redis_store import RedisStore

    old = RedisStore(state_redis_url, prefix="sentra:test-ids:")
    old.clear()
    old.put_many([("responses", f"resp_{n:02d}", {"n": n}, None) for n in range(30)], created_at=0.0)
    old.client.delete(old.prefix + "ids:responses")  # as a version without the index left it
    new = RedisStore(state_redis_url, prefix="sentra:test-ids:")
    assert new.with_id_prefix("responses", "resp_1", limit=100) == [{"n": n} for n in range(10, 20)]
    new.put("responses", "resp_1x", {"n": 99}, created_at=0.0)
    assert new.with_id_prefix("responses", "resp_1x") == [{"n": 99}]
    old.delete("responses", "resp_15")
    assert len(new.with_id_prefix("responses", "resp_1", limit=100)) == 10
    new.clear()
    new.close()
    old.close()
