"""The framework-agnostic simulator: build an Engine from Settings, then `engine.handle(Request) -> Outcome`."""

from __future__ import annotations

import hashlib

from ..catalog import Catalog
from ..config import Settings
from ..ratelimit import RateLimiter
from ..tokens import TokenCounter
from .clock import Clock, ManualClock, MonotonicClock
from .core import Call, Engine, Observer, Record, Services
from .faults import FaultInjector
from .fixtures import FixtureSet
from .prompt_cache import PromptCache
from .ratelimits import RateLimits, window_scale_for
from .types import Outcome, Piece, Request, StreamPlan

__all__ = [
    "Call", "Clock", "Engine", "ManualClock", "MonotonicClock", "Observer", "Outcome", "Piece", "Record", "Request",
    "Services", "StreamPlan", "build_engine", "limiter_store_spec",
]


def organization_id(slug: str) -> str:
    """The `org-…` id OpenAI names in rate-limit messages, derived from the configured organization slug."""
    digest = hashlib.sha256(slug.encode()).digest()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "org-" + "".join(alphabet[b % 62] for b in digest[:24])


def limiter_store_spec(settings: Settings) -> str:
    rl = settings.rate_limiting
    if rl.store == "redis":
        return rl.redis_url or ""
    if rl.store == "shm":
        return "shm:" + (rl.shm_path or f"/dev/shm/sentra-openai-{settings.server.port}.limits")
    return "memory"


def build_engine(
    settings: Settings,
    *,
    clock: Clock | None = None,
    observer: Observer | None = None,
    limiter: RateLimiter | None = None,
    catalog: Catalog | None = None,
    tokens: TokenCounter | None = None,
) -> Engine:
    from . import chat, completions, embeddings, health, images, models_api

    clock = clock or MonotonicClock()
    catalog = catalog or (Catalog.load(settings.models.catalog) if settings.models.catalog else Catalog.default())
    if limiter is None:
        # The limiter reads the engine's clock, so tests that drive time drive the buckets too.
        limiter = RateLimiter(store=limiter_store_spec(settings), clock=lambda: int(clock.now() * 1_000_000_000))
    services = Services(
        settings=settings,
        catalog=catalog,
        tokens=tokens or TokenCounter(),
        fixtures=FixtureSet.load(settings.fixture_paths()),
        rate_limits=RateLimits(settings.rate_limiting, limiter, organization_id(settings.server.organization),
                               window_scale=window_scale_for(settings)),
        faults=FaultInjector(settings.error_injection, seed=settings.seed),
        prompt_cache=PromptCache(settings.prompt_caching),
        clock=clock,
        observer=observer or Observer(),
    )
    engine = Engine(services)
    for module in (health, models_api, chat, completions, embeddings, images):
        module.register(engine)
    return engine
