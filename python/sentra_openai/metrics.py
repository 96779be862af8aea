"""Prometheus metrics of design.md, exact across worker processes without a file write or a lock per request.

Each worker adds every request's Record to plain in-memory totals (one table per OS thread, so no increment is ever
lost to a thread switch and none needs a lock). Its publisher thread serves those totals on a Unix socket in a directory
the supervisor shares with its workers, and writes them to a file there twice a second and when the worker drains.
A scrape (on the supervisor's metrics port) asks every live worker for its current totals, so it includes every
request answered before it began; a worker that is gone counts with the last totals it wrote.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from pathlib import Path
from threading import get_ident
from typing import Any, NamedTuple

import orjson

from .engine.core import Record

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
PUBLISH_SECONDS = 0.5  # how often a worker writes its totals (what a killed worker can lose)
SCRAPE_TIMEOUT_SECONDS = 2.0  # a worker busy with a long request still answers within its GIL switches
# A row of totals per (model, endpoint, status): these positions, then one count per latency bucket (+Inf last).
COUNT, LATENCY_SUM, INPUT, CACHED, OUTPUT, COST_PICO = range(6)
FIRST_BUCKET = 6
ROW_SIZE = FIRST_BUCKET + len(LATENCY_BUCKETS) + 1
DIRECTORY_ENV = "SENTRA_METRICS_DIR"


class Counter(NamedTuple):
    name: str
    help: str
    labels: list[str]


class Histogram(NamedTuple):
    name: str
    help: str
    labels: list[str]


# The metrics of README "Metrics and logs" (the deploy/ dashboard queries these names and labels).
REQUESTS = Counter("openai_mock_requests_total", "Requests answered", ["model", "endpoint", "status"])
LATENCY = Histogram("openai_mock_latency_seconds", "Simulated response time (to the last byte)", ["model", "endpoint"])
TOKENS = Counter("openai_mock_tokens_total", "Tokens billed", ["model", "type"])
COST = Counter("openai_mock_cost_usd_total", "Cost of the answered requests in USD", ["model"])
ERRORS = Counter("openai_mock_errors_total", "Error responses", ["model", "error_type"])
RATE_LIMIT_HITS = Counter("openai_mock_rate_limit_hits_total", "Requests refused by a rate limit", ["model", "limit"])

log = logging.getLogger("sentra_openai")
# (pid, directory) of the directory `prepare` created, so that only its creator removes it.
_owned: tuple[int, str] | None = None
_active: Metrics | None = None  # this process's metrics, for flush() at drain


def prepare() -> str:
    """Creates the directory the supervisor and its workers share (before the workers are forked)."""
    global _owned
    if os.environ.get(DIRECTORY_ENV):  # given by the user: its totals of an earlier run are not this run's
        directory = os.environ[DIRECTORY_ENV]
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("worker-*"):
            stale.unlink(missing_ok=True)
        return directory
    directory = tempfile.mkdtemp(prefix="sentra-openai-metrics-")
    os.environ[DIRECTORY_ENV] = directory
    _owned = (os.getpid(), directory)
    return directory


def cleanup() -> None:
    """Removes the directory this process created (workers share it and must leave it alone)."""
    if _owned is not None and _owned[0] == os.getpid():
        shutil.rmtree(_owned[1], ignore_errors=True)


def flush() -> None:
    """Writes this worker's totals now (at drain, before the process exits)."""
    if _active is not None:
        _active.publish()


class Totals:
    """One thread's totals: rows by (model, endpoint, status), errors by (model, type), limit hits by (model, limit)."""

    __slots__ = ("errors", "limits", "rows")

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], list] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.limits: dict[tuple[str, str], int] = {}


class Metrics:
    """The per-request observer of a serving process (an engine Observer)."""

    def __init__(self) -> None:
        global _active
        # By OS thread: Robyn calls handlers through PyGILState_Ensure, which gives each call a new Python thread state
        # (so a threading.local would be new on every request), but from a handful of OS threads.
        self._tables: dict[int, Totals] = {}
        self._publisher: _Publisher | None = None
        self._start_lock = threading.Lock()  # taken once per process, when its first request is observed
        _active = self
        # A forked worker starts from nothing of its parent's (the supervisor observes nothing, but be exact).
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._tables = {}
        self._publisher = None
        self._start_lock = threading.Lock()

    def _table(self) -> Totals:
        if self._publisher is None:
            self._start_publisher()
        table = self._tables[get_ident()] = Totals()  # one dict store: atomic for the publisher reading the dict
        return table

    def _start_publisher(self) -> None:
        with self._start_lock:
            if self._publisher is None:
                directory = os.environ.get(DIRECTORY_ENV)
                self._publisher = _Publisher(self, Path(directory) if directory else None)

    def observe(self, record: Record) -> None:
        self.add(record, 1)

    def add(self, record: Record, n: int) -> None:
        """Counts `n` requests that each did what `record` says (the front's replays come counted)."""
        table = self._tables.get(get_ident()) or self._table()
        model = record.model or "none"
        key = (model, record.endpoint, record.status)
        row = table.rows.get(key)
        if row is None:
            row = table.rows[key] = [0] * ROW_SIZE
            row[LATENCY_SUM] = 0.0
        latency = record.latency_s
        row[COUNT] += n
        row[LATENCY_SUM] += latency * n
        row[FIRST_BUCKET + bisect_left(LATENCY_BUCKETS, latency)] += n  # `le` buckets: value <= bound
        row[INPUT] += record.input_tokens * n
        row[CACHED] += record.cached_tokens * n
        row[OUTPUT] += record.output_tokens * n
        row[COST_PICO] += record.cost_picodollars * n
        if record.status >= 400 or record.error_type:
            error = (model, record.error_type or str(record.status))
            table.errors[error] = table.errors.get(error, 0) + n
        if record.rate_limited:
            limit = (model, record.rate_limited)
            table.limits[limit] = table.limits.get(limit, 0) + n

    def snapshot(self) -> dict[str, list]:
        """This process's totals, summed over its threads, as plain JSON-able lists."""
        rows: dict[tuple, list] = {}
        errors: dict[tuple, int] = {}
        limits: dict[tuple, int] = {}
        for table in list(self._tables.values()):
            for key, row in list(table.rows.items()):  # list(): copied in C, so no insert can intervene
                total = rows.setdefault(key, [0] * ROW_SIZE)
                for index, number in enumerate(list(row)):
                    total[index] += number
            for source, target in ((table.errors, errors), (table.limits, limits)):
                for pair, count in list(source.items()):
                    target[pair] = target.get(pair, 0) + count
        return {
            "requests": [[*key, *row] for key, row in rows.items()],
            "errors": [[*key, count] for key, count in errors.items()],
            "limits": [[*key, count] for key, count in limits.items()],
        }

    def publish(self) -> None:
        if self._publisher is not None:
            self._publisher.write()


class DrainingMetrics(Metrics):
    """The totals of a process that answers requests without observing them one by one (the front's replays,
    engine/replay.py): `drain()` yields (record, count) pairs of what was answered since it was last called, and
    every snapshot drains first, so a scrape counts every request answered before it began."""

    def __init__(self, drain: Callable[[], Iterable[tuple[Record, int]]]) -> None:
        super().__init__()
        self._drain = drain
        self._drain_lock = threading.Lock()  # the publisher's snapshots and the drain's flush

    def start(self) -> None:
        """Listens for scrapes now (a worker starts at its first request; this process observes none itself)."""
        self._start_publisher()

    def _table(self) -> Totals:
        # The publisher is started by `start`; a drain inside its first snapshot must not try to start it again.
        table = self._tables[get_ident()] = Totals()
        return table

    def snapshot(self) -> dict[str, list]:
        with self._drain_lock:
            for record, count in self._drain():
                self.add(record, count)
        return super().snapshot()


class _Publisher:
    """A worker's thread: answers scrapes on its socket with the live totals, and writes them to its file."""

    def __init__(self, metrics: Metrics, directory: Path | None) -> None:
        self.metrics = metrics
        self.directory = directory
        self._written = b""
        self._write_lock = threading.Lock()  # the thread's own writes and the drain's flush
        if directory is None:  # no shared directory (an engine observed in-process): totals stay in memory
            return
        pid = os.getpid()
        self.file = directory / f"worker-{pid}.json"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(directory / f"worker-{pid}.sock"))
        self.listener.listen(16)
        self.write()  # the file names this worker from its first request on
        threading.Thread(target=self._serve, name="sentra-metrics", daemon=True).start()

    def _serve(self) -> None:
        due = time.monotonic() + PUBLISH_SECONDS
        while True:
            self.listener.settimeout(max(0.001, due - time.monotonic()))
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                self.write()
                due = time.monotonic() + PUBLISH_SECONDS
                continue
            except OSError:
                return
            with connection:
                try:
                    connection.settimeout(SCRAPE_TIMEOUT_SECONDS)
                    connection.sendall(orjson.dumps(self.metrics.snapshot()))
                except OSError:
                    pass

    def write(self) -> None:
        if self.directory is None:
            return
        with self._write_lock:
            data = orjson.dumps(self.metrics.snapshot())
            if data == self._written:
                return
            partial = self.file.with_suffix(".tmp")
            partial.write_bytes(data)
            os.replace(partial, self.file)  # a scrape reads the old totals or the new, never half
            self._written = data


def _read_worker(directory: Path, pid: str) -> dict[str, Any] | None:
    """A worker's live totals from its socket, or the last it wrote when it no longer answers."""
    path = directory / f"worker-{pid}.sock"
    if path.exists():
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(SCRAPE_TIMEOUT_SECONDS)
                connection.connect(str(path))
                chunks = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
            return orjson.loads(b"".join(chunks))
        except (OSError, orjson.JSONDecodeError):
            pass
    try:
        return orjson.loads((directory / f"worker-{pid}.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def gather(directory: Path | None) -> list[dict[str, Any]]:
    """Every worker's totals (and this process's own, when it observed requests itself)."""
    found = []
    if directory is not None and directory.is_dir():
        pids = {path.name[len("worker-"):].split(".")[0] for path in directory.iterdir()
                if path.name.startswith("worker-") and path.suffix in (".json", ".sock")}
        pids.discard(str(os.getpid()))
        found = [totals for pid in sorted(pids) if (totals := _read_worker(directory, pid)) is not None]
    if _active is not None and _active._tables:
        found.append(_active.snapshot())
    return found


class Collector:
    """Sums the workers' totals into the six metric families of README "Metrics and logs", at each scrape."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        requests: dict[tuple, float] = {}
        latency: dict[tuple, list] = {}
        tokens: dict[tuple, int] = {}
        cost: dict[str, int] = {}
        errors: dict[tuple, int] = {}
        limits: dict[tuple, int] = {}
        for totals in gather(self.directory):
            for model, endpoint, status, *row in totals["requests"]:
                key = (model, endpoint, str(status))
                requests[key] = requests.get(key, 0) + row[COUNT]
                histogram = latency.setdefault((model, endpoint), [0.0] + [0] * (len(LATENCY_BUCKETS) + 1))
                histogram[0] += row[LATENCY_SUM]
                for index, count in enumerate(row[FIRST_BUCKET:]):
                    histogram[1 + index] += count
                for kind, position in (("input", INPUT), ("cached_input", CACHED), ("output", OUTPUT)):
                    tokens[(model, kind)] = tokens.get((model, kind), 0) + row[position]
                cost[model] = cost.get(model, 0) + row[COST_PICO]
            for target, entries in ((errors, totals["errors"]), (limits, totals["limits"])):
                for model, label, count in entries:
                    target[(model, label)] = target.get((model, label), 0) + count

        def counter(spec: Counter, values: dict) -> CounterMetricFamily:
            family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, number in values.items():
                family.add_metric(labels, number)
            return family

        yield counter(REQUESTS, requests)
        family = HistogramMetricFamily(LATENCY.name, LATENCY.help, labels=LATENCY.labels)
        bounds = [floatToGoString(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
        for labels, (total, *counts) in latency.items():
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, counts):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric(labels, buckets, total)
        yield family
        yield counter(TOKENS, tokens)
        yield counter(COST, {(model, ): picodollars / 1e12 for model, picodollars in cost.items()})
        yield counter(ERRORS, errors)
        yield counter(RATE_LIMIT_HITS, limits)


def start_server(port: int, host: str = "127.0.0.1") -> bool:
    """Serves /metrics on a thread; returns False (with a warning) when the port is taken: a busy metrics port, as
    with several simulators in one CI job, must not stop the API itself."""
    from prometheus_client import CollectorRegistry, start_http_server

    directory = os.environ.get(DIRECTORY_ENV)
    registry = CollectorRegistry()
    registry.register(Collector(Path(directory) if directory else None))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.warning("metrics disabled: cannot listen on %s:%d (%s)", host, port, exc.strerror or exc)
        return False
    return True
