"""The memory store keeps a document in about its serialized size: a load test that stores every response
(store: true, the default on /v1/responses) must not grow the server ~20x faster than the documents it keeps
(orjson's output keeps its whole write buffer: issue 12)."""

from __future__ import annotations

import tracemalloc

from sentra_openai.state import MemoryStore


def test_a_kept_document_costs_about_its_serialized_size():
    store = MemoryStore()
    doc = {"id": "resp_x", "output": [{"type": "message", "text": "word " * 120}], "usage": {"input_tokens": 9}}
    count = 300
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(count):
            store.put("responses", f"resp_{index}", doc, created_at=0.0)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    size = sum(len(store._docs[("responses", f"resp_{index}")].body) for index in range(count))
    assert store.get("responses", "resp_7") == doc
    # The bytes themselves plus the entry and index bookkeeping (a few hundred bytes each), not a 16 KiB buffer each.
    assert grown < 2 * size, (grown, size)
