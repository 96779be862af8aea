"""Prometheus metrics of design.md, correct across processes (prometheus-client's multiprocess mode).

The server answers from worker processes (server/app.py); each writes its samples to files in PROMETHEUS_MULTIPROC_DIR
and the parent's metrics endpoint sums them. That directory must be set before prometheus_client is imported, hence
`prepare()`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from .engine.core import Record

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# (pid, directory) of the multiprocess directory `prepare` created, so that only its creator removes it.
_owned: tuple[int, str] | None = None


def prepare() -> str:
    """Sets up multiprocess collection (the server always serves from worker processes); returns the directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return os.environ["PROMETHEUS_MULTIPROC_DIR"]
    global _owned
    directory = tempfile.mkdtemp(prefix="sentra-openai-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    _owned = (os.getpid(), directory)
    return directory


def cleanup() -> None:
    """Removes the multiprocess directory this process created (workers share it and must leave it alone)."""
    if _owned is not None and _owned[0] == os.getpid():
        shutil.rmtree(_owned[1], ignore_errors=True)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self._cache: dict[tuple, tuple] = {}

        self.requests = Counter("openai_mock_requests_total", "Requests answered", ["model", "endpoint", "status"])
        self.latency = Histogram(
            "openai_mock_latency_seconds", "Simulated response time (to the last byte)", ["model", "endpoint"],
            buckets=LATENCY_BUCKETS,
        )
        self.tokens = Counter("openai_mock_tokens_total", "Tokens billed", ["model", "type"])
        self.cost = Counter("openai_mock_cost_usd_total", "Cost of the answered requests in USD", ["model"])
        self.errors = Counter("openai_mock_errors_total", "Error responses", ["model", "error_type"])
        self.rate_limit_hits = Counter("openai_mock_rate_limit_hits_total", "Requests refused by a rate limit", ["model", "limit"])

    def _children(self, model: str, endpoint: str, status: int) -> tuple:
        # prometheus_client's labels() validates and hashes its arguments on every call; the children never change.
        key = (model, endpoint, status)
        children = self._cache.get(key)
        if children is None:
            children = (self.requests.labels(model, endpoint, str(status)), self.latency.labels(model, endpoint),
                        self.tokens.labels(model, "input"), self.tokens.labels(model, "cached_input"),
                        self.tokens.labels(model, "output"), self.cost.labels(model))
            self._cache[key] = children
        return children

    def observe(self, record: Record) -> None:
        model = record.model or "none"
        requests, latency, tokens_in, tokens_cached, tokens_out, cost = self._children(model, record.endpoint, record.status)
        requests.inc()
        latency.observe(record.latency_s)
        if record.input_tokens:
            tokens_in.inc(record.input_tokens)
        if record.cached_tokens:
            tokens_cached.inc(record.cached_tokens)
        if record.output_tokens:
            tokens_out.inc(record.output_tokens)
        if record.cost_picodollars:
            cost.inc(record.cost_picodollars / 1e12)
        if record.status >= 400 or record.error_type:
            self.errors.labels(model, record.error_type or str(record.status)).inc()
        if record.rate_limited:
            self.rate_limit_hits.labels(model, record.rate_limited).inc()


def start_server(port: int, host: str = "127.0.0.1") -> bool:
    """Serves /metrics on a thread; returns False (with a warning) when the port is taken: a busy metrics port, as
    with several simulators in one CI job, must not stop the API itself."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        # The parent sums every worker's sample files (a worker's own registry would see only itself).
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    try:
        if registry is None:
            start_http_server(port, addr=host)
        else:
            start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        logging.getLogger("sentra_openai").warning("metrics disabled: cannot listen on %s:%d (%s)", host, port,
                                                   exc.strerror or exc)
        return False
    return True
