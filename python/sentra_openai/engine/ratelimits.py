"""OpenAI's rate-limit rules over the generic limiter: which buckets a request is charged to, the x-ratelimit-*
headers, and the 429 bodies.

Sources: shared/design.md "Rate limiting semantics"; shared/reference/openai-wire.md §1.2 (header formats) and §2.4
(429 messages: type `requests` / `tokens`, code `rate_limit_exceeded`, Go-duration waits).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import RateLimitSettings
from ..ratelimit import Decision, Limit, RateLimiter, format_go_duration
from .errors import ApiError

RATE_LIMITS_URL = "https://platform.openai.com/account/rate-limits"
_WINDOW_WORDS = {
    "requests": ("requests per min (RPM)", "requests"),
    "tokens": ("tokens per min (TPM)", "tokens"),
    "requests_per_day": ("requests per day (RPD)", "requests"),
}


@dataclass(frozen=True)
class ModelLimits:
    rpm: int
    tpm: int
    rpd: int | None

    def limits(self) -> list[Limit]:
        limits = [Limit("requests", self.rpm, per_seconds=60.0), Limit("tokens", self.tpm, per_seconds=60.0)]
        if self.rpd:
            limits.append(Limit("requests_per_day", self.rpd, per_seconds=86400.0))
        return limits


@dataclass(frozen=True)
class Admission:
    decision: Decision
    limits: ModelLimits
    headers: dict[str, str]


class RateLimits:
    def __init__(self, settings: RateLimitSettings, limiter: RateLimiter, organization_id: str) -> None:
        self.settings = settings
        self.limiter = limiter
        self.organization_id = organization_id

    def limits_for(self, model) -> ModelLimits | None:
        tier = model.limits.get(self.settings.default_tier) if model.limits else None
        override = self.settings.overrides.get(model.id, {})
        rpm = override.get("rpm") or (tier.rpm if tier else None)
        tpm = override.get("tpm") or (tier.tpm if tier else None)
        rpd = override["rpd"] if "rpd" in override else (tier.rpd if tier else None)
        if not rpm or not tpm:
            return None  # no published limits for this model and tier: unlimited
        return ModelLimits(rpm=rpm, tpm=tpm, rpd=rpd)

    def admit(self, api_key: str, model, tokens: int) -> Admission | None:
        """Charges 1 request and `tokens`; raises the 429 OpenAI would send when a bucket refuses."""
        if not self.settings.enable:
            return None
        limits = self.limits_for(model)
        if limits is None:
            return None
        bucket_limits = limits.limits()
        costs = [1, tokens] + ([1] if limits.rpd else [])
        decision = self.limiter.acquire(f"{api_key}\x1f{model.id}", bucket_limits, costs)
        headers = _headers(limits, decision)
        if not decision.allowed:
            raise self._refusal(model.id, bucket_limits, costs, decision, headers)
        return Admission(decision, limits, headers)

    def _refusal(self, model_id: str, limits: list[Limit], costs: list[int], decision: Decision, headers: dict[str, str]) -> ApiError:
        index = decision.denied_by
        assert index is not None
        limit, cost = limits[index], costs[index]
        window, error_type = _WINDOW_WORDS[limit.name]
        where = f"for {model_id} in organization {self.organization_id} on {window}"
        if decision.too_large[index]:
            message = (
                f"Request too large {where}: Limit {limit.capacity}, Requested {cost}. "
                "The input or output tokens must be reduced in order to run successfully."
            )
            return ApiError(429, message, type=error_type, code="rate_limit_exceeded", headers=headers)
        wait_ns = decision.retry_after_ns[index] or 0
        used = limit.capacity - decision.remaining[index]
        message = (
            f"Rate limit reached {where}: Limit {limit.capacity}, Used {used}, Requested {cost}. "
            f"Please try again in {format_go_duration(wait_ns)}. Visit {RATE_LIMITS_URL} to learn more."
        )
        retry_headers = dict(headers)
        retry_headers["retry-after"] = str(max(1, -(-wait_ns // 1_000_000_000)))
        retry_headers["retry-after-ms"] = str(max(1, -(-wait_ns // 1_000_000)))
        return ApiError(429, message, type=error_type, code="rate_limit_exceeded", headers=retry_headers)


def _headers(limits: ModelLimits, decision: Decision) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limits.rpm),
        "x-ratelimit-limit-tokens": str(limits.tpm),
        "x-ratelimit-remaining-requests": str(decision.remaining[0]),
        "x-ratelimit-remaining-tokens": str(decision.remaining[1]),
        "x-ratelimit-reset-requests": format_go_duration(decision.reset_after_ns[0]),
        "x-ratelimit-reset-tokens": format_go_duration(decision.reset_after_ns[1]),
    }
