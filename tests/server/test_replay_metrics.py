"""The front process's metrics (metrics.DrainingMetrics): the replays the front answered itself count exactly as if a
worker had observed each one, and a scrape drains them first, so it counts every replay answered before it began."""

from __future__ import annotations

import os
import threading

import orjson
from sentra_openai import metrics
from sentra_openai.engine.core import Record
from sentra_openai.engine.replay import replayed_record

TAG = orjson.dumps(["gpt-4o-mini", "chat.completions", 200, 12, 0, 30, 21_000_000])


def one_by_one(records: list[tuple[Record, int]]) -> dict:
    observed = metrics.Metrics()
    for record, count in records:
        for _ in range(count):
            observed.observe(record)
    return observed.snapshot()


def test_n_identical_records_at_once_are_n_observations(monkeypatch):
    monkeypatch.delenv(metrics.DIRECTORY_ENV, raising=False)  # totals in memory only
    records = [(replayed_record(TAG, 3), 5), (replayed_record(TAG, 40), 2),
               (Record("", "POST", "", "responses", status=429, model="gpt-4o", error_type="rate_limit_exceeded",
                       rate_limited="rpm", latency_s=0.2), 3)]
    added = metrics.Metrics()
    for record, count in records:
        added.add(record, count)
    assert added.snapshot() == one_by_one(records)


def test_a_scrape_counts_every_replay_answered_before_it(monkeypatch, tmp_path):
    monkeypatch.delenv(metrics.DIRECTORY_ENV, raising=False)
    expected = one_by_one([(replayed_record(TAG, 4), 4), (replayed_record(TAG, 900), 2)])
    monkeypatch.setenv(metrics.DIRECTORY_ENV, str(tmp_path))
    answered: list[tuple[bytes, int, int]] = []  # what the front counted since the last take_replays()
    lock = threading.Lock()

    def take_replays():
        with lock:
            taken = answered[:]
            answered.clear()
        return [(replayed_record(tag, ms), count) for tag, ms, count in taken]

    def answer(*replays) -> None:
        with lock:
            answered.extend(replays)

    metrics.DrainingMetrics(take_replays).start()  # listens at once: a scrape finds this process before any replay
    pid = str(os.getpid())
    answer((TAG, 4, 3))
    (row,) = metrics._read_worker(tmp_path, pid)["requests"]  # a scrape asks it over its socket, as it asks a worker
    assert row[:3] == ["gpt-4o-mini", "chat.completions", 200] and row[3 + metrics.COUNT] == 3
    answer((TAG, 4, 1), (TAG, 900, 2))
    totals = metrics._read_worker(tmp_path, pid)
    assert totals == orjson.loads(orjson.dumps(expected))
    (row,) = totals["requests"]
    assert row[3 + metrics.COUNT] == 6 and row[3 + metrics.OUTPUT] == 180 and row[3 + metrics.COST_PICO] == 126_000_000
