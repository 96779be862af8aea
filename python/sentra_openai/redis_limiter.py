"""The Redis store of the rate limiter: one GCRA for several hosts, decided by an atomic Lua script.

Selected with `RateLimiter(store="redis://host:port/db")` (also `rediss://` and `unix://`); needs the
optional dependency `redis` (`pip install 'sentra-openai[redis]'`). The algorithm is the one of
sentra-core's `limiter::gcra` (design.md "Rate limiting semantics"), in integer nanoseconds:

    e = ceil(cost * P / C)          computed here, exactly, with Python ints (it needs no state)
    tat' = max(tat, now) + e        in the script, atomically over all of the request's buckets
    admit iff tat' - now <= P for every bucket; then, and only then, every bucket stores tat'

Exactness in Lua: Redis runs Lua 5.1, whose numbers are doubles (exact integers only below 2**53),
while TATs in nanoseconds reach 2**60 and more. The script therefore never holds a nanosecond count
in one number: every time is split into two limbs, `hi * 10**9 + lo` (seconds and nanoseconds when
the time is absolute), each far below 2**53, and the script only adds and compares limbs (carries
included). Both limbs print back to the same decimal string Redis stores, so a stored TAT is a plain
nanosecond integer. Everything that needs a multiplication (e, and remaining = floor((P - wait) * C / P))
happens here with exact Python ints, from the snapshot the script returns.

Time: by default the script reads Redis's clock (`TIME`), so that every host shares one clock. An
explicit `now_ns` is honoured instead (tests drive time that way). Keys expire (PX) once their TAT is
past, plus a grace period: a TAT at or before `now` means "full bucket", so an expired key loses
nothing; the grace covers callers whose explicit clock runs slower than Redis's.

Failures: any Redis error (refused connection, timeout, a key of the wrong type) is raised as
`sentra_openai.ratelimit.LimiterUnavailable`, nothing charged. The client reconnects by itself on
the next call, so a Redis that comes back needs no restart of its users.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .ratelimit import LimiterUnavailable, check_request, check_u64

__all__ = ["DEFAULT_KEY_PREFIX", "RedisDecision", "RedisStore", "is_redis_spec"]

NEVER_NS = 2**64 - 1  # retry_after_ns of a cost that can never fit, as in sentra-core
DEFAULT_KEY_PREFIX = "sentra:rl:"
# Keys live this long past their TAT (see the module docs); costs only a little memory.
DEFAULT_GRACE_MS = 5_000
# A down Redis must fail a request quickly rather than stall it; URL options override these.
DEFAULT_CONNECT_TIMEOUT_S = 0.5
DEFAULT_SOCKET_TIMEOUT_S = 1.0
_SCHEMES = ("redis://", "rediss://", "unix://")

# Both scripts start here: `parse` splits a decimal time into limbs (see the module docs), and now_h/now_l is the
# explicit time of ARGV[1] or, when it is "", Redis's own clock.
_LUA_NOW = """
local B = 1000000000
local function parse(s)
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end
local now_h, now_l
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now_h, now_l = tonumber(t[1]), tonumber(t[2]) * 1000
else
  now_h, now_l = parse(ARGV[1])
end
"""

# KEYS: the request's bucket keys. ARGV[1]: now in ns (decimal) or "" for Redis TIME; ARGV[2]: grace
# in ms; then per bucket i, ARGV[1+2i] = e_i in ns (or "-" when the cost exceeds the capacity) and
# ARGV[2+2i] = P_i in ns. Returns {now, 1 if admitted else 0, tat_1 .. tat_n as stored before, "" if
# missing}. Times are decimal strings of at most 20 digits, handled as limbs hi * 1e9 + lo.
GCRA_SCRIPT = _LUA_NOW + """
local function show(hi, lo)
  if hi == 0 then return string.format('%d', lo) end
  return string.format('%d%09d', hi, lo)
end
local function add(ah, al, bh, bl)
  local lo = al + bl
  if lo >= B then return ah + bh + 1, lo - B end
  return ah + bh, lo
end
local function le(ah, al, bh, bl)
  return ah < bh or (ah == bh and al <= bl)
end
local grace = tonumber(ARGV[2])
local out = {show(now_h, now_l), 1}
local fresh = {}
local admitted = true
for i = 1, #KEYS do
  local stored = redis.call('GET', KEYS[i])
  out[2 + i] = stored or ''
  local e = ARGV[1 + 2 * i]
  if e == '-' then
    admitted = false
  else
    local th, tl = now_h, now_l
    if stored then
      th, tl = parse(stored)
      if le(th, tl, now_h, now_l) then th, tl = now_h, now_l end
    end
    local eh, el = parse(e)
    local nh, nl = add(th, tl, eh, el)
    local ph, pl = parse(ARGV[2 + 2 * i])
    local lh, ll = add(now_h, now_l, ph, pl)
    if le(nh, nl, lh, ll) then fresh[i] = {nh, nl} else admitted = false end
  end
end
if not admitted then
  out[2] = 0
  return out
end
for i = 1, #KEYS do
  local nh, nl = fresh[i][1], fresh[i][2]
  local dh, dl = nh - now_h, nl - now_l
  if dl < 0 then dh, dl = dh - 1, dl + B end
  local ttl = dh * 1000 + math.ceil(dl / 1000000) + grace
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[i], show(nh, nl), 'PX', string.format('%d', ttl))
end
return out
"""

# KEYS: bucket keys; ARGV[1]: now in ns or "" for TIME. Deletes those whose TAT is at or before now.
EVICT_SCRIPT = _LUA_NOW + """
local dropped = 0
for i = 1, #KEYS do
  local stored = redis.call('GET', KEYS[i])
  if stored then
    local th, tl = parse(stored)
    if th < now_h or (th == now_h and tl <= now_l) then
      redis.call('DEL', KEYS[i])
      dropped = dropped + 1
    end
  end
end
return dropped
"""


def is_redis_spec(spec: str) -> bool:
    return spec.startswith(_SCHEMES)


@dataclass(frozen=True)
class RedisDecision:
    """The same fields as `sentra_openai._native.NativeDecision`, so RateLimiter reads both alike."""

    allowed: bool
    remaining: list[int]
    reset_after_ns: list[int]
    retry_after_ns: list[int]
    too_large: list[bool]


@dataclass(frozen=True)
class _Bucket:
    capacity: int
    period_ns: int
    cost: int

    @property
    def too_large(self) -> bool:
        return self.cost > self.capacity

    @property
    def emission_ns(self) -> int:
        return -(-self.cost * self.period_ns // self.capacity)  # ceil(cost * P / C)


class _Script:
    """A Lua script run by EVALSHA, falling back to EVAL (which also caches it) on NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, client: Any, keys: Sequence[bytes], args: Sequence[str | bytes]) -> Any:
        from redis.exceptions import NoScriptError

        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)


_GCRA = _Script(GCRA_SCRIPT)
_EVICT = _Script(EVICT_SCRIPT)


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ImportError(
            "the Redis limiter store needs the 'redis' package: pip install 'sentra-openai[redis]'"
        ) from exc
    return redis


def _remaining(wait_ns: int, capacity: int, period_ns: int) -> int:
    """Units admissible now given `wait_ns` until full: floor((P - wait) * C / P), clamped at 0."""
    if wait_ns >= period_ns:
        return 0
    return (period_ns - wait_ns) * capacity // period_ns


class RedisStore:
    """GCRA buckets in Redis; `acquire` mirrors `NativeLimiter.acquire` (limits as (name, capacity, period_ns))."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        grace_ms: int = DEFAULT_GRACE_MS,
        client: Any = None,
    ) -> None:
        if not is_redis_spec(url):
            raise ValueError(f"not a Redis URL: {url!r} (expected redis://host:port/db, rediss://… or unix://…)")
        self.url = url
        self.key_prefix = key_prefix.encode()
        self.grace_ms = grace_ms
        if client is None:
            redis = _import_redis()
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # One immediate retry: after a Redis restart the first command on a pooled connection
            # fails, and the retry reconnects. More (or backing off) would only stall requests.
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
                socket_timeout=DEFAULT_SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), 1),
            )
        self.client = client

    @property
    def store(self) -> str:
        return self.url

    def bucket_key(self, key: str, name: str) -> bytes:
        """`prefix` + `len(key):{key}:name`: the length makes any (key, name) pair unambiguous, and the
        braces are a Redis Cluster hash tag, so all of one key's buckets share a slot."""
        raw = key.encode("utf-8", "surrogatepass")
        return b"%s%d:{%s}:%s" % (self.key_prefix, len(raw), raw, name.encode("utf-8", "surrogatepass"))

    def acquire(
        self, key: str, limits: Sequence[tuple[str, int, int]], costs: Sequence[int], now_ns: int | None = None
    ) -> RedisDecision:
        """Charge `costs[i]` to limit `limits[i]` of `key`, all or none; `now_ns=None` uses Redis's clock."""
        checked = check_request(limits, costs, now_ns)
        buckets = [_Bucket(capacity, period_ns, cost) for _, capacity, period_ns, cost in checked]
        args: list[str | bytes] = ["" if now_ns is None else str(now_ns), str(self.grace_ms)]
        for bucket in buckets:
            args += ["-" if bucket.too_large else str(bucket.emission_ns), str(bucket.period_ns)]
        keys = [self.bucket_key(key, name) for name, _, _ in limits]
        reply = self._run(_GCRA, keys, args)
        now = int(reply[0])
        stored = [int(tat) if tat else now for tat in reply[2:]]
        decision = _decide(buckets, stored, now)
        if decision.allowed != bool(int(reply[1])):
            raise RuntimeError("the Redis limiter script and its client disagree; this is a bug")
        return decision

    def evict_expired(self, now_ns: int | None = None) -> int:
        """Delete buckets whose TAT is at or before `now_ns` (Redis's clock when None); returns how many.

        Redis also expires them by itself, so this matters only to callers with their own clock.
        """
        now_arg = "" if now_ns is None else str(check_u64(now_ns, "now_ns"))
        pattern = re.sub(rb"([*?\[\]\\])", rb"\\\1", self.key_prefix) + b"*"
        dropped = 0
        try:
            batch: list[bytes] = []
            for found in self.client.scan_iter(match=pattern, count=1000):
                batch.append(found)
                if len(batch) == 500:
                    dropped += int(self._run(_EVICT, batch, [now_arg]))
                    batch = []
            if batch:
                dropped += int(self._run(_EVICT, batch, [now_arg]))
        except _redis_errors() as exc:
            raise _unavailable(self.url, exc) from exc
        return dropped

    def close(self) -> None:
        self.client.close()

    def _run(self, script: _Script, keys: Sequence[bytes], args: Sequence[str | bytes]) -> Any:
        try:
            return script(self.client, keys, args)
        except _redis_errors() as exc:
            raise _unavailable(self.url, exc) from exc

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r})"


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def _unavailable(url: str, exc: BaseException) -> LimiterUnavailable:
    return LimiterUnavailable(f"the Redis limiter store {_safe_url(url)} failed: {type(exc).__name__}: {exc}")


def _safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _decide(buckets: Sequence[_Bucket], tats: Sequence[int], now: int) -> RedisDecision:
    """sentra-core's `gcra::decide` on the snapshot the script decided on (tats as before the request)."""
    allowed: list[bool] = []
    remaining: list[int] = []
    reset: list[int] = []
    retry: list[int] = []
    for bucket, tat in zip(buckets, tats):
        wait_now = max(tat - now, 0)
        if bucket.too_large:
            allowed.append(False)
            remaining.append(_remaining(wait_now, bucket.capacity, bucket.period_ns))
            reset.append(wait_now)
            retry.append(NEVER_NS)
            continue
        ahead = max(tat, now) + bucket.emission_ns - now
        if ahead <= bucket.period_ns:
            allowed.append(True)
            remaining.append(_remaining(ahead, bucket.capacity, bucket.period_ns))
            reset.append(ahead)
            retry.append(0)
        else:
            allowed.append(False)
            remaining.append(_remaining(wait_now, bucket.capacity, bucket.period_ns))
            reset.append(wait_now)
            retry.append(ahead - bucket.period_ns)
    admitted = all(allowed)
    if not admitted:
        # Nothing was charged: limits that would have admitted report the state they keep.
        for index, (bucket, tat) in enumerate(zip(buckets, tats)):
            if allowed[index]:
                wait_now = max(tat - now, 0)
                remaining[index] = _remaining(wait_now, bucket.capacity, bucket.period_ns)
                reset[index] = wait_now
    return RedisDecision(admitted, remaining, reset, retry, [b.too_large for b in buckets])
