"""`service_tier` through the SDK: flex only where the model offers it (OpenAI's 400 elsewhere), the tier served
echoed in the response, and the served tier's prices in the cost (config/service_tiers.yaml)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openai
import pytest
import yaml
from sentra_openai.reference import reference_cost_usd

TIERS = yaml.safe_load((Path(__file__).parents[2] / "config" / "service_tiers.yaml").read_text())
MESSAGES = [{"role": "user", "content": "Name three rivers."}]
PINNED_DAY = "2026-06-01"  # before any model used here is shut down


@pytest.fixture(scope="module")
def openai_client(tmp_path_factory):
    from conftest import start_server

    server = start_server(tmp_path_factory.mktemp("service-tier"), {"metrics": {"enable": False}},
                          env={"SENTRA_MODELS_AS_OF": PINNED_DAY})
    yield server.client(max_retries=0)
    server.stop()


def _cost(usage, prices: dict) -> Decimal:
    cached = usage.prompt_tokens_details.cached_tokens
    return reference_cost_usd(usage.prompt_tokens, cached, usage.completion_tokens, prices["input"],
                              prices["cached_input"], prices["output"])


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "o3-mini", "o1"])
def test_flex_is_refused_for_a_model_without_it(openai_client, model):
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.chat.completions.create(model=model, messages=MESSAGES, service_tier="flex")
    assert refused.value.body == {"message": "Flex is not available for this model.",
                                  "type": "invalid_request_error", "param": None, "code": None}
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(model=model, input="Name three rivers.", service_tier="flex")
    assert refused.value.body["message"] == "Flex is not available for this model."


def test_flex_is_refused_for_gpt_5_pro_though_its_family_takes_it(openai_client):
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(model="gpt-5-pro", input="Hi", service_tier="flex")
    assert refused.value.body["message"] == "Flex is not available for this model."
    assert openai_client.responses.create(model="gpt-5.2-pro", input="Hi", service_tier="flex").service_tier == "flex"


def test_flex_is_served_and_billed_at_its_price(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="gpt-5-mini-2025-08-07", messages=MESSAGES,
                                                                  service_tier="flex", max_completion_tokens=50)
    completion = raw.parse()
    assert completion.service_tier == "flex"
    assert Decimal(raw.headers["x-sentra-cost-usd"]) == _cost(completion.usage, TIERS["flex"]["models"]["gpt-5-mini"])


def test_a_flex_answer_costs_half_the_standard_one(openai_client):
    def cost(**tier):
        raw = openai_client.chat.completions.with_raw_response.create(model="o3", messages=MESSAGES, seed=7,
                                                                      max_completion_tokens=64, **tier)
        return Decimal(raw.headers["x-sentra-cost-usd"]), raw.parse()

    standard, plain = cost()
    flex, flexed = cost(service_tier="flex")
    assert plain.service_tier == "default" and flexed.service_tier == "flex"
    assert plain.usage.total_tokens == flexed.usage.total_tokens  # the tier changes the price, not the answer
    assert flex * 2 == standard


@pytest.mark.parametrize("asked", ["priority", "fast"])
def test_priority_and_fast_are_shown_as_priority_and_cost_more(openai_client, asked):
    raw = openai_client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES,
                                                                  service_tier=asked, max_completion_tokens=30)
    completion = raw.parse()
    assert completion.service_tier == "priority"
    assert Decimal(raw.headers["x-sentra-cost-usd"]) == _cost(completion.usage, TIERS["priority"]["models"]["gpt-4o"])


@pytest.mark.parametrize("asked, shown", [("priority", "default"), ("scale", "default"), ("auto", "default"),
                                          ("default", "default")])
def test_a_tier_the_model_lacks_falls_back_to_default(openai_client, asked, shown):
    completion = openai_client.chat.completions.create(model="gpt-5-nano", messages=MESSAGES, service_tier=asked,
                                                       max_completion_tokens=30)
    assert completion.service_tier == shown


def test_every_stream_chunk_names_the_served_tier(openai_client):
    stream = openai_client.chat.completions.create(model="gpt-5", messages=MESSAGES, service_tier="flex",
                                                   max_completion_tokens=20, stream=True)
    tiers = {chunk.service_tier for chunk in stream}
    assert tiers == {"flex"}


def test_responses_echo_the_served_tier_and_bill_it(openai_client):
    raw = openai_client.responses.with_raw_response.create(model="gpt-5.4", input="Name three rivers.",
                                                           service_tier="flex", max_output_tokens=64)
    response = raw.parse()
    assert response.service_tier == "flex"
    prices = TIERS["flex"]["models"]["gpt-5.4"]
    expected = reference_cost_usd(response.usage.input_tokens, response.usage.input_tokens_details.cached_tokens,
                                  response.usage.output_tokens, prices["input"], prices["cached_input"],
                                  prices["output"])
    assert Decimal(raw.headers["x-sentra-cost-usd"]) == expected
    fast = openai_client.responses.create(model="gpt-5.4", input="Name three rivers.", service_tier="fast")
    assert fast.service_tier == "priority"


def test_responses_ultrafast_only_where_offered(openai_client):
    served = openai_client.responses.create(model="gpt-5.6-sol", input="Hi", service_tier="ultrafast")
    assert served.service_tier == "ultrafast"
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(model="gpt-5.4", input="Hi", service_tier="ultrafast")
    assert refused.value.body["message"] == "Ultrafast is not available for this model."


def test_a_stream_of_a_response_reports_the_tier(openai_client):
    with openai_client.responses.stream(model="o4-mini", input="Hi", service_tier="flex") as stream:
        events = list(stream)
    completed = next(e for e in events if e.type == "response.completed")
    assert completed.response.service_tier == "flex"
