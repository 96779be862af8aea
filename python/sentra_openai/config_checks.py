"""The checks of resolved Settings that types alone cannot express (ranges, enumerations, formats): each failure is
a ConfigError naming the dotted key, as config.py's loader reports every other problem."""

from __future__ import annotations

import datetime
import re
from typing import Any

from .config import LOG_LEVELS, STATE_STORES, STORES, TIERS, ConfigError, Settings
from .state.sqlite import SYNCHRONOUS


def validate(s: Settings) -> None:
    def fail(key: str, expected: str, got: Any) -> None:
        raise ConfigError(f"config: {key}: expected {expected}, got {got!r}")

    if not 0 <= s.server.port <= 65535:
        fail("server.port", "a port number 0..65535", s.server.port)
    if not 0 <= s.metrics.port <= 65535:
        fail("metrics.port", "a port number 0..65535", s.metrics.port)
    if s.server.processes < 1:
        fail("server.processes", "at least 1", s.server.processes)
    if s.server.organization_id is not None and not re.fullmatch(r"org-[0-9A-Za-z]{1,64}", s.server.organization_id):
        fail("server.organization_id", "null or an id such as org-71S7UOygwwfrJ7ox1qe2ZhCq", s.server.organization_id)
    if s.server.max_body_bytes < 1:
        fail("server.max_body_bytes", "a positive number of bytes", s.server.max_body_bytes)
    for key in ("idle_timeout_seconds", "header_timeout_seconds", "body_timeout_seconds", "send_timeout_seconds"):
        if not getattr(s.server, key) > 0:
            fail(f"server.{key}", "a positive number of seconds", getattr(s.server, key))
    if s.server.keepalive_requests < 0:
        fail("server.keepalive_requests", "0 (no cap) or a positive number of requests", s.server.keepalive_requests)
    if s.server.max_connections < 1:
        fail("server.max_connections", "a positive number of connections", s.server.max_connections)
    if s.rate_limiting.default_tier not in TIERS:
        fail("rate_limiting.default_tier", "one of " + ", ".join(TIERS), s.rate_limiting.default_tier)
    if s.rate_limiting.store not in STORES:
        fail("rate_limiting.store", "one of " + ", ".join(STORES), s.rate_limiting.store)
    if s.rate_limiting.store == "redis" and not s.rate_limiting.redis_url:
        fail("rate_limiting.redis_url", "a redis:// URL when store is redis", None)
    if s.state.store not in STATE_STORES:
        fail("state.store", "one of " + ", ".join(STATE_STORES), s.state.store)
    if s.state.synchronous not in SYNCHRONOUS:
        fail("state.synchronous", "one of " + ", ".join(SYNCHRONOUS), s.state.synchronous)
    if s.state.store == "memory" and s.server.processes > 1:
        fail("state.store", "sqlite or redis with several processes (a memory store is private to each worker)",
             s.state.store)
    if s.state.ttl_seconds < 0:
        fail("state.ttl_seconds", "a number of seconds >= 0 (0: never expire)", s.state.ttl_seconds)
    if s.models.as_of != "today":
        try:
            datetime.date.fromisoformat(s.models.as_of)
        except ValueError:
            fail("models.as_of", "today or an ISO date such as 2026-12-01", s.models.as_of)
    if s.rate_limiting.token_charge not in ("requested", "observed"):
        fail("rate_limiting.token_charge", "requested or observed", s.rate_limiting.token_charge)
    if s.rate_limiting.redis_failure_policy not in ("open", "closed"):
        fail("rate_limiting.redis_failure_policy", "open or closed", s.rate_limiting.redis_failure_policy)
    for model, override in s.rate_limiting.overrides.items():
        if not isinstance(override, dict):
            fail(f"rate_limiting.overrides.{model}", "a mapping such as {rpm: 500, tpm: 30000}", override)
        for key, value in override.items():
            if key not in ("rpm", "tpm", "rpd", "ipm"):
                fail(f"rate_limiting.overrides.{model}.{key}", "one of rpm, tpm, rpd, ipm", key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                fail(f"rate_limiting.overrides.{model}.{key}", "a positive integer or null", value)
    if s.latency.time_scale < 0:
        fail("latency.time_scale", "a number >= 0", s.latency.time_scale)
    ei = s.error_injection
    for key, rate in (("base_error_rate", ei.base_error_rate), ("midstream_rate", ei.midstream_rate)):
        if not 0.0 <= rate <= 1.0:
            fail(f"error_injection.{key}", "a probability between 0 and 1", rate)
    _validate_weights("error_injection.weights", ei.weights)
    for model, entry in ei.per_model.items():
        if not isinstance(entry, dict) or set(entry) - {"rate", "weights"}:
            fail(f"error_injection.per_model.{model}", "a mapping with keys rate and/or weights", entry)
        rate = entry.get("rate", ei.base_error_rate)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
            fail(f"error_injection.per_model.{model}.rate", "a probability between 0 and 1", rate)
        if "weights" in entry:
            _validate_weights(f"error_injection.per_model.{model}.weights", entry["weights"])
    if s.logging.level not in LOG_LEVELS:
        fail("logging.level", "one of " + ", ".join(LOG_LEVELS), s.logging.level)
    if s.prompt_caching.min_tokens < 1 or s.prompt_caching.increment < 1:
        fail("prompt_caching", "positive min_tokens and increment", (s.prompt_caching.min_tokens, s.prompt_caching.increment))
    for key in ("paths", "moderation_paths"):
        for path in getattr(s.fixtures, key):
            if not isinstance(path, str):
                fail(f"fixtures.{key}", "a list of paths", path)
    for key in s.auth.api_keys:
        if not isinstance(key, str) or not key:
            fail("auth.api_keys", "a list of non-empty strings", key)
    for name, model in s.azure.deployments.items():
        if not isinstance(model, str) or not model:
            fail(f"azure.deployments.{name}", "a model id", model)
    if s.control.max_logged_requests < 1:
        fail("control.max_logged_requests", "at least 1", s.control.max_logged_requests)
    if s.recording.dir and not s.recording.upstream:
        fail("recording.upstream", "the upstream URL to record from (recording.dir is set)", None)


def _validate_weights(key: str, weights: Any) -> None:
    if not isinstance(weights, dict) or not weights:
        raise ConfigError(f"config: {key}: expected a mapping of status code to weight, got {weights!r}")
    for status, weight in weights.items():
        if str(status) not in ("429", "500", "502", "503", "504"):
            raise ConfigError(f"config: {key}: unknown fault {status!r} (known: 429, 500, 502, 503, 504)")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            raise ConfigError(f"config: {key}.{status}: expected a weight >= 0, got {weight!r}")
