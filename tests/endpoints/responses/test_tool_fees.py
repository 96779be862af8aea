"""What the built-in tools cost in X-Sentra-Cost-USD on top of the model's tokens (config/responses.yaml builtin_tools
and its sources), and the image tokens an image_generation call counts for the pictures it is given."""

from __future__ import annotations

import base64
from decimal import Decimal

import httpx
import pytest
from sentra_openai.engine.content.png import picture_png

pytestmark = pytest.mark.server

HEADERS = {"authorization": "Bearer sk-test"}
# USD per 1M tokens: input, cached input, output (config/models.yaml).
PRICES = {"gpt-4.1": ("2.00", "0.50", "8.00"), "gpt-4.1-mini": ("0.40", "0.10", "1.60"),
          "gpt-4o-mini": ("0.15", "0.075", "0.60"), "gpt-5-mini": ("0.25", "0.025", "2.00")}
M = Decimal(10**6)


def create(server, **body) -> httpx.Response:
    response = httpx.post(server.api_url + "/responses", json=body, headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    return response


def tool_fee(response: httpx.Response) -> Decimal:
    """The cost beyond the response's own tokens at its model's prices."""
    body = response.json()
    usage, (price_in, price_cached, price_out) = body["usage"], map(Decimal, PRICES[body["model"].rsplit("-20", 1)[0]])
    cached = usage["input_tokens_details"]["cached_tokens"]
    tokens = ((usage["input_tokens"] - cached) * price_in + cached * price_cached + usage["output_tokens"] * price_out) / M
    return Decimal(response.headers["x-sentra-cost-usd"]) - tokens


def used(response: httpx.Response, kind: str) -> bool:
    return any(item["type"] == kind for item in response.json()["output"])


@pytest.mark.parametrize(("model", "tool", "fee"), [
    ("gpt-4.1", "web_search", Decimal("0.01")),  # $10 / 1k calls on every model
    ("gpt-5-mini", "web_search", Decimal("0.01")),
    ("gpt-4.1-mini", "web_search", Decimal("0.01") + 8000 * Decimal("0.40") / M),  # + the minis' 8,000-token block
    ("gpt-4o-mini", "web_search", Decimal("0.01") + 8000 * Decimal("0.15") / M),
    ("gpt-4.1", "web_search_preview", Decimal("0.025")),  # preview, no reasoning: $25 / 1k, content free
    ("gpt-4.1-mini", "web_search_preview", Decimal("0.025")),
    ("gpt-5-mini", "web_search_preview", Decimal("0.01")),  # preview on a reasoning model: $10 / 1k
])
def test_a_web_search_costs_its_published_fee(fast_server, model, tool, fee):
    response = create(fast_server, model=model, input="Search the web for the latest news on fusion power.",
                      tools=[{"type": tool}])
    assert used(response, "web_search_call")
    assert tool_fee(response) == fee
    plain = create(fast_server, model=model, input="Tell me about fusion power.", tools=[{"type": tool}])
    assert not used(plain, "web_search_call") and tool_fee(plain) == 0  # no call, no fee


def test_a_file_search_costs_its_published_fee(fast_server):
    response = create(fast_server, model="gpt-4.1", input="What do the documents say about the budget?",
                      tools=[{"type": "file_search", "vector_store_ids": ["vs_abc"]}])
    assert used(response, "file_search_call") and tool_fee(response) == Decimal("0.0025")


@pytest.mark.parametrize(("container", "fee"), [
    ({"type": "auto"}, Decimal("0.0075")),  # 1g: $0.03 per 20 minutes, billed per minute, 5 minutes at least
    ({"type": "auto", "memory_limit": "4g"}, Decimal("0.03")),  # $0.12 per 20 minutes
    ({"type": "auto", "memory_limit": "64g"}, Decimal("0.48")),  # $1.92 per 20 minutes
    ("cntr_existing", Decimal(0)),  # an existing container: its session was billed when it was made
])
def test_a_code_interpreter_session_costs_by_its_memory(fast_server, container, fee):
    response = create(fast_server, model="gpt-4.1", input="Calculate 12 times 13 with python",
                      tools=[{"type": "code_interpreter", "container": container}])
    assert used(response, "code_interpreter_call") and tool_fee(response) == fee


def test_before_per_minute_billing_a_session_cost_its_20_minutes(server_factory):
    server = server_factory({"metrics": {"enable": False}}, env={"SENTRA_MODELS_AS_OF": "2026-05-01"})
    response = create(server, model="gpt-4.1", input="Calculate 12 times 13 with python",
                      tools=[{"type": "code_interpreter", "container": {"type": "auto"}}])
    assert tool_fee(response) == Decimal("0.03")


def test_an_image_generation_costs_its_image_models_tokens(fast_server):
    response = create(fast_server, model="gpt-5-mini", input="Draw a picture of a lighthouse at dawn.",
                      tools=[{"type": "image_generation", "quality": "low"}])
    image_gen = response.json()["tool_usage"]["image_gen"]
    assert image_gen["output_tokens"] == 272 and image_gen["input_tokens_details"]["image_tokens"] == 0
    # gpt-image-1: text $5 / 1M, image output $40 / 1M (config/models.yaml, as /v1/images bills them).
    text = image_gen["input_tokens_details"]["text_tokens"]
    assert tool_fee(response) == (text * Decimal(5) + 272 * Decimal(40)) / M


def _data_url(width: int, height: int) -> str:
    return "data:image/png;base64," + base64.b64encode(picture_png(width, height, 7)).decode()


@pytest.mark.parametrize(("size", "fidelity", "image_tokens"), [
    ((1024, 1024), None, 65 + 129),  # shortest side to 512: one 512 px tile (tokens-pricing.md §1.3, GPT Image)
    ((1536, 1024), None, 65 + 2 * 129),  # 768 x 512: two tiles
    ((1024, 1024), "high", 65 + 129 + 4160),  # high input fidelity adds 4160 on a square image
])
def test_an_image_given_to_image_generation_counts_as_the_image_model_counts_it(fast_server, openai_client, size,
                                                                                 fidelity, image_tokens):
    tool = {"type": "image_generation", "quality": "low", **({"input_fidelity": fidelity} if fidelity else {})}
    message = {"role": "user", "content": [
        {"type": "input_text", "text": "Draw this lighthouse as a watercolor picture."},
        {"type": "input_image", "image_url": _data_url(*size)}]}
    response = create(fast_server, model="gpt-5-mini", input=[message], tools=[tool])
    image_gen = response.json()["tool_usage"]["image_gen"]
    text = image_gen["input_tokens_details"]["text_tokens"]
    assert image_gen["input_tokens_details"]["image_tokens"] == image_tokens
    assert image_gen["input_tokens"] == text + image_tokens
    assert image_gen["total_tokens"] == text + image_tokens + 272
    assert tool_fee(response) == (text * Decimal(5) + image_tokens * Decimal(10) + 272 * Decimal(40)) / M
    # The SDK reads the same count.
    sdk = openai_client.responses.create(model="gpt-5-mini", input=[message], tools=[tool])
    assert sdk.model_dump()["tool_usage"]["image_gen"]["input_tokens_details"]["image_tokens"] == image_tokens
