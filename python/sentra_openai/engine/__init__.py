"""The framework-agnostic simulator: build an Engine from Settings, then `engine.handle(Request) -> Outcome`."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable

from ..catalog import Catalog
from ..config import Settings
from ..ratelimit import RateLimiter
from ..redis_limiter import is_redis_spec
from ..state import StateStore, open_store
from ..tokens import TokenCounter
from .clock import Clock, ManualClock, MonotonicClock
from .content.fixtures import FixtureSet
from .core import Call, Engine, Observer, Record, Services
from .organization import Organization
from .realism.faults import FaultInjector
from .realism.prompt_cache import PromptCache
from .realism.rate_limits import RateLimits, window_scale_for
from .tooling.control_state import ControlState
from .types import Outcome, Piece, Request, StreamPlan

__all__ = [
    "Call", "Clock", "Engine", "ManualClock", "MonotonicClock", "Observer", "Outcome", "Piece", "Record", "Request",
    "Services", "StreamPlan", "build_engine", "limiter_store_spec",
]


def limiter_store_spec(settings: Settings) -> str:
    """The limiter store for these settings. With several server processes, "memory" becomes a shm table private
    to this server (its port and the pid of the process that builds the engine, i.e. the parent of the workers):
    per-process buckets would let each worker admit the whole limit."""
    rl = settings.rate_limiting
    if rl.store == "redis":
        return rl.redis_url or ""
    if rl.store == "shm":
        return "shm:" + (rl.shm_path or f"/dev/shm/sentra-openai-{settings.server.port}.limits")
    if settings.server.processes > 1:
        return "shm:" + _private_table_path(settings.server.port)
    return "memory"


def _private_table_path(port: int) -> str:
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    return os.path.join(folder, f"sentra-openai-{port}-{os.getpid()}.limits")


def _open_limiter(settings: Settings, clock: Clock) -> RateLimiter:
    spec = limiter_store_spec(settings)
    if is_redis_spec(spec) and isinstance(clock, MonotonicClock):
        # Real time: take Redis's clock, the one every host sharing the limits agrees on.
        return RateLimiter(store=spec)

    def now_ns() -> int:  # the engine's clock drives the buckets, so tests that drive time drive them too
        return int(clock.now() * 1_000_000_000)

    if settings.rate_limiting.store != "memory" or not spec.startswith("shm:"):
        return RateLimiter(store=spec, clock=now_ns)
    # The private table of a multi-process server. A file left at this path belongs to a dead process whose pid we
    # now have: start afresh. Once mapped, the file is unlinked at once: the workers are forked from this process and
    # inherit the mapping, and an unlinked file cannot outlive the server, however it ends (even by SIGKILL).
    path = spec.removeprefix("shm:")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    limiter = RateLimiter(store=spec, clock=now_ns)
    os.unlink(path)
    return limiter


def build_engine(
    settings: Settings,
    *,
    clock: Clock | None = None,
    observer: Observer | None = None,
    limiter: RateLimiter | None = None,
    catalog: Catalog | None = None,
    tokens: TokenCounter | None = None,
    state: StateStore | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> Engine:
    from .endpoints import register_all

    clock = clock or MonotonicClock()
    catalog = catalog or (Catalog.load(settings.models.catalog) if settings.models.catalog else Catalog.default())
    if limiter is None:
        # Built here, in the parent: a shared table must exist before the server forks its workers.
        limiter = _open_limiter(settings, clock)
    organization = Organization.of(settings.server)
    services = Services(
        settings=settings,
        catalog=catalog,
        tokens=tokens or TokenCounter(),
        fixtures=FixtureSet.load(settings.fixture_paths()),
        organization=organization,
        rate_limits=RateLimits(settings.rate_limiting, limiter, organization,
                               window_scale=window_scale_for(settings)),
        faults=FaultInjector(settings.error_injection, seed=settings.seed),
        prompt_cache=PromptCache(settings.prompt_caching),
        clock=clock,
        observer=observer or Observer(),
        wall_clock=wall_clock or time.time,
    )
    # Opened here, in the parent (a bad path fails at start-up); each forked worker reopens its own connection.
    services.state = state or open_store(settings, clock=services.wall_clock)
    services.control = ControlState(services.state, settings, services.wall_clock)  # before the fork: shared
    services.fixtures.counter = services.control.next_fixture_call  # reply sequences count across workers
    engine = Engine(services)
    register_all(engine)
    if settings.recording.dir:  # serve --record: every /v1/ request goes to the upstream, and is written down
        from .tooling.recording import Recorder

        engine.mounts.insert(0, ("/v1/", Recorder(settings).handle))
    return engine
