"""GPT-image models under their two per-minute limits, images (IPM) and tokens (TPM), as the SDK meets them.

The SDK talks to an in-process engine through an httpx transport, so the limiter's clock is a ManualClock the test
drives: no refill happens between two calls unless the test advances it.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import openai
import pytest
import yaml
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.reference import reference_cost_usd

PINNED_DAY = "2026-06-01"  # every GPT-image model answers on that day


def _sdk_over_engine(tmp_path, config: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"error_injection": {"enable": False}, "latency": {"enable": False}, **config}))
    clock = ManualClock()
    engine = build_engine(load_settings(config_path=path, mode="default", environ={},
                                        cli={"models.as_of": PINNED_DAY}), clock=clock)

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        outcome = engine.handle(Request(request.method, request.url.path, headers, request.read(),
                                        tuple(request.url.params.multi_items())))
        return httpx.Response(outcome.status, headers=outcome.headers, content=outcome.body)

    client = openai.OpenAI(api_key="sk-limits", base_url="http://sim/v1", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    return client, clock, engine


def test_tokens_per_minute_refuse_a_picture_the_images_limit_would_still_admit(tmp_path):
    # Tier 1 allows 5 images a minute; a 10,000-token TPM (an override) runs out after two high-quality squares.
    client, clock, engine = _sdk_over_engine(tmp_path, {"rate_limiting": {
        "default_tier": "tier1", "overrides": {"gpt-image-1.5": {"tpm": 10000}}}})
    first = client.images.with_raw_response.generate(model="gpt-image-1.5", prompt="a red fox", quality="high",
                                                     size="1024x1024", n=2)
    image = first.parse()
    assert image.usage.output_tokens == 2 * 4160
    assert not any(name.startswith("x-ratelimit") for name in first.headers)  # the images endpoint sends none

    with pytest.raises(openai.RateLimitError) as refused:
        client.images.generate(model="gpt-image-1.5", prompt="a red fox", quality="high", size="1024x1024")
    used = image.usage.total_tokens
    organization = engine.services.rate_limits.organization_id
    error = refused.value.body
    assert error["type"] == "tokens" and error["code"] == "rate_limit_exceeded" and error["param"] is None
    requested = 4160 + image.usage.input_tokens  # one picture of the same prompt
    wait = (requested - (10000 - used)) * 6 / 1000  # a 10,000 TPM bucket refills one token per 6 ms
    assert error["message"] == (
        f"Rate limit reached for gpt-image-1.5 in organization {organization} on tokens per min (TPM): "
        f"Limit 10000, Used {used}, Requested {requested}. Please try again in {wait:g}s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more.")
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert not any(name.startswith("x-ratelimit") for name in refused.value.response.headers)

    clock.advance(60)  # a minute later the bucket is full again
    again = client.images.generate(model="gpt-image-1.5", prompt="a red fox", quality="high", size="1024x1024")
    assert again.usage.output_tokens == 4160


def test_a_refused_request_is_not_charged_to_the_images_limit(tmp_path):
    """The two limits are charged all or nothing: a TPM refusal leaves the IPM bucket as it was."""
    client, _, _ = _sdk_over_engine(tmp_path, {"rate_limiting": {
        "default_tier": "tier1", "overrides": {"gpt-image-1": {"tpm": 5000, "ipm": 3}}}})
    for _ in range(3):  # three low-quality squares: 3 images, well under 5,000 tokens
        client.images.generate(model="gpt-image-1", prompt="a dot", quality="low", size="1024x1024")
    with pytest.raises(openai.RateLimitError) as refused:
        client.images.generate(model="gpt-image-1", prompt="a dot", quality="low", size="1024x1024")
    assert refused.value.body["type"] == "requests"
    assert " on images per min (IPM): Limit 3, Used 3, Requested 1. " in refused.value.body["message"]


def test_a_request_above_the_whole_token_limit_is_too_large(tmp_path):
    client, _, engine = _sdk_over_engine(tmp_path, {"rate_limiting": {
        "default_tier": "tier1", "overrides": {"gpt-image-1-mini": {"tpm": 4000}}}})
    with pytest.raises(openai.RateLimitError) as refused:
        client.images.generate(model="gpt-image-1-mini", prompt="a dot", quality="high", size="1024x1024")
    organization = engine.services.rate_limits.organization_id
    message = refused.value.body["message"]
    assert message.startswith(f"Request too large for gpt-image-1-mini in organization {organization} on tokens "
                              "per min (TPM): Limit 4000, Requested ")
    assert "retry-after" not in refused.value.response.headers  # waiting never helps


def test_cost_bills_text_and_image_tokens_at_their_prices(tmp_path):
    client, _, engine = _sdk_over_engine(tmp_path, {"rate_limiting": {"default_tier": "tier1"}})
    raw = client.images.with_raw_response.generate(model="gpt-image-1.5", prompt="a lighthouse at dusk",
                                                   quality="medium", size="1536x1024")
    usage = raw.parse().usage
    model = engine.services.catalog.get("gpt-image-1.5")
    text = model.prices
    image = model.image_token_prices
    expected = (reference_cost_usd(usage.input_tokens_details.text_tokens, 0, 0, text.input, text.cached_input,
                                   text.output)
                + reference_cost_usd(0, 0, usage.output_tokens, image.input, image.cached_input, image.output))
    assert usage.output_tokens == 1568
    assert Decimal(raw.headers["x-sentra-cost-usd"]) == expected
