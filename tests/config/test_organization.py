"""One organization names both places OpenAI names it: the `openai-organization` header (its slug) and the
`org-…` id of every 429 message, configured by server.organization (and server.organization_id)."""

from __future__ import annotations

import orjson
import pytest
from sentra_openai.config import ConfigError, load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.engine.organization import Organization, derived_id

HELLO = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]})


def engine_with(**cli):
    settings = load_settings(mode="default", environ={}, cli={
        "latency.enable": False, "error_injection.enable": False, "metrics.enable": False, **cli})
    return build_engine(settings, clock=ManualClock())


def limited_twice(engine):
    """One admitted request and one refused by an RPM of 1."""
    first = engine.handle(Request("POST", "/v1/chat/completions", {}, HELLO))
    second = engine.handle(Request("POST", "/v1/chat/completions", {}, HELLO))
    assert (first.status, second.status) == (200, 429)
    return first, second


def test_the_header_and_the_429_name_the_configured_organization():
    engine = engine_with(**{"server.organization": "acme-research",
                            "rate_limiting.overrides": {"gpt-4o-mini": {"rpm": 1, "tpm": 100000}}})
    first, refused = limited_twice(engine)
    assert first.headers["openai-organization"] == refused.headers["openai-organization"] == "acme-research"
    message = orjson.loads(refused.body)["error"]["message"]
    assert f"in organization {derived_id('acme-research')} on requests per min (RPM)" in message
    assert engine.services.organization == Organization("acme-research", derived_id("acme-research"))
    assert engine.services.rate_limits.organization is engine.services.organization  # one record, not two


def test_a_configured_id_is_the_one_every_429_names():
    engine = engine_with(**{"server.organization_id": "org-71S7UOygwwfrJ7ox1qe2ZhCq",
                            "rate_limiting.overrides": {"gpt-4o-mini": {"rpm": 1, "tpm": 100000}}})
    first, refused = limited_twice(engine)
    assert first.headers["openai-organization"] == "user-sentra-simulator"
    assert "in organization org-71S7UOygwwfrJ7ox1qe2ZhCq on" in orjson.loads(refused.body)["error"]["message"]
    injected = engine.handle(Request("POST", "/v1/chat/completions", {"x-sentra-error": "429"}, HELLO))
    assert "in organization org-71S7UOygwwfrJ7ox1qe2ZhCq on" in orjson.loads(injected.body)["error"]["message"]


def test_the_derived_id_has_openais_shape_and_is_stable():
    assert derived_id("user-sentra-simulator") == derived_id("user-sentra-simulator")
    assert derived_id("a") != derived_id("b")
    assert len(derived_id("a")) == 28 and derived_id("a").startswith("org-") and derived_id("a")[4:].isalnum()


def test_a_malformed_organization_id_is_refused():
    with pytest.raises(ConfigError, match="server.organization_id"):
        load_settings(environ={}, cli={"server.organization_id": "acme"})
