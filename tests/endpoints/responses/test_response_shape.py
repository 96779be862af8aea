"""The 2026 shape of a response as the real API sends it (raw captures of 2026-07 in shared/data/captures-responses and
pydantic-ai's phase_streamed_on_part_start cassette): reasoning models echo `reasoning.context` and `.mode` and carry
a `tool_usage` block that counts the built-in tools used; stream snapshots have no `billing`; a streamed reasoning
item never repeats its encrypted blob; event keys come `type` first, then in alphabetical order."""

from __future__ import annotations

import json

import httpx
import pytest
from openapi_schemas import validate

pytestmark = pytest.mark.server

HEADERS = {"authorization": "Bearer sk-test"}
ZERO_TOOL_USAGE = {"image_gen": {"input_tokens": 0, "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                                 "output_tokens": 0, "output_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                                 "total_tokens": 0},
                   "web_search": {"num_requests": 0}}


def create(server, **body):
    response = httpx.post(server.api_url + "/responses", json=body, headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def stream_events(server, **body):
    with httpx.stream("POST", server.api_url + "/responses", json={"stream": True, **body}, headers=HEADERS,
                      timeout=30) as response:
        assert response.status_code == 200
        text = response.read().decode()
    return [json.loads(block.split("\ndata: ", 1)[1]) for block in text.split("\n\n") if block.strip()]


def test_reasoning_models_echo_context_and_mode_and_carry_tool_usage(fast_server):
    body = create(fast_server, model="gpt-5.5", input="What is the capital of France?")
    validate("Response", body)
    assert body["reasoning"] == {"context": "current_turn", "effort": "medium", "mode": "standard", "summary": None}
    assert list(body["reasoning"]) == ["context", "effort", "mode", "summary"]
    assert body["tool_usage"] == ZERO_TOOL_USAGE
    keys = list(body)
    assert keys.index("tool_usage") == keys.index("tool_choice") + 1 == keys.index("tools") - 1
    assert list(body["usage"]["input_tokens_details"]) == ["cache_write_tokens", "cached_tokens"]


@pytest.mark.parametrize(("model", "asked", "echoed"), [
    ("gpt-5.6-sol", None, "all_turns"),  # the gpt-5.6 family's default (spec; capture reasoning_context_default)
    ("gpt-5.6-sol", "auto", "all_turns"),  # capture reasoning_context_default_wire_contract_explicit-auto-wins
    ("gpt-5.6-sol", "current_turn", "current_turn"),
    ("gpt-5.5", "all_turns", "all_turns"),  # capture gpt_5_5_drops_sampling_params_by_default
    ("gpt-5", None, "current_turn"),  # capture moderation-0
])
def test_reasoning_context_is_the_effective_one(fast_server, model, asked, echoed):
    reasoning = {"context": asked} if asked else {}
    body = create(fast_server, model=model, input="Hi", reasoning=reasoning)
    assert body["reasoning"]["context"] == echoed


def test_reasoning_mode_is_echoed_and_bad_values_are_refused(fast_server):
    assert create(fast_server, model="gpt-5.5", input="Hi", reasoning={"mode": "pro"})["reasoning"]["mode"] == "pro"
    response = httpx.post(fast_server.api_url + "/responses", headers=HEADERS,
                          json={"model": "gpt-5.5", "input": "Hi", "reasoning": {"context": "every_turn"}})
    assert response.status_code == 400 and response.json()["error"]["param"] == "reasoning.context"


def test_other_models_keep_the_older_shape(fast_server):
    body = create(fast_server, model="gpt-4o-mini", input="Hi")
    assert body["reasoning"] == {"effort": None, "summary": None}
    assert "tool_usage" not in body


def test_tool_usage_counts_web_searches(fast_server):
    body = create(fast_server, model="gpt-5-mini", input="Search the web for the latest news on fusion power.",
                  tools=[{"type": "web_search"}])
    assert [i["type"] for i in body["output"]].count("web_search_call") == 1
    assert body["tool_usage"]["web_search"] == {"num_requests": 1}
    assert body["tool_usage"]["image_gen"]["total_tokens"] == 0


def test_tool_usage_counts_image_generation_tokens(fast_server, openai_client):
    body = create(fast_server, model="gpt-5-mini", input="Draw a picture of a lighthouse at dawn.",
                  tools=[{"type": "image_generation", "quality": "low"}])
    call = next(i for i in body["output"] if i["type"] == "image_generation_call")
    image_gen = body["tool_usage"]["image_gen"]
    # gpt-image-1's low-quality 1024x1024 picture is 272 tokens (config/models.yaml, as /v1/images bills it).
    assert call["size"] == "1024x1024" and image_gen["output_tokens"] == 272
    assert image_gen["output_tokens_details"] == {"image_tokens": 272, "text_tokens": 0}
    assert image_gen["input_tokens"] == image_gen["input_tokens_details"]["text_tokens"] > 0
    assert image_gen["total_tokens"] == image_gen["input_tokens"] + 272
    # The stored response reads back the same, through the SDK too.
    stored = httpx.get(f"{fast_server.api_url}/responses/{body['id']}", headers=HEADERS).json()
    assert stored["tool_usage"] == body["tool_usage"] and stored["reasoning"] == body["reasoning"]
    retrieved = openai_client.responses.retrieve(body["id"])
    assert retrieved.reasoning.effort == "medium"
    assert retrieved.model_dump()["tool_usage"]["image_gen"]["output_tokens"] == 272


def test_stream_snapshots_have_the_raw_stream_shape(fast_server):
    events = stream_events(fast_server, model="gpt-5.5", input="Hi")
    created, completed = events[0]["response"], events[-1]["response"]
    for snapshot in (created, completed):
        assert "billing" not in snapshot  # no raw stream capture (2025-03 .. 2026-07) has it
        assert snapshot["reasoning"]["context"] == "current_turn"
        validate("Response", snapshot)
    assert created["tool_usage"] == ZERO_TOOL_USAGE and completed["tool_usage"] == ZERO_TOOL_USAGE
    assert created["service_tier"] == "auto" and completed["service_tier"] == "default"
    for event in events:
        keys = list(event)
        assert keys[0] == "type" and keys[1:] == sorted(keys[1:]), keys
    stored = httpx.get(f"{fast_server.api_url}/responses/{completed['id']}", headers=HEADERS).json()
    assert stored["billing"] == {"payer": "developer"} and stored["tool_usage"] == ZERO_TOOL_USAGE


def test_a_streamed_reasoning_item_is_encrypted_anew_at_each_event(fast_server, openai_client):
    events = stream_events(fast_server, model="gpt-5.5", input="Explain why the sky is blue.",
                           include=["reasoning.encrypted_content"])
    added = next(e["item"] for e in events if e["type"] == "response.output_item.added")
    done = next(e["item"] for e in events if e["type"] == "response.output_item.done")
    final = events[-1]["response"]["output"][0]
    assert added["type"] == done["type"] == final["type"] == "reasoning"
    for item in (added, done, final):
        assert list(item) == ["id", "type", "content", "encrypted_content", "summary"] and item["content"] == []
    blobs = {added["encrypted_content"], done["encrypted_content"], final["encrypted_content"]}
    assert len(blobs) == 3  # three different blobs, as the real stream sends
    assert len(added["encrypted_content"]) < len(done["encrypted_content"]) == len(final["encrypted_content"])
    # The blob a client keeps (the done event's, as pydantic-ai and the SDK's accumulator do) is recognised when sent
    # back: it bills the same reasoning as the stored one.
    answer = next(e["item"] for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == "message")
    turn = [{"role": "user", "content": "Explain why the sky is blue."}]
    with_done = openai_client.responses.input_tokens.count(model="gpt-5.5", input=[*turn, done, answer])
    with_final = openai_client.responses.input_tokens.count(model="gpt-5.5", input=[*turn, final, answer])
    assert with_done.input_tokens == with_final.input_tokens


def test_the_replay_of_a_response_created_without_streaming_has_the_stream_shape(fast_server):
    body = create(fast_server, model="gpt-5.5", input="Name three rivers.")
    with httpx.stream("GET", f"{fast_server.api_url}/responses/{body['id']}", params={"stream": "true"},
                      headers=HEADERS, timeout=30) as response:
        text = response.read().decode()
    events = [json.loads(block.split("\ndata: ", 1)[1]) for block in text.split("\n\n") if block.strip()]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        keys = list(event)
        assert keys[0] == "type" and keys[1:] == sorted(keys[1:]), keys
        if "response" in event:
            assert "billing" not in event["response"] and event["response"]["tool_usage"] == ZERO_TOOL_USAGE
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["output"] == body["output"]
