"""The embeddable rate limiter (design.md "Embeddable limiter API", a public contract).

    from sentra_openai.ratelimit import RateLimiter, Limit
    limiter = RateLimiter()
    decision = limiter.acquire("key:gpt-4o",
                               [Limit("requests", 500, per_seconds=60), Limit("tokens", 30_000, per_seconds=60)],
                               [1, 1234])
    decision.allowed, decision.remaining, decision.reset_after, decision.retry_after

Each (key, limit name) is a GCRA bucket: from idle it admits a burst of `capacity` units, then
refills at `capacity / per_seconds` units per second. A request is all-or-nothing: when one of its
limits refuses, none of its buckets is charged. The arithmetic runs natively (sentra-core) in
integer nanoseconds; `sentra_openai.reference` is its pure-Python oracle.

Stores: "memory" (this process), "shm:/path" (a file mapping shared by the processes of one host,
e.g. "shm:/dev/shm/myapp.limits"), "redis://host:port/db" (several hosts; needs the `redis` extra).
All three make the same decisions for the same sequence of calls.

This module imports nothing of the server, so other mock servers can embed it as is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from ._native import NativeLimiter, go_duration

__all__ = ["Decision", "Limit", "LimiterUnavailable", "RateLimiter", "format_go_duration"]

NS_PER_SECOND = 1_000_000_000
_U64_MAX = 2**64 - 1


def _seconds_to_ns(seconds: object) -> int:
    if isinstance(seconds, bool):
        raise TypeError("per_seconds must be a number of seconds, not a bool")
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise ValueError(f"per_seconds must be finite, got {seconds}")
    try:
        exact = Fraction(seconds)  # type: ignore[arg-type]  # Fraction raises on non-numbers
    except (TypeError, ValueError) as exc:
        raise TypeError(f"per_seconds must be a number of seconds, got {seconds!r}") from exc
    # Fraction keeps e.g. 0.1 s at 100_000_000 ns instead of float rounding drift.
    return round(exact * NS_PER_SECOND)


class LimiterUnavailable(RuntimeError):
    """The store cannot be reached (e.g. Redis is down or timed out); nothing was charged.

    Callers choose between admitting without a limit (fail open) and refusing (fail closed). The
    store reconnects by itself on a later call, so the same RateLimiter recovers when Redis does.
    """


@dataclass(frozen=True)
class Limit:
    """`capacity` units per `per_seconds` seconds, e.g. Limit("tokens", 30_000, per_seconds=60)."""

    name: str
    capacity: int
    per_seconds: float = 60.0
    period_ns: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"limit name must be a non-empty str, got {self.name!r}")
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int):
            raise TypeError(f"limit {self.name!r}: capacity must be an int, got {self.capacity!r}")
        if not 1 <= self.capacity <= _U64_MAX:
            raise ValueError(f"limit {self.name!r}: capacity must be in [1, 2**64 - 1], got {self.capacity}")
        period_ns = _seconds_to_ns(self.per_seconds)
        if not 1 <= period_ns <= _U64_MAX:
            raise ValueError(f"limit {self.name!r}: per_seconds must be at least 1 ns, got {self.per_seconds}")
        object.__setattr__(self, "period_ns", period_ns)


# Input checks of sentra-core's `Request::new`, with its wording, for the two Python implementations of the
# limiter (the Redis store and the test reference in `sentra_openai.reference`): one copy, so that they cannot
# drift apart. Only the inputs are shared; each keeps its own GCRA arithmetic. Not part of the public API.


def check_u64(value: object, what: str) -> int:
    """`value` if it is an int in [0, 2**64 - 1]: TypeError for a non-int, ValueError out of range.

    A bool passes as 0/1, as it does for the native limiter (PyO3 reads it as an int)."""
    if not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"{what} must be an integer in [0, 2**64 - 1], got {value}")
    return value


def check_request(
    limits: Sequence[tuple[str, int, int]], costs: Sequence[int], now_ns: int | None
) -> list[tuple[str, int, int, int]]:
    """(name, capacity, period_ns, cost) per limit, or the native limiter's refusal; nothing is charged.

    `now_ns` None stands for a clock read later (Redis's), so the checks that need it are skipped."""
    if now_ns is not None:
        check_u64(now_ns, "now_ns")
    costs = [check_u64(cost, "cost") for cost in costs]
    if len(limits) != len(costs):
        raise ValueError(f"got {len(limits)} limits but {len(costs)} costs: pass one cost per limit")
    checked: list[tuple[str, int, int, int]] = []
    seen: set[str] = set()
    for (name, capacity, period_ns), cost in zip(limits, costs):
        capacity, period_ns = check_u64(capacity, "capacity"), check_u64(period_ns, "period_ns")
        if capacity == 0:
            raise ValueError(f"limit {name!r}: capacity must be at least 1")
        if period_ns == 0:
            raise ValueError(f"limit {name!r}: period must be at least 1 ns")
        if now_ns is not None and now_ns + period_ns > _U64_MAX:
            raise ValueError(f"limit {name!r}: now_ns + period_ns exceeds 2**64 - 1 nanoseconds")
        if name in seen:
            raise ValueError(f"limit name {name!r} appears twice in one request: names identify buckets")
        seen.add(name)
        checked.append((name, capacity, period_ns, cost))
    return checked


@dataclass(frozen=True)
class Decision:
    """The answer to one `RateLimiter.acquire`; per-limit tuples follow the order of its limits.

    `reset_after` is the time until that bucket is full again (OpenAI's x-ratelimit-reset-*);
    `retry_after` the wait until that limit would admit the same cost: 0.0 where it admits now,
    inf where the cost exceeds its capacity (`too_large`). Seconds as floats; the `_ns` twins are
    the exact integer nanoseconds (None for a retry that can never succeed).
    """

    allowed: bool
    remaining: tuple[int, ...]
    reset_after: tuple[float, ...]
    retry_after: tuple[float, ...]
    too_large: tuple[bool, ...]
    limits: tuple[Limit, ...]
    reset_after_ns: tuple[int, ...]
    retry_after_ns: tuple[int | None, ...]

    @property
    def denied_by(self) -> int | None:
        """Index of the first limit that refused, or None when the request was admitted."""
        # A limit that admits has retry_after 0; one that refuses has a positive wait or None.
        for index, retry_ns in enumerate(self.retry_after_ns):
            if retry_ns != 0:
                return index
        return None

    @property
    def retry_after_max(self) -> float:
        """Seconds after which the whole request would be admitted (0.0 now, inf never)."""
        return max(self.retry_after, default=0.0)

    @property
    def retry_after_max_ns(self) -> int | None:
        """`retry_after_max` in exact nanoseconds; None when some cost can never fit."""
        if any(self.too_large):
            return None
        return max((ns for ns in self.retry_after_ns if ns is not None), default=0)


class RateLimiter:
    """GCRA buckets per (key, limit name) in a store.

    store: "memory" (this process; thread-safe); "shm:/path" or "shm:/path?slots=N" (a table
    in a file, preferably on a tmpfs such as /dev/shm, shared by every process that opens the same
    path on this host; N slots, 65536 by default, sets the size of a new file); or
    "redis://host:port/db" ("rediss://", "unix://" too; several hosts, needs the `redis` package).
    An unknown form is a ValueError, a shm file that cannot be opened an OSError.
    clock: zero-argument callable returning integer nanoseconds. By default time.monotonic_ns,
    which Linux keeps system-wide, so processes sharing a shm table agree on it; for Redis the
    default is Redis's own clock (TIME), shared by every host. Time should not go backwards for a
    given store (expired buckets are forgotten).
    With Redis, `acquire` and `evict_expired` raise LimiterUnavailable when Redis cannot be reached.
    """

    def __init__(self, store: str = "memory", clock: Callable[[], int] | None = None) -> None:
        from .redis_limiter import RedisStore, is_redis_spec

        self._native: NativeLimiter | RedisStore
        self._clock: Callable[[], int] | None
        if is_redis_spec(store):
            self._native = RedisStore(store)
            self._clock = clock
        else:
            self._native = NativeLimiter(store)
            self._clock = clock if clock is not None else time.monotonic_ns

    @property
    def store(self) -> str:
        return self._native.store

    def acquire(
        self, key: str, limits: Sequence[Limit], costs: Sequence[int], now_ns: int | None = None
    ) -> Decision:
        """Charge `costs[i]` units to limit `limits[i]` of `key`, all of them or none.

        Raises ValueError (nothing charged) when lengths differ, a cost is negative or >= 2**64,
        or two limits share a name; LimiterUnavailable when a Redis store cannot be reached.
        """
        limits = tuple(limits)
        for limit in limits:
            if not isinstance(limit, Limit):
                raise TypeError(f"limits must be Limit instances, got {limit!r}")
        now = self._now(now_ns)
        native = self._native.acquire(
            key, [(limit.name, limit.capacity, limit.period_ns) for limit in limits], list(costs), now
        )
        reset_ns = tuple(native.reset_after_ns)
        retry_ns = tuple(None if large else ns for ns, large in zip(native.retry_after_ns, native.too_large))
        return Decision(
            allowed=native.allowed,
            remaining=tuple(native.remaining),
            reset_after=tuple(ns / NS_PER_SECOND for ns in reset_ns),
            retry_after=tuple(math.inf if ns is None else ns / NS_PER_SECOND for ns in retry_ns),
            too_large=tuple(native.too_large),
            limits=limits,
            reset_after_ns=reset_ns,
            retry_after_ns=retry_ns,
        )

    def evict_expired(self, now_ns: int | None = None) -> int:
        """Forget buckets that are full again (they behave as absent); returns how many.

        Every store also does this by itself (memory as it grows, shm by reusing expired slots,
        Redis by key expiry), so calling it is optional.
        """
        return self._native.evict_expired(self._now(now_ns))

    def close(self) -> None:
        """Releases the store's connections (Redis); a no-op for the other stores. A shm table file is left in
        place, since other processes may share it (a server's private table is already unlinked)."""
        close = getattr(self._native, "close", None)
        if close is not None:
            close()

    def _now(self, now_ns: int | None) -> int | None:
        """The explicit time, else the clock's; None lets a Redis store read its own clock."""
        if now_ns is not None:
            return now_ns
        return self._clock() if self._clock is not None else None

    def __repr__(self) -> str:
        return f"RateLimiter(store={self.store!r})"


def format_go_duration(ns: int) -> str:
    """Integer nanoseconds as OpenAI's x-ratelimit-reset-* value: rounded up to whole
    milliseconds, Go `time.Duration` layout ("0s", "120ms", "17.28s", "6m0s", "1h4m48s").

    Takes nanoseconds (e.g. `Decision.reset_after_ns[i]`), not float seconds, so that no binary
    rounding can change the printed millisecond.
    """
    return go_duration(ns)
