"""One JSON line per request on stderr (request_id, model, tokens, latency, cost, status); bodies when
`logging.log_bodies` is on (the `debug` mode)."""

from __future__ import annotations

import logging
import os
import sys
import time

import orjson

from .engine.core import Record

request_log = logging.getLogger("sentra_openai.requests")


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("sentra_openai")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def request_line(record: Record) -> bytes:
    line = {
        "ts": round(time.time(), 3),
        "request_id": record.request_id,
        "method": record.method,
        "path": record.path,
        "endpoint": record.endpoint,
        "pid": os.getpid(),  # which server process answered (with --processes N)
        "model": record.model,
        "status": record.status,
        "input_tokens": record.input_tokens,
        "cached_tokens": record.cached_tokens,
        "output_tokens": record.output_tokens,
        "latency_ms": round(record.latency_s * 1000, 1),
        "cost_usd": record.cost_usd,
        "stream": record.stream,
    }
    if record.error_type:
        line["error"] = record.error_type
    if record.rate_limited:
        line["rate_limit"] = record.rate_limited  # which limit refused: rpm, tpm, rpd, images or injected
    if record.request_body is not None:
        line["request_body"] = record.request_body.decode("utf-8", "replace")
    if record.response_body is not None:
        line["response_body"] = record.response_body.decode("utf-8", "replace")
    return orjson.dumps(line)


class RequestLogger:
    def observe(self, record: Record) -> None:
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(request_line(record).decode())
