"""The engine: (method, path, headers, body) -> Outcome, through the pipeline of design.md:

parse -> validate -> authenticate -> count prompt tokens -> rate limit -> fault injection -> generate -> cost
      -> pace -> respond -> metrics + log

Endpoint modules implement the middle (validate .. generate) on a `Call`; this module does routing, the common
headers, authentication, error envelopes and the bookkeeping around them. Nothing here knows about a web framework.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, ModelInfo
from ..config import Settings
from ..state import MemoryStore, StateStore
from ..tokens import TokenCounter
from . import errors, replay
from .clock import Clock, MonotonicClock
from .content.fixtures import FixtureSet, begin_generation, sequence_used
from .errors import ApiError
from .ids import base62, unique_stream
from .lazy_random import LazyRandom
from .memo import BoundedMemo
from .organization import Organization
from .realism.faults import Fault, FaultInjector, fault_error, parse_fault_header
from .realism.pacing import immediate_events
from .realism.prompt_cache import PromptCache
from .realism.rate_limits import RateLimits
from .retirement import as_of_day, live_model
from .types import Outcome, Request

OPENAI_VERSION = "2020-10-01"
CONTENT_CACHE_SIZE = 2048


@dataclass
class Record:
    """What one request did, for metrics and the request log."""

    request_id: str
    method: str
    path: str
    endpoint: str
    status: int = 200
    model: str | None = None
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_picodollars: int = 0
    cost_usd: str = "0"
    latency_s: float = 0.0
    error_type: str | None = None
    rate_limited: str | None = None  # which limit refused, for 429s of the limiter
    stream: bool = False
    request_body: bytes | None = None
    response_body: bytes | None = None


class Observer:
    """Receives one Record per request (metrics, logs). The default does nothing."""

    def observe(self, record: Record) -> None:
        pass


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    tokens: TokenCounter
    fixtures: FixtureSet
    rate_limits: RateLimits
    faults: FaultInjector
    prompt_cache: PromptCache
    organization: Organization  # named by the openai-organization header and by every 429 (also rate_limits')
    clock: Clock = field(default_factory=MonotonicClock)
    observer: Observer = field(default_factory=Observer)
    content_cache: BoundedMemo[str, Any] = field(default_factory=lambda: BoundedMemo(CONTENT_CACHE_SIZE))
    # Stored responses, conversations ... (sentra_openai.state); timestamps there come from `wall_clock` (epoch
    # seconds, the same in every process), never from `clock` (monotonic, per process).
    state: StateStore = field(default_factory=MemoryStore)
    wall_clock: Callable[[], float] = time.time
    control: Any = None  # the control API's shared state (engine/tooling/control_state.py); None in bare test engines


# The front's note of when a request arrived at the port (rust/core/src/front/arrival.rs): CLOCK_MONOTONIC seconds,
# the clock MonotonicClock reads (time.monotonic() is CLOCK_MONOTONIC on Linux, one clock for the whole system).
ARRIVAL_HEADER = "x-sentra-arrived"
# An older stamp is not believed (no worker is that far behind): it would use up any simulated latency.
MAX_ARRIVAL_AGE_S = 60.0


def arrival(request: Request, clock: Clock) -> float:
    """When `request` arrived, on `clock`: the simulated latency (time to first token, token deadlines,
    openai-processing-ms) counts from here, so a request that waited for a busy worker is not slowed further by the
    wait, as a real API's latency is not by our queueing. The stamp counts only on the real monotonic clock, and only
    if sane (not in the future, at most MAX_ARRIVAL_AGE_S old); otherwise, and on a clock tests drive, it is now."""
    now = clock.now()
    stamp = request.headers.get(ARRIVAL_HEADER)
    if stamp is None or type(clock) is not MonotonicClock:
        return now
    try:
        arrived = float(stamp)
    except ValueError:
        return now
    return arrived if now - MAX_ARRIVAL_AGE_S <= arrived <= now else now  # NaN fails both


class Call:
    """One request on its way through the pipeline: its RNGs, ids, timing and the response headers so far."""

    def __init__(self, services: Services, request: Request, endpoint: str, sequence: int) -> None:
        self.services = services
        self.settings = services.settings
        self.request = request
        self.headers_in = request.headers
        self.started = self._arrival()
        self.wall_started = time.time()
        control_seed = request.headers.get("x-sentra-seed")
        # Draws that need not repeat across identical requests (jitter, faults) come from `rng`: seeded by the
        # config seed and the request's position in the run, or by X-Sentra-Seed alone when the client pins it.
        # Ids come from `id_rng`: the process's unique stream, so that no worker, restart or host repeats one,
        # unless X-Sentra-Seed pins the request (then they are reproducible too).
        if control_seed:
            self.rng = random.Random(f"{self.settings.seed}:pin:{control_seed}")
            self.id_rng = self.rng
        else:  # an integer seed (a string one is hashed with SHA-512), seeded only if the request draws at all
            self.rng = LazyRandom((self.settings.seed << 64) | sequence)
            self.id_rng = unique_stream()
        # The 32 hex digits of f"{bits:032x}", at half its cost (int formatting is the slow path)
        self.request_id = "req_" + self.id_rng.getrandbits(128).to_bytes(16, "big").hex()
        self.record = Record(self.request_id, request.method, request.path, endpoint)
        self.response_headers: dict[str, str] = {}
        self.api_key = _bearer(request.headers.get("authorization"))
        self.time_scale = self._time_scale()
        forced = request.headers.get("x-sentra-error")
        self.forced_fault: Fault | None = parse_fault_header(forced) if forced else None
        # For the front's replay note (replay.py): the endpoint opts in when its answer touched no state, and says
        # which creation time and which ids it shows; `new_id` and `generated` note the rest.
        self.replayable = False
        self.created_at = 0
        self.issued_ids: list[tuple[str, str]] = []  # (prefix, id) of each `new_id`
        self.response_ids: Any = None  # a Responses answer's ids (endpoints/responses/ids.py ResponseIds)
        self.stored_row: Any = None  # (collection, id, doc, parent) when the answer's one write was its own row
        self.sequence_used = False
        self.made_content = False  # `generated` had to make some content: no earlier request asked for it
        # A generated chat answer the front might compose itself for a new prompt (replay_shape.Shape), set by the
        # chat pipeline for requests in replay_shape's class only.
        self.shape: Any = None

    def _arrival(self) -> float:
        """The request's arrival (`arrival`); the stamp is the server's note, not the client's, so the request the
        call keeps (logged, echoed) goes without it."""
        started = arrival(self.request, self.services.clock)
        self.via_front = ARRIVAL_HEADER in self.headers_in  # only the front stamps (and strips a client's stamp)
        if self.via_front:
            self.headers_in = {k: v for k, v in self.headers_in.items() if k != ARRIVAL_HEADER}
            r = self.request
            self.request = Request(r.method, r.path, self.headers_in, r.body, r.query)
        return started

    def _time_scale(self) -> float:
        scale = self.settings.effective_time_scale
        raw = self.headers_in.get("x-sentra-time-scale")
        if raw is not None:
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if not value >= 0 or value == float("inf"):
                raise ApiError(400, f"Invalid X-Sentra-Time-Scale header: {raw!r}. Expected a number >= 0.",
                               param="X-Sentra-Time-Scale")
            scale = value if self.settings.latency.enable else 0.0
        return scale

    def content_key(self, *parts: Any) -> str:
        """Identifies generated content: the same request (and `seed`) gives the same content."""
        return f"{self.settings.seed}:" + hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()

    def generated(self, key: str, generate: Callable[[random.Random], Any]) -> Any:
        """Content for `key`, generated once from an RNG seeded by it: load tests repeat requests, and generating
        text costs more than everything else a request does. The RNG is seeded on its first draw: generators that
        seed their own (chat and Responses, without the verbosity in the key) would pay for seeding it twice."""
        cache = self.services.content_cache
        value = cache.get(key)
        if value is None:
            self.made_content = True
            begin_generation()
            value = generate(LazyRandom(key))
            if sequence_used():  # a fixture's reply sequence: the next identical call gets the next reply
                self.sequence_used = True
                return value
            cache.put(key, value)
        return value

    def new_id(self, prefix: str, length: int) -> str:
        """A fresh id (`chatcmpl-…`, `resp_…`): unique across processes and hosts, reproducible when pinned."""
        made = prefix + base62(self.id_rng, length)
        self.issued_ids.append((prefix, made))
        return made

    def elapsed_ms(self) -> int:
        return int((self.services.clock.now() - self.started) * 1000)

    def resolve_model(self, name: str) -> ModelInfo:
        """The model for `name`; an unknown or shut-down one is OpenAI's 404 (or the fallback, models.strict off)."""
        model = live_model(self.services.catalog, name, as_of_day(self.settings))
        if model is None:
            if self.settings.models.strict:
                raise errors.model_not_found(name)
            model = self.services.catalog.get(self.settings.models.fallback)
        self.record.model = model.id
        return model

    def check_fault(self, model_id: str, streaming: bool) -> Fault | None:
        """The fault for this request, forced or drawn; raises it now unless it strikes mid-stream."""
        # A pinned request (X-Sentra-Seed) draws from its own RNG; others from the injector's request-ordered stream.
        pinned = self.rng if "x-sentra-seed" in self.headers_in else None
        # Drawn even when a fault is forced: the draw also counts the request in the burst-load window and advances
        # the injector's stream, neither of which may depend on the control header.
        drawn = self.services.faults.draw(model_id, pinned, self.services.clock.now(), streaming)
        fault = self.forced_fault
        control = self.services.control
        if fault is None and control is not None and control.snapshot.faults:  # the control API's next-N faults
            fault = control.take_fault(model_id, self.record.endpoint)
        fault = fault or drawn
        if fault is None:
            return None
        if fault.at_chunk is not None and streaming:
            return fault
        if fault.status == 429:
            raise self.injected_rate_limit(model_id)
        raise fault_error(fault, self.request_id)

    def injected_rate_limit(self, model_id: str) -> ApiError:
        """An injected 429 looks like the limiter's own: OpenAI's RPM message with a short wait."""
        model = self.services.catalog.get(model_id)
        limits = self.services.rate_limits.limits_for(model) if model is not None else None
        rpm = limits.rpm if limits else 500
        wait_ms = self.rng.randint(200, 2000)
        org = self.services.organization.id
        message = (
            f"Rate limit reached for {model_id} in organization {org} on requests per min (RPM): Limit {rpm}, "
            f"Used {rpm}, Requested 1. Please try again in {wait_ms}ms. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        headers = {"retry-after": str(-(-wait_ms // 1000)), "retry-after-ms": str(wait_ms)}
        self.record.rate_limited = "injected"
        return ApiError(429, message, type="requests", code="rate_limit_exceeded", headers=headers)


Handler = Callable[[Call], Outcome]


class Engine:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.routes: dict[str, dict[str, tuple[str, Handler]]] = {}
        self.prefix_routes: list[tuple[str, dict[str, tuple[str, Handler]]]] = []
        self.pattern_routes: list[tuple[tuple[str | None, ...], dict[str, tuple[str, Handler]]]] = []
        self._sequence = 0
        self.public_endpoints: set[str] = set()
        # Translation layers that answer a whole path prefix by calling `handle` again with an OpenAI request
        # (Azure's /openai/...: endpoints/azure.py).
        self.mounts: list[tuple[str, Callable[[Request], Outcome]]] = []
        self._allowed_keys = frozenset(self.settings.auth.api_keys)

    def close(self) -> None:
        """Releases what outlives the process otherwise (a shared-memory limiter file, a Redis connection)."""
        close = getattr(self.services.rate_limits.limiter, "close", None)
        if close is not None:
            close()
        self.services.state.close()

    def warm_up(self) -> None:
        """Loads what the first request would otherwise wait for: every tokenizer the catalog uses (about a second in
        tiktoken) and the data files chat and Responses read on first use (config/lexicon.yaml alone is ~30 ms)."""
        for name in sorted({m.encoding for m in self.services.catalog.models() if m.encoding}):
            self.services.tokens.encoding(name)
        from .content.lexicon import lexicon
        from .endpoints.chat.field_rules import rules as chat_field_rules
        from .endpoints.responses.counting import settings as responses_settings

        for load in (lexicon, chat_field_rules, responses_settings):
            load()

    def route(self, method: str, path: str, endpoint: str, handler: Handler, *, prefix: bool = False) -> None:
        """Registers a handler; `prefix` routes match `path` + one more segment (e.g. /v1/models/{id}); a path with
        `{name}` segments matches any non-empty segment there (e.g. /v1/responses/{id}/cancel)."""
        if "{" in path:
            segments = tuple(None if part.startswith("{") else part for part in path.split("/"))
            for existing, table in self.pattern_routes:
                if existing == segments:
                    table[method] = (endpoint, handler)
                    return
            self.pattern_routes.append((segments, {method: (endpoint, handler)}))
        elif prefix:
            for existing, table in self.prefix_routes:
                if existing == path:
                    table[method] = (endpoint, handler)
                    return
            self.prefix_routes.append((path, {method: (endpoint, handler)}))
        else:
            self.routes.setdefault(path, {})[method] = (endpoint, handler)

    def _find(self, path: str) -> dict[str, tuple[str, Handler]] | None:
        table = self.routes.get(path.rstrip("/") or "/")
        if table is not None:
            return table
        for prefix, candidates in self.prefix_routes:
            if path.startswith(prefix) and len(path) > len(prefix) and "/" not in path[len(prefix):]:
                return candidates
        if self.pattern_routes:
            parts = path.split("/")
            for segments, candidates in self.pattern_routes:
                if len(segments) == len(parts) and all(
                        part if want is None else part == want for want, part in zip(segments, parts)):
                    return candidates
        return None

    def handle(self, request: Request) -> Outcome:
        control = self.services.control
        if control is not None and control.changed():  # one shared-memory read when nothing changed
            from .tooling.control_state import apply_changes

            apply_changes(self, control)
        if self.mounts:
            for mount_prefix, mounted in self.mounts:
                if request.path.startswith(mount_prefix):
                    return mounted(request)
        table = self._find(request.path)
        entry = table.get(request.method) if table else None
        endpoint = entry[0] if entry else "unknown"
        if endpoint not in self.public_endpoints:
            # Health checks and image downloads do not move the run's position: pollers and probes (a container's
            # HEALTHCHECK) must not change which draws the API requests get.
            self._sequence += 1
        try:
            call = Call(self.services, request, endpoint, self._sequence)
        except ApiError as exc:  # a malformed control header
            call = Call(self.services, Request(request.method, request.path, {}, b""), endpoint, self._sequence)
            return self._error(call, exc)
        if self.settings.logging.log_bodies:
            call.record.request_body = request.body
        try:
            if table is None:
                raise errors.invalid_url(request.method, request.path)
            if entry is None:
                raise errors.invalid_method(request.method, request.path)
            if len(request.body) > self.settings.server.max_body_bytes:
                raise errors.body_too_large(self.settings.server.max_body_bytes)
            if endpoint not in self.public_endpoints:
                self._authenticate(call)
            outcome = entry[1](call)
        except ApiError as exc:
            return self._error(call, exc)
        except Exception:  # a bug of ours must still answer as OpenAI does, never crash the server
            logging.getLogger("sentra_openai").exception("unhandled error in %s %s", request.method, request.path)
            return self._error(call, errors.server_error())
        return self._finish(call, outcome)

    def _authenticate(self, call: Call) -> None:
        if not self.settings.auth.require_api_key:
            return
        if not call.api_key:
            raise errors.missing_api_key()
        if call.api_key not in self._allowed_keys:
            raise errors.incorrect_api_key(call.api_key)

    def common_headers(self, call: Call, processing_ms: int) -> dict[str, str]:
        return {
            "x-request-id": call.request_id,
            "openai-organization": self.services.organization.slug,
            "openai-processing-ms": str(processing_ms),
            "openai-project": self.settings.server.project,
            "openai-version": OPENAI_VERSION,
            "access-control-expose-headers": "X-Request-ID",
        }

    def _finish(self, call: Call, outcome: Outcome) -> Outcome:
        record = call.record
        record.status = outcome.status
        elapsed_ms = call.elapsed_ms()  # read once: the header and the record tell the same time
        # The planned delay counts from arrival, as the time so far does (with any wait for a busy worker): the answer
        # goes out when the later of the two ends (server/adapter.py waits only what is left of the delay).
        simulated_ms = max(int(outcome.delay * 1000), elapsed_ms)
        headers = self.common_headers(call, simulated_ms)
        headers.update(call.response_headers)
        headers.update(outcome.headers)
        headers["x-sentra-cost-usd"] = record.cost_usd
        headers["x-response-time-ms"] = str(simulated_ms)
        outcome.headers = headers
        record.latency_s = max(outcome.delay, elapsed_ms / 1000)
        record.stream = outcome.stream is not None
        if outcome.stream is not None and outcome.stream.pieces:
            # A stream takes until its last event is due (from arrival too), or longer if it started late.
            record.latency_s = max(record.latency_s, outcome.stream.pieces[-1].due)
        if self.settings.logging.log_bodies:
            # A stream is logged as planned, one event per token (its random `obfuscation` padding may differ).
            record.response_body = outcome.body if outcome.stream is None else b"".join(immediate_events(outcome.stream))
        if call.replayable:
            replay.attach(call, outcome)
        self.services.observer.observe(record)
        if self.services.control is not None and self.services.control.snapshot.armed:
            self.services.control.log(call, record)
        return outcome

    def _error(self, call: Call, exc: ApiError) -> Outcome:
        record = call.record
        record.status = exc.status
        record.error_type = exc.code or exc.type
        body = exc.body()
        if exc.bare:
            headers = {"content-type": exc.content_type(), "vary": "Origin", "x-request-id": call.request_id}
        else:
            headers = self.common_headers(call, call.elapsed_ms())
            headers["content-type"] = exc.content_type()
            headers.update(call.response_headers)
            headers["x-sentra-cost-usd"] = "0"
            headers["x-response-time-ms"] = str(call.elapsed_ms())
        headers.update(exc.headers)
        if self.settings.logging.log_bodies:
            record.response_body = body
        self.services.observer.observe(record)
        if self.services.control is not None and self.services.control.snapshot.armed:
            self.services.control.log(call, record)
        return Outcome(exc.status, headers, body)


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
