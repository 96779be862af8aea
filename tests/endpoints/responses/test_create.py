"""POST /v1/responses through the official SDK: text, structured outputs (responses.parse), reasoning items, logprobs,
max_output_tokens, chains, errors; every body validated against the spec's Response schema."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import openai
import pytest
from openapi_schemas import validate
from pydantic import BaseModel

pytestmark = pytest.mark.server

# The raw 2026 streams' order (capture phase_streamed_on_part_start-0), with the non-streamed body's billing.
RESPONSE_KEYS = ["id", "object", "created_at", "status", "background", "billing", "completed_at", "error",
                 "frequency_penalty", "incomplete_details", "instructions", "max_output_tokens", "max_tool_calls",
                 "model", "moderation", "output", "parallel_tool_calls", "presence_penalty", "previous_response_id",
                 "prompt_cache_key", "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier",
                 "store", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "usage",
                 "user", "metadata"]


def raw_create(server, **body):
    response = httpx.post(server.api_url + "/responses", json=body, headers={"authorization": "Bearer sk-test"})
    return response


def test_text_answer_has_the_real_shape(fast_server, openai_client):
    response = openai_client.responses.create(model="gpt-4o-mini", input="What is the capital of France?")
    assert response.status == "completed"
    assert response.output_text
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    assert response.model == "gpt-4o-mini-2024-07-18"
    usage = response.usage
    assert usage.input_tokens == 14  # 7 text tokens + 4 message framing + 3 priming (o200k, cookbook format)
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0

    body = raw_create(fast_server, model="gpt-4o-mini", input="What is the capital of France?").json()
    validate("Response", body)
    assert list(body) == RESPONSE_KEYS
    assert list(body["output"][0]) == ["id", "type", "status", "content", "role"]


def test_ids_share_the_response_prefix_and_embed_the_creation_time(fast_server):
    body = raw_create(fast_server, model="gpt-5-mini", input="Hi", include=["reasoning.encrypted_content"]).json()
    rid = body["id"]
    assert rid.startswith("resp_") and len(rid) == 55 and rid[21:23] == "00"
    assert int(rid[23:31], 16) == body["created_at"]
    for item in body["output"]:
        prefix, _, rest = item["id"].partition("_")
        assert prefix in ("rs", "msg")
        assert rest[:16] == rid[5:21]
    second = raw_create(fast_server, model="gpt-5-mini", input="Hi").json()
    assert second["id"] != rid and second["output"][-1]["id"] != body["output"][-1]["id"]


def test_reasoning_model_reports_reasoning_inside_output_tokens(openai_client):
    response = openai_client.responses.create(model="gpt-5-mini", input="Explain tides briefly.",
                                              reasoning={"effort": "low", "summary": "detailed"},
                                              include=["reasoning.encrypted_content"])
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary and reasoning.summary[0].type == "summary_text"
    assert reasoning.encrypted_content.startswith("gAAAAA")
    details = response.usage.output_tokens_details
    assert 0 < details.reasoning_tokens < response.usage.output_tokens
    assert response.reasoning.effort == "low" and response.reasoning.summary == "detailed"


def test_encrypted_reasoning_sent_back_is_recognised_and_billed(openai_client):
    first = openai_client.responses.create(model="gpt-5-mini", input="Plan a picnic.", store=False,
                                           include=["reasoning.encrypted_content"])
    history = [{"role": "user", "content": "Plan a picnic."}] + [item.model_dump(exclude_none=True) for item in first.output]
    follow = history + [{"role": "user", "content": "And if it rains?"}]
    second = openai_client.responses.create(model="gpt-5-mini", input=follow, store=False)
    # The reasoning item is billed at 1.5 tokens per reasoning token (config/responses.yaml, from the captures).
    alone = openai_client.responses.input_tokens.count(model="gpt-5-mini", input=[
        m for m in follow if m.get("type") != "reasoning"])
    extra = second.usage.input_tokens - alone.input_tokens
    assert abs(extra - 1.5 * first.usage.output_tokens_details.reasoning_tokens) <= 2

    tampered = [dict(i) for i in follow]
    for item in tampered:
        if item.get("type") == "reasoning":
            blob = item["encrypted_content"]
            item["encrypted_content"] = blob[:40] + ("A" if blob[40] != "A" else "B") + blob[41:]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="gpt-5-mini", input=tampered, store=False)
    assert info.value.body["code"] == "invalid_encrypted_content"


class City(BaseModel):
    city: str
    country: str


def test_parse_with_a_pydantic_model(openai_client):
    response = openai_client.responses.parse(model="gpt-4o-mini", input="Largest city of Japan?", text_format=City)
    assert isinstance(response.output_parsed, City)
    assert response.text.format.type == "json_schema" and response.text.format.name == "City"


def test_json_object_needs_the_word_json(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="gpt-4o-mini", input="Give me data", text={"format": {"type": "json_object"}})
    assert info.value.body["param"] == "input"
    ok = openai_client.responses.create(model="gpt-4o-mini", input="Give me data as JSON",
                                        text={"format": {"type": "json_object"}})
    import json

    assert isinstance(json.loads(ok.output_text), dict)


def test_max_output_tokens_makes_the_response_incomplete(openai_client):
    response = openai_client.responses.create(model="gpt-4o-mini", input="Write a long essay about the sea.",
                                              max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens <= 16
    assert response.output[0].status == "incomplete"


def test_logprobs_when_included(openai_client):
    response = openai_client.responses.create(model="gpt-4o-mini", input="Say hello.", top_logprobs=2,
                                              include=["message.output_text.logprobs"])
    part = response.output[0].content[0]
    assert part.logprobs and part.logprobs[0].token
    assert "".join(lp.token for lp in part.logprobs) == part.text
    assert len(part.logprobs[0].top_logprobs) == 2


@pytest.mark.parametrize("body, param, code", [
    ({"model": "gpt-4o", "input": "Hi", "temperature": -1}, "temperature", "decimal_below_min_value"),
    ({"model": "gpt-4o", "input": "Hi", "max_output_tokens": 8}, "max_output_tokens", "integer_below_min_value"),
    ({"model": "gpt-4o", "input": "Hi", "include": ["nope"]}, "include[0]", "invalid_value"),
    ({"model": "gpt-4o", "input": "Hi", "tool_choice": "required"}, "tool_choice", None),
    ({"model": "gpt-4o", "input": "Hi", "reasoning": {"effort": "high"}}, "reasoning.effort", "unsupported_parameter"),
    ({"model": "gpt-5-mini", "input": "Hi", "temperature": 0.5}, "temperature", "unsupported_value"),
    ({"model": "gpt-4o", "input": [{"role": "robot", "content": "x"}]}, "input[0].role", "invalid_value"),
    ({"model": "gpt-4o", "input": "Hi", "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools[0].name",
     "missing_required_parameter"),
    ({"model": "gpt-4o", "input": "Hi", "previous_response_id": "resp_123", "conversation": "conv_1"}, None,
     "mutually_exclusive_parameters"),
    ({"model": "gpt-4o", "input": "Hi", "bogus": 1}, "bogus", "unknown_parameter"),
    ({"model": "gpt-5", "input": "Hi", "reasoning": {"bogus": 1}}, "reasoning.bogus", "unknown_parameter"),
    ({"model": "gpt-5", "input": "Hi", "text": {"colour": "red"}}, "text.colour", "unknown_parameter"),
])
def test_bad_requests_get_openai_400s(fast_server, body, param, code):
    response = raw_create(fast_server, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    validate("ErrorResponse", response.json())
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and error["code"] == code
    if code == "unknown_parameter":  # the Responses API's wording, not chat's "Unrecognized request argument"
        assert error["message"] == f"Unknown parameter: '{param}'."


def test_reasoning_effort_none_keeps_sampling_parameters(openai_client):
    # As in capture gpt_5_6_reasoning_off_keeps_sampling_params (gpt-5-mini has no "none" effort to give).
    response = openai_client.responses.create(model="gpt-5.6-sol", input="Hi", temperature=0.4,
                                              reasoning={"effort": "none"})
    assert response.status == "completed"


def test_unknown_previous_response_id(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="gpt-4o-mini", input="Hi", previous_response_id="resp_nope")
    assert info.value.body == {"message": "Previous response with id 'resp_nope' not found.",
                               "type": "invalid_request_error", "param": "previous_response_id",
                               "code": "previous_response_not_found"}


def test_previous_response_id_rebills_the_chain(openai_client):
    first = openai_client.responses.create(model="gpt-4o-mini", input="Name a colour.")
    second = openai_client.responses.create(model="gpt-4o-mini", input="Another one?", previous_response_id=first.id)
    alone = openai_client.responses.create(model="gpt-4o-mini", input="Another one?")
    prior = first.usage.input_tokens - 3 + first.usage.output_tokens + 4  # input less priming, the answer + framing
    assert second.usage.input_tokens == prior + alone.usage.input_tokens
    assert second.previous_response_id == first.id


def test_item_from_unstored_response_sent_by_id_is_404(openai_client):
    first = openai_client.responses.create(model="gpt-5-mini", input="Hi", store=False)
    reasoning_id = first.output[0].id
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.responses.create(model="gpt-5-mini", input=[{"type": "item_reference", "id": reasoning_id},
                                                                  {"role": "user", "content": "again"}])
    assert info.value.body["param"] == "input"


def test_input_tokens_equals_what_create_bills(openai_client):
    kwargs = {"model": "gpt-4.1", "instructions": "Be brief.", "input": "What is the weather in Paris?",
              "tools": [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                        "required": ["city"], "additionalProperties": False}, "strict": True}]}
    counted = openai_client.responses.input_tokens.count(**kwargs)
    created = openai_client.responses.create(**kwargs)
    assert counted.input_tokens == created.usage.input_tokens
    assert counted.object == "response.input_tokens"


def test_async_client(fast_server):
    async def run():
        client = fast_server.async_client()
        response = await client.responses.create(model="gpt-4o-mini", input="Hello")
        await client.close()
        return response

    response = asyncio.run(run())
    assert response.output_text and response.status == "completed"


def test_realism_headers_cost_and_rate_limits(server_factory):
    # 5 requests a minute: no request refills in the time this test takes.
    limited_server = server_factory({"latency": {"enable": False}, "error_injection": {"enable": False},
                                     "metrics": {"enable": False},
                                     "rate_limiting": {"overrides": {"gpt-4o-mini": {"rpm": 5}}}}, mode="default")
    response = httpx.post(limited_server.api_url + "/responses", json={"model": "gpt-4o-mini", "input": "Hi"},
                          headers={"authorization": "Bearer sk-resp-limits"})
    assert response.status_code == 200
    for name in ("x-ratelimit-limit-requests", "x-ratelimit-remaining-tokens", "x-request-id", "openai-processing-ms"):
        assert name in response.headers
    usage = response.json()["usage"]
    # gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output (config/models.yaml)
    expected = Decimal(usage["input_tokens"]) * Decimal("0.15") / 10**6 + Decimal(usage["output_tokens"]) * Decimal("0.6") / 10**6
    assert Decimal(response.headers["x-sentra-cost-usd"]) == expected
    # A 400 still costs a request, as on chat.
    before = int(response.headers["x-ratelimit-remaining-requests"])
    bad = httpx.post(limited_server.api_url + "/responses", json={"model": "gpt-4o-mini", "input": "Hi", "top_p": 3},
                     headers={"authorization": "Bearer sk-resp-limits"})
    assert bad.status_code == 400 and int(bad.headers["x-ratelimit-remaining-requests"]) == before - 1


def test_rate_limited_with_openai_429(server_factory):
    server = server_factory({"latency": {"enable": False}, "error_injection": {"enable": False},
                             "metrics": {"enable": False}, "rate_limiting": {"overrides": {"gpt-4o-mini": {"rpm": 2}}}},
                            mode="default")
    client = server.client()
    for _ in range(2):
        client.responses.create(model="gpt-4o-mini", input="Hi")
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model="gpt-4o-mini", input="Hi")
    assert info.value.body["code"] == "rate_limit_exceeded"


def test_chain_prefix_hits_the_prompt_cache(openai_client):
    instructions = "You are a careful assistant. " * 300  # well over the 1024-token minimum
    first = openai_client.responses.create(model="gpt-4o-mini", instructions=instructions, input="Hello",
                                           prompt_cache_key="responses-cache-test")
    assert first.usage.input_tokens_details.cached_tokens == 0
    second = openai_client.responses.create(model="gpt-4o-mini", instructions=instructions, input="Hello again",
                                            prompt_cache_key="responses-cache-test")
    cached = second.usage.input_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0 and cached <= second.usage.input_tokens


def test_gpt_5_5_messages_carry_a_phase(fast_server):
    body = raw_create(fast_server, model="gpt-5.5", input="Hi").json()
    validate("Response", body)
    message = body["output"][-1]
    assert message["phase"] == "final_answer" and list(message)[-2:] == ["phase", "role"]


def test_chain_prefix_hits_the_prompt_cache_along_previous_response_id(openai_client):
    story = "The lighthouse keeper counted the ships that passed each night. " * 120
    first = openai_client.responses.create(model="gpt-4o-mini", input=story, prompt_cache_key="chain-cache")
    second = openai_client.responses.create(model="gpt-4o-mini", input="Summarise it.", previous_response_id=first.id,
                                            prompt_cache_key="chain-cache")
    cached = second.usage.input_tokens_details.cached_tokens
    assert 1024 <= cached <= first.usage.input_tokens + first.usage.output_tokens


def test_truncation_auto_drops_the_oldest_items(openai_client):
    filler = "word " * 70000  # about 70k tokens: two of them overflow gpt-4 turbo's 128k window
    items = [{"role": "user", "content": filler}, {"role": "assistant", "content": "ok"},
             {"role": "user", "content": filler}, {"role": "assistant", "content": "ok"},
             {"role": "user", "content": "What now?"}]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="gpt-4o-mini", input=items)
    assert info.value.body["code"] == "context_length_exceeded"
    truncated = openai_client.responses.create(model="gpt-4o-mini", input=items, truncation="auto")
    assert truncated.usage.input_tokens < 128000 and truncated.truncation == "auto"


def test_explicit_cache_mode_without_breakpoints_caches_nothing(openai_client):
    instructions = "Answer like a patient teacher. " * 300
    options = {"mode": "explicit"}
    for _ in range(2):
        response = openai_client.responses.create(model="gpt-4o-mini", instructions=instructions, input="Hi",
                                                  prompt_cache_key="explicit-mode", extra_body={"prompt_cache_options": options})
    assert response.usage.input_tokens_details.cached_tokens == 0


def test_metrics_and_request_log(server_factory):
    from prometheus_client.parser import text_string_to_metric_families

    server = server_factory({"error_injection": {"enable": False}, "latency": {"enable": False}}, mode="default")
    body = raw_create(server, model="gpt-4o-mini", input="Tell me about rivers").json()
    raw_create(server, model="gpt-4o-mini", input="Hi", temperature=9)
    text = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    ok = ("openai_mock_requests_total", (("endpoint", "responses"), ("model", "gpt-4o-mini"), ("status", "200")))
    bad = ("openai_mock_requests_total", (("endpoint", "responses"), ("model", "gpt-4o-mini"), ("status", "400")))
    assert samples.get(ok) == 1 and samples.get(bad) == 1
    tokens = {labels: v for (name, labels), v in samples.items() if name == "openai_mock_tokens_total"
              and ("model", "gpt-4o-mini") in labels}
    assert sum(v for labels, v in tokens.items() if ("type", "input") in labels) == body["usage"]["input_tokens"]
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("path") == "/v1/responses"]
    assert [line.get("status") for line in logged] == [200, 400]


@pytest.mark.parametrize("model, effort, echoed", [("gpt-5", None, "medium"), ("gpt-5-pro", None, "high"),
                                                   ("gpt-5.5", None, "medium"), ("gpt-5.6-sol", "none", "none")])
def test_reasoning_effort_defaults_and_none(openai_client, model, effort, echoed):
    kwargs = {"reasoning": {"effort": effort}} if effort else {}
    response = openai_client.responses.create(model=model, input="Why is the sky blue?", **kwargs)
    assert response.reasoning.effort == echoed
    reasoning = response.usage.output_tokens_details.reasoning_tokens
    assert (reasoning == 0) == (echoed == "none")
    assert any(item.type == "reasoning" for item in response.output) == (echoed != "none")


def test_high_effort_reasons_more_and_can_use_up_max_output_tokens(openai_client):
    low = openai_client.responses.create(model="gpt-5", input="Plan a trip to Rome.", reasoning={"effort": "low"})
    high = openai_client.responses.create(model="gpt-5", input="Plan a trip to Rome.", reasoning={"effort": "high"})
    assert high.usage.output_tokens_details.reasoning_tokens > low.usage.output_tokens_details.reasoning_tokens
    capped = openai_client.responses.create(model="gpt-5", input="Plan a trip to Rome.", reasoning={"effort": "high"},
                                            max_output_tokens=64)
    assert capped.status == "incomplete" and capped.usage.output_tokens == 64
    assert [item.type for item in capped.output] == ["reasoning"]



def test_reasoning_effort_values_depend_on_the_model(openai_client):
    # The same per-family table as chat's reasoning_effort (config/request_fields.yaml).
    assert openai_client.responses.create(model="gpt-5-mini", input="Hi", reasoning={"effort": "minimal"}).output
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="gpt-5-mini", input="Hi", reasoning={"effort": "none"})
    assert info.value.body == {
        "message": "Unsupported value: 'reasoning.effort' does not support 'none' with this model. "
                   "Supported values are: 'minimal', 'low', 'medium', and 'high'.",
        "type": "invalid_request_error", "param": "reasoning.effort", "code": "unsupported_value"}
    with pytest.raises(openai.BadRequestError):
        openai_client.responses.create(model="gpt-6.2-astra", input="Hi", reasoning={"effort": "minimal"})
    assert openai_client.responses.create(model="gpt-6-astra", input="Hi", reasoning={"effort": "minimal"}).output
