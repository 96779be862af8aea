"""The newest GPT-image models as the SDK meets them: their published token prices (litellm 1.110.2) in the cost,
and arbitrary sizes only for the models the SDK's size docstring names (gpt-image-2 and the 2.5 models)."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from sentra_openai.reference import reference_cost_usd

# model -> (text input, image output) USD per 1M tokens, litellm 1.110.2 model_prices_and_context_window_backup.json
PUBLISHED = {
    "gpt-image-2.5-sunburst": ("5.00", "30.00"),
    "gpt-image-2.5-flare": ("5.00", "30.00"),
    "gpt-image-2.6-sunburst": ("5.00", "30.00"),
    "gpt-image-2.6-flare": ("5.00", "30.00"),
    "chatgpt-image-latest": ("5.00", "32.00"),
}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_a_generation_costs_the_published_token_prices(openai_client, model):
    raw = openai_client.images.with_raw_response.generate(model=model, prompt="a paper boat", quality="low",
                                                          size="1024x1024")
    usage = raw.parse().usage
    text_in, image_out = PUBLISHED[model]
    expected = (reference_cost_usd(usage.input_tokens_details.text_tokens, 0, 0, text_in, None, "0")
                + reference_cost_usd(0, 0, usage.output_tokens, "0", None, image_out))
    assert usage.output_tokens == 272
    assert Decimal(raw.headers["x-sentra-cost-usd"]) == expected


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2.5-sunburst", "gpt-image-2.5-flare-2026-09-08"])
def test_gpt_image_2_and_the_2_5_models_draw_any_size(openai_client, model):
    image = openai_client.images.generate(model=model, prompt="a paper boat", quality="low", size="1536x864")
    assert image.size == "1536x864"


@pytest.mark.parametrize("model", ["gpt-image-2.6-sunburst", "gpt-image-2.6-flare", "chatgpt-image-latest"])
def test_the_other_models_take_the_standard_sizes_only(openai_client, model):
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.images.generate(model=model, prompt="a paper boat", size="1536x864")
    assert refused.value.body == {
        "message": "Invalid value: '1536x864'. Supported values are: '1024x1024', '1536x1024', '1024x1536', and "
                   "'auto'.",
        "type": "invalid_request_error", "param": "size", "code": "invalid_value"}
