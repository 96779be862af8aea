"""OpenAI's rate-limit rules over the generic limiter: which buckets a request is charged to, the x-ratelimit-*
headers, and the 429 bodies.

Sources: shared/design.md "Rate limiting semantics"; shared/reference/openai-wire.md §1.2 (header formats) and §2.4
(429 messages: type `requests` / `tokens`, code `rate_limit_exceeded`, Go-duration waits, "Request too large").
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import RateLimitSettings
from ...ratelimit import Decision, Limit, RateLimiter, format_go_duration
from ..errors import ApiError
from ..organization import Organization

RATE_LIMITS_URL = "https://platform.openai.com/account/rate-limits"
MINUTE_SECONDS = 60.0
DAY_SECONDS = 86_400.0

IMAGE_RATE_LIMITS_DOCS = "https://platform.openai.com/docs/guides/rate-limits"
# limit name -> (how OpenAI's message names the window, the error `type`, the short name used in metrics and logs)
_WINDOWS = {
    "requests": ("requests per min (RPM)", "requests", "rpm"),
    "tokens": ("tokens per min (TPM)", "tokens", "tpm"),
    "requests_per_day": ("requests per day (RPD)", "requests", "rpd"),
    # GPT-image 429s name the window as chat's do (third-party copies of gpt-image-1/-2 bodies, 2025-26:
    # "... on images per min (IPM): Limit 5, Used 5, Requested 1. Please try again in 12s. Visit ...").
    "images": ("images per min (IPM)", "requests", "images"),
}


class RateLimitRefusal(ApiError):
    """OpenAI's 429 for a refused request; `limit` says which bucket refused ("rpm", "tpm" or "rpd")."""

    def __init__(self, message: str, limit: str, error_type: str, headers: dict[str, str]) -> None:
        super().__init__(429, message, type=error_type, code="rate_limit_exceeded", headers=headers)
        self.limit = limit


@dataclass(frozen=True)
class ModelLimits:
    rpm: int
    tpm: int
    rpd: int | None

    def limits(self, window_scale: float = 1.0) -> list[Limit]:
        minute = MINUTE_SECONDS * window_scale
        limits = [Limit("requests", self.rpm, per_seconds=minute), Limit("tokens", self.tpm, per_seconds=minute)]
        if self.rpd:
            limits.append(Limit("requests_per_day", self.rpd, per_seconds=DAY_SECONDS * window_scale))
        return limits


@dataclass(frozen=True)
class Admission:
    decision: Decision
    limits: ModelLimits
    headers: dict[str, str]


def window_scale_for(settings) -> float:
    """How long a rate-limit "minute" lasts, relative to a real one: the configured `latency.time_scale`.

    Simulated time runs at one speed: at time_scale 0.01 a response takes 1/100 of its real time and a bucket refills
    100 times faster, so retry-after waits shrink with every other delay. Without delays (latency off, or scale 0)
    windows keep their real length: there is no meaningful "infinitely fast" minute.
    """
    scale = settings.latency.time_scale
    return scale if settings.latency.enable and scale > 0 else 1.0


class RateLimits:
    def __init__(self, settings: RateLimitSettings, limiter: RateLimiter, organization: Organization,
                 window_scale: float = 1.0) -> None:
        self.settings = settings
        self.limiter = limiter
        self.organization = organization  # the engine's one record (Services.organization): messages name its id
        self.window_scale = window_scale

    @property
    def organization_id(self) -> str:
        return self.organization.id

    def period(self, real_seconds: float) -> float:
        """The length of a window of `real_seconds` in this server's (scaled) time, for other limits (images)."""
        return real_seconds * self.window_scale

    def limits_for(self, model) -> ModelLimits | None:
        tier = model.limits.get(self.settings.default_tier) if model.limits else None
        override = self.settings.overrides.get(model.id, {})
        rpm = override.get("rpm") or (tier.rpm if tier else None)
        tpm = override.get("tpm") or (tier.tpm if tier else None)
        rpd = override.get("rpd", tier.rpd if tier else None)  # an explicit `rpd: null` removes the tier's RPD
        if not rpm or not tpm:
            return None  # no published request and token limits for this model and tier: unlimited
        return ModelLimits(rpm=rpm, tpm=tpm, rpd=rpd)

    epoch = ""  # the control API's reset moves every client to fresh buckets (engine/tooling/control_state.py)

    def _bucket(self, api_key: str, model) -> str:
        return f"{api_key}\x1f{model.id}{self.epoch}"

    def admit(self, api_key: str, model, tokens: int) -> Admission | None:
        """Charges 1 request and `tokens`, all or nothing; raises the 429 OpenAI would send when a bucket refuses."""
        if not self.settings.enable:
            return None
        limits = self.limits_for(model)
        if limits is None:
            return None
        bucket_limits = limits.limits(self.window_scale)
        costs = [1, tokens] + ([1] if limits.rpd else [])
        decision = self.limiter.acquire(self._bucket(api_key, model), bucket_limits, costs)
        headers = _headers(limits, decision)
        if not decision.allowed:
            raise self._refusal(model.id, bucket_limits, costs, decision, headers)
        return Admission(decision, limits, headers)

    def admit_images(self, api_key: str, model, n: int) -> None:
        """Images per minute from the catalog tier or an `ipm` override; the images endpoint sends no
        x-ratelimit-* headers (real captures show none)."""
        if not self.settings.enable:
            return
        tier = model.limits.get(self.settings.default_tier)
        ipm = self.settings.overrides.get(model.id, {}).get("ipm") or (tier.ipm if tier is not None else None)
        if not ipm:
            return
        limit = Limit("images", ipm, per_seconds=self.period(MINUTE_SECONDS))
        decision = self.limiter.acquire(self._bucket(api_key, model) + "\x1fimages", [limit], [n])
        if decision.allowed:
            return
        wait_ns = decision.retry_after_ns[0]
        current = ipm - decision.remaining[0] + n
        # Message, type and code of real dall-e 429s (third-party raw bodies, 2023-24).
        message = (
            f"Rate limit exceeded for images per minute in organization {self.organization_id}. "
            f"Limit: {ipm}/1min. Current: {current}/1min. Please visit {IMAGE_RATE_LIMITS_DOCS} to learn how to "
            "increase your rate limit."
        )
        headers = {} if wait_ns is None else _retry_headers(wait_ns)
        raise RateLimitRefusal(message, "images", "requests", headers)

    def admit_gpt_image(self, api_key: str, model, n: int, tokens: int) -> None:
        """A GPT-image model's images per minute and tokens per minute, charged together, all or nothing: `n`
        pictures and `tokens` (the request's input text and image tokens plus the output image tokens: the model
        pages list both an IPM and a TPM limit). Like dall-e, no x-ratelimit-* headers on the answer (the
        gpt-image-1-mini capture, openai-wire.md §1.1); a refusal is chat's 429 with retry-after."""
        if not self.settings.enable:
            return
        tier = model.limits.get(self.settings.default_tier) if model.limits else None
        override = self.settings.overrides.get(model.id, {})
        ipm = override.get("ipm") or (tier.ipm if tier is not None else None)
        tpm = override.get("tpm") or (tier.tpm if tier is not None else None)
        minute = self.period(MINUTE_SECONDS)
        limits = ([Limit("images", ipm, per_seconds=minute)] if ipm else []) + (
            [Limit("tokens", tpm, per_seconds=minute)] if tpm else [])
        if not limits:
            return
        costs = ([n] if ipm else []) + ([tokens] if tpm else [])
        decision = self.limiter.acquire(self._bucket(api_key, model) + "\x1fgpt-image", limits, costs)
        if not decision.allowed:
            raise self._refusal(model.id, limits, costs, decision, {})

    def _refusal(self, model_id: str, limits: list[Limit], costs: list[int], decision: Decision,
                 headers: dict[str, str]) -> RateLimitRefusal:
        # A request no wait can ever admit is reported as such first, whatever else also refused.
        too_large = [i for i, large in enumerate(decision.too_large) if large]
        index = too_large[0] if too_large else decision.denied_by
        assert index is not None
        limit, cost = limits[index], costs[index]
        window, error_type, short = _WINDOWS[limit.name]
        where = f"for {model_id} in organization {self.organization_id} on {window}"
        if too_large:
            # No retry-after: waiting never helps (the SDK still retries a 429, as it does against OpenAI).
            message = (
                f"Request too large {where}: Limit {limit.capacity}, Requested {cost}. "
                "The input or output tokens must be reduced in order to run successfully."
            )
            return RateLimitRefusal(message, short, error_type, headers)
        wait_ns = decision.retry_after_ns[index] or 0
        used = limit.capacity - decision.remaining[index]
        message = (
            f"Rate limit reached {where}: Limit {limit.capacity}, Used {used}, Requested {cost}. "
            f"Please try again in {format_go_duration(wait_ns)}. Visit {RATE_LIMITS_URL} to learn more."
        )
        # The whole request is admitted once its slowest refusing bucket admits it.
        whole_wait_ns = max(ns for ns in decision.retry_after_ns if ns is not None)
        return RateLimitRefusal(message, short, error_type, {**headers, **_retry_headers(whole_wait_ns)})


def _retry_headers(wait_ns: int) -> dict[str, str]:
    """retry-after: whole seconds, at least 1 (OpenAPI spec: integer >= 1); retry-after-ms: exact, rounded up."""
    return {"retry-after": str(max(1, -(-wait_ns // 1_000_000_000))), "retry-after-ms": str(max(1, -(-wait_ns // 1_000_000)))}


def _headers(limits: ModelLimits, decision: Decision) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limits.rpm),
        "x-ratelimit-limit-tokens": str(limits.tpm),
        "x-ratelimit-remaining-requests": str(decision.remaining[0]),
        "x-ratelimit-remaining-tokens": str(decision.remaining[1]),
        "x-ratelimit-reset-requests": _reset_value(decision.reset_after_ns[0]),
        "x-ratelimit-reset-tokens": _reset_value(decision.reset_after_ns[1]),
    }


def _reset_value(ns: int) -> str:
    """Reset headers truncate to the millisecond: real answers show 1.2 ms as `1ms`, 3.9 ms as `3ms` and 0.6 ms as
    `0s` (captures chat-basic, chat-tools, chat-bad-request). Waits in 429 messages round up instead."""
    return format_go_duration(ns - ns % 1_000_000)
