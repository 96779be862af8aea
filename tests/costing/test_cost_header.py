"""X-Sentra-Cost-USD on every response: exact, from the catalog's prices and the response's own usage.

The expected cost is recomputed here with `decimal` from the catalog's price strings (USD per 1M tokens, or per image):
(prompt - cached) x input + cached x cached_input + completion x output (tokens-pricing.md "Pointers"); reasoning
tokens are part of completion_tokens and bill as output.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import orjson
import pytest
from sentra_openai.catalog import Catalog

pytestmark = pytest.mark.server
CATALOG = Catalog.default()
MILLION = Decimal(1_000_000)


def token_cost(model: str, prompt: int, cached: int, completion: int) -> Decimal:
    prices = CATALOG[model].prices
    cached_price = Decimal(prices.cached_input if prices.cached_input is not None else prices.input)
    return ((prompt - cached) * Decimal(prices.input) + cached * cached_price
            + completion * Decimal(prices.output)) / MILLION


def header_cost(response: httpx.Response) -> Decimal:
    text = response.headers["x-sentra-cost-usd"]
    assert "e" not in text.lower() and not text.startswith("-")  # a plain decimal string, never float notation
    return Decimal(text)


def post(server, path: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.api_url}{path}", json=body, headers={"authorization": "Bearer sk-cost", **headers},
                      timeout=10)


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "o3", "gpt-5-nano", "gpt-5.4-nano",
                                   "gpt-6-astra", "gpt-5.6-luna"])
def test_chat_cost_is_exact(fast_server, model):
    params = {"max_completion_tokens": 900} if CATALOG[model].reasoning else {"max_tokens": 200}
    response = post(fast_server, "/chat/completions",
                    {"model": model, "messages": [{"role": "user", "content": "Explain how rivers form"}], **params})
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    expected = token_cost(model, usage["prompt_tokens"], cached, usage["completion_tokens"])
    assert header_cost(response) == expected > 0
    if CATALOG[model].reasoning:
        assert usage["completion_tokens_details"]["reasoning_tokens"] > 0  # billed within completion_tokens


def test_streamed_cost_matches_the_final_usage_chunk(fast_server):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Describe a delta"}], "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": 120}
    with httpx.stream("POST", f"{fast_server.api_url}/chat/completions", json=body, timeout=10) as response:
        cost = header_cost(response)
        events = [e for e in b"".join(response.iter_bytes()).split(b"\n\n") if e]
    usage = orjson.loads(events[-2].removeprefix(b"data: "))["usage"]
    assert cost == token_cost("gpt-4o", usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"],
                              usage["completion_tokens"])


def test_completions_and_embeddings_cost(fast_server):
    completion = post(fast_server, "/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Rivers are",
                                                    "max_tokens": 50})
    usage = completion.json()["usage"]
    assert header_cost(completion) == token_cost("gpt-3.5-turbo-instruct", usage["prompt_tokens"], 0,
                                                 usage["completion_tokens"])
    embedding = post(fast_server, "/embeddings", {"model": "text-embedding-3-large",
                                                  "input": ["a river", "a long winding river to the sea"]})
    tokens = embedding.json()["usage"]["prompt_tokens"]
    assert header_cost(embedding) == token_cost("text-embedding-3-large", tokens, 0, 0) > 0


@pytest.fixture(scope="module")
def dalle_server(tmp_path_factory):
    """A fast server on a day before DALL-E's shutdown (2026-05-12, the SDK's ImageModel docstring)."""
    from conftest import start_server

    server = start_server(tmp_path_factory.mktemp("dalle"), {"metrics": {"enable": False}},
                          env={"SENTRA_MODELS_AS_OF": "2026-05-11"})
    yield server
    server.stop()


@pytest.mark.parametrize("model,quality,size,n", [("dall-e-3", "hd", "1792x1024", 1), ("dall-e-3", "standard", "1024x1024", 1),
                                                  ("dall-e-2", "standard", "256x256", 3)])
def test_images_cost_per_image(dalle_server, model, quality, size, n):
    body = {"model": model, "prompt": "a river delta from above", "size": size, "n": n}
    if model == "dall-e-3":
        body["quality"] = quality
    response = post(dalle_server, "/images/generations", body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == n
    assert header_cost(response) == n * Decimal(CATALOG[model].image_prices[quality][size].usd)


def test_errors_and_free_endpoints_cost_nothing(fast_server):
    responses = [
        post(fast_server, "/chat/completions", {"model": "gpt-4o", "messages": []}),
        post(fast_server, "/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
             **{"x-sentra-error": "500"}),
        httpx.get(f"{fast_server.api_url}/models"),
    ]
    assert [r.status_code for r in responses] == [400, 500, 200]
    assert all(header_cost(r) == 0 for r in responses)


def test_cached_prompt_tokens_bill_at_the_cached_price(fast_server):
    system = "You are a meticulous hydrologist. " + "Rivers carry sediment from mountains to the sea. " * 160
    body = {"model": "gpt-4o", "max_tokens": 20,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": "Why do rivers meander?"}]}
    post(fast_server, "/chat/completions", body, authorization="Bearer sk-cost-cache")
    again = post(fast_server, "/chat/completions", body, authorization="Bearer sk-cost-cache")
    usage = again.json()["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 1024
    assert header_cost(again) == token_cost("gpt-4o", usage["prompt_tokens"], cached, usage["completion_tokens"])
    assert header_cost(again) < token_cost("gpt-4o", usage["prompt_tokens"], 0, usage["completion_tokens"])
