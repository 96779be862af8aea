"""The front layer in front of the Robyn workers: it owns the public port and forwards only well-framed requests.

The front itself is Rust (sentra_core::front, bound as _native.NativeFront): one event-loop thread in its own
process, so a worker that dies takes no client connection with it and a client connection never pins a worker:
every request goes to the worker with the fewest requests in progress, on a kept-alive worker connection pooled
for all client connections, so a restarted worker gets its share at once. What it fixes in Robyn 0.88 (README "Known issues"):
* a malformed chunked body aborted a whole worker: the front decodes chunked bodies strictly and forwards every
  body with a Content-Length, so Robyn never parses chunked framing;
* silent or half-sent requests were never closed: idle, header, body and send timeouts;
* methods Robyn does not route (QUERY, PROPFIND) jammed the connection: they are forwarded as POST with the real
  method in `x-sentra-method`, which the adapter restores;
* multipart and form bodies were parsed by Robyn (lossily, with a plain-text 500 on a bad one): they reach the
  adapter as raw bytes, the real content type in `x-sentra-content-type`;
* the port stayed open while draining: stop_accepting() shuts the listening socket first;
* a body could only end cleanly, so an injected cut was a stream that just stopped: a stream that loses its
  connection announces a token in `x-sentra-cut` (adapter.py), and the front drops the client connection where the
  body reaches it, leaving the chunked body unfinished.
"""

from __future__ import annotations

import logging
import os
import resource
import time

import orjson

from .._native import Lexicon, NativeFront
from ..config import Settings
from ..engine.errors import ApiError, body_too_large
from ..state import sqlite_path
from ..tokens.native_bpe import encoding_source
from ..tokens.offline_encodings import ENCODING_FILES
from .adapter import METHODS
from .signals import drain_on_stop_signals

log = logging.getLogger("sentra_openai.server")
MAX_HEAD_BYTES = 64 * 1024  # the largest request head accepted (nginx's large_client_header_buffers allow 4×8k/line)
DRAIN_POLL_SECONDS = 0.02
RESERVED_DESCRIPTORS = 64  # for everything but connections: logs, the metrics port, the shm table, tokenizers ...


def _rejections(settings: Settings) -> dict[str, tuple[int, str, bytes]]:
    """The front's own refusals, in OpenAI's error envelope like every other error the server sends."""
    errors = {
        "bad_request": ApiError(400, "We could not parse your request: its HTTP/1.1 framing is malformed."),
        "head_too_large": ApiError(431, "Request header fields too large."),
        "body_too_large": body_too_large(settings.server.max_body_bytes),
        "timeout": ApiError(408, "The request was not received completely in time."),
        "bad_gateway": ApiError(502, "The server had an error while processing your request. Sorry about that!",
                                type="server_error"),
        "unavailable": ApiError(503, "The server is not ready to handle requests yet. Please retry.", type="server_error"),
    }
    return {key: (error.status, error.content_type(), error.body()) for key, error in errors.items()}


def connection_cap(configured: int) -> int:
    """server.max_connections, within what the open-file limit allows (raised to its hard limit first): each client
    connection may also hold one to a worker."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, (soft - RESERVED_DESCRIPTORS) // 2))


def bind_front(settings: Settings, upstream_ports: list[int]) -> NativeFront:
    """Binds the public port (a busy one is refused: no SO_REUSEPORT) without accepting yet."""
    s = settings.server
    try:
        return NativeFront(
            s.host, s.port, upstream_ports,
            idle_timeout=s.idle_timeout_seconds, header_timeout=s.header_timeout_seconds,
            body_timeout=s.body_timeout_seconds, send_timeout=s.send_timeout_seconds,
            keepalive_requests=s.keepalive_requests, max_connections=connection_cap(s.max_connections),
            max_head_bytes=MAX_HEAD_BYTES, max_body_bytes=s.max_body_bytes,
            routed_methods=list(METHODS), rejections=_rejections(settings), replay=s.front_replay,
            store_path=_store_path(settings), store_synchronous=settings.state.synchronous,
            textgen=_textgen_source(settings), count_replays=counts_replays(settings),
        )
    except OSError as exc:
        raise SystemExit(f"sentra-openai: error: cannot listen on {s.host}:{s.port}: {exc}") from None


def _store_path(settings: Settings) -> str | None:
    """The SQLite file the front writes the rows of replayed stored answers to (the workers' own store); None: the
    store is not SQLite, and stored answers are always the workers'."""
    if settings.state.store != "sqlite":
        return None
    return os.path.abspath(sqlite_path(settings))


def _textgen_source(settings: Settings) -> tuple[str, dict[str, tuple[str, str]]] | None:
    """What the front composes answers to new prompts with (rust/core/src/front/shape.rs): the lexicon as JSON and,
    per packaged encoding, its uncompressed ranks file and pattern (the front reads a file only once a shape names
    it). None without replay: the front never composes then."""
    if not settings.server.front_replay:
        return None
    from ..engine.content.lexicon import lexicon

    text = orjson.dumps(lexicon()).decode()
    try:
        Lexicon(text)
    except ValueError as exc:  # the front still replays, and every new prompt goes to a worker
        log.warning("the front composes no answers: %s", exc)
        return None
    encodings = {}
    for name in ENCODING_FILES:
        try:
            encodings[name] = encoding_source(name)
        except (OSError, RuntimeError, ValueError) as exc:  # that encoding's requests simply go to a worker
            log.warning("the front composes no answer counted in %s: %s", name, exc)
    return text, encodings


def counts_replays(settings: Settings) -> bool:
    """Whether the answers the front makes itself count in the metrics (published by the front process)."""
    return settings.metrics.enable and settings.server.front_replay


def run_front(front: NativeFront, drain_seconds: float, count_replays: bool = False) -> None:
    """The front process's main: accept until SIGTERM/SIGINT, then stop accepting, let requests in progress finish
    (at most drain_seconds) and exit. `count_replays`: the answers the front replays itself count in the metrics."""
    replays = _replay_metrics(front) if count_replays else None

    def drain_and_exit() -> None:
        front.stop_accepting()
        deadline = time.monotonic() + drain_seconds
        while front.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(DRAIN_POLL_SECONDS)
        if replays is not None:
            replays.publish()  # the last totals, for scrapes after this process is gone
        os._exit(0)

    drain_on_stop_signals(drain_and_exit, "sentra-front-drain")
    front.start()
    while True:
        time.sleep(1)


def _replay_metrics(front: NativeFront):
    """This process's metrics: the replays the front answered (no worker saw them), drained at every scrape, which
    asks this process as it asks each worker (metrics.py)."""
    from ..engine.replay import replayed_record
    from ..metrics import DrainingMetrics

    def drain():
        return [(replayed_record(tag, elapsed_ms), count) for tag, elapsed_ms, count in front.take_replays()]

    replays = DrainingMetrics(drain)
    replays.start()
    return replays
