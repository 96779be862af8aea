"""Streamed responses: SSE framing, sequence numbers, the canonical event sequence per item, obfuscation, terminal
events, the injected error event; through the SDK's stream helpers and byte by byte, every event spec-validated."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from openapi_schemas import validate

pytestmark = pytest.mark.server

WEATHER = {"type": "function", "name": "get_weather", "description": "Get the weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}, "strict": True}


def sse_events(server, headers=None, **body):
    """Every event of a streamed create: (event line, data object), checked for framing on the way."""
    with httpx.stream("POST", server.api_url + "/responses", json={"stream": True, **body},
                      headers={"authorization": "Bearer sk-test", **(headers or {})}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        text = response.read().decode()
    assert "[DONE]" not in text
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ") and len(lines) == 2, block[:200]
        data = json.loads(lines[1][len("data: "):])
        assert data["type"] == lines[0][len("event: "):]
        events.append(data)
    return events


def check_sequence(events):
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        if event["type"] != "error":
            validate("ResponseStreamEvent", {k: v for k, v in event.items() if k != "obfuscation"})


def test_text_stream_has_the_canonical_sequence(fast_server):
    events = sse_events(fast_server, model="gpt-4o-mini", input="Tell me about the moon.")
    check_sequence(events)
    types = [e["type"] for e in events]
    assert types[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["usage"] is None
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 3 and all(e["obfuscation"] for e in deltas)
    final = events[-1]["response"]
    validate("Response", final)
    assert "".join(e["delta"] for e in deltas) == final["output"][0]["content"][0]["text"]
    assert final["usage"]["output_tokens"] >= len(deltas)


def test_obfuscation_can_be_turned_off(fast_server):
    events = sse_events(fast_server, model="gpt-4o-mini", input="Hi", stream_options={"include_obfuscation": False})
    assert not any("obfuscation" in e for e in events)


def test_function_call_arguments_stream(fast_server):
    events = sse_events(fast_server, model="gpt-4.1", input="What is the weather in Paris?", tools=[WEATHER],
                        tool_choice="required")
    check_sequence(events)
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["type"] == "function_call" and added["item"]["arguments"] == ""
    assert added["item"]["status"] == "in_progress" and added["item"]["call_id"].startswith("call_")
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert "name" not in done  # as the real wire (reference §1.3)
    assert "".join(deltas) == done["arguments"] and json.loads(done["arguments"])["city"]


def test_reasoning_summary_stream(fast_server):
    events = sse_events(fast_server, model="gpt-5-mini", input="Why is the sky blue?",
                        reasoning={"summary": "detailed"}, include=["reasoning.encrypted_content"])
    check_sequence(events)
    types = [e["type"] for e in events]
    start = types.index("response.reasoning_summary_part.added")
    assert types[start - 1] == "response.output_item.added" and events[start - 1]["item"]["type"] == "reasoning"
    assert "response.reasoning_summary_text.delta" in types and "response.reasoning_summary_part.done" in types
    done = next(e for e in events if e["type"] == "response.reasoning_summary_text.done")
    text = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"
                   and e["summary_index"] == done["summary_index"])
    assert text == done["text"]
    final = events[-1]["response"]
    assert final["output"][0]["encrypted_content"].startswith("gAAAAA")


def test_incomplete_stream_ends_with_response_incomplete(fast_server):
    events = sse_events(fast_server, model="gpt-4o-mini", input="Write a long story.", max_output_tokens=16)
    check_sequence(events)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_sdk_stream_helper_and_final_response(openai_client):
    with openai_client.responses.stream(model="gpt-4o-mini", input="Say something nice.") as stream:
        text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert final.output_text == text and final.status == "completed"


def test_sdk_stream_with_parse(openai_client):
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: str
        confidence: float

    with openai_client.responses.stream(model="gpt-4o-mini", input="Is water wet?", text_format=Answer) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Answer)


def test_async_stream(fast_server):
    async def run():
        client = fast_server.async_client()
        stream = await client.responses.create(model="gpt-4o-mini", input="Hello", stream=True)
        types = [event.type async for event in stream]
        await client.close()
        return types

    types = asyncio.run(run())
    assert types[0] == "response.created" and types[-1] == "response.completed"


def test_error_event_raises_api_error(fast_server, openai_client):
    events = sse_events(fast_server, headers={"x-sentra-error": "error-event@chunk=4"}, model="gpt-4o-mini",
                        input="Hello")
    assert len(events) == 6 and [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["error"]["code"] == "server_error" and events[-2]["sequence_number"] == 4
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    validate("ResponseStreamEvent", events[-1])
    with pytest.raises(openai.APIError):
        stream = openai_client.responses.create(model="gpt-4o-mini", input="Hello", stream=True,
                                                extra_headers={"x-sentra-error": "error-event@chunk=4"})
        for _ in stream:
            pass


def test_streams_are_paced_in_default_mode(server_factory):
    """A default-mode stream still delivers the full sequence (timing is measured in benches/, not asserted)."""
    server = server_factory({"error_injection": {"enable": False}, "metrics": {"enable": False},
                             "latency": {"time_scale": 0.01}}, mode="default")
    events = sse_events(server, model="gpt-4o-mini", input="Hi there")
    check_sequence(events)
    assert events[-1]["type"] == "response.completed"


def test_refusal_stream_and_parse(fast_server, openai_client):
    events = sse_events(fast_server, model="gpt-4o-mini", input="How do I build a bomb?")
    check_sequence(events)
    types = [e["type"] for e in events]
    assert "response.refusal.delta" in types and "response.output_text.delta" not in types
    done = next(e for e in events if e["type"] == "response.refusal.done")
    assert done["refusal"] == "".join(e["delta"] for e in events if e["type"] == "response.refusal.delta")
    added = next(e for e in events if e["type"] == "response.content_part.added")
    assert added["part"] == {"type": "refusal", "refusal": ""}

    from pydantic import BaseModel

    class Plan(BaseModel):
        steps: list[str]

    parsed = openai_client.responses.parse(model="gpt-4o-mini", input="How do I build a bomb?", text_format=Plan)
    assert parsed.output_parsed is None and parsed.output[0].content[0].type == "refusal"


def test_logprobs_ride_on_their_deltas(fast_server):
    events = sse_events(fast_server, model="gpt-4o-mini", input="Say hi", top_logprobs=1,
                        include=["message.output_text.logprobs"])
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert all(e["logprobs"] for e in deltas)
    assert "".join(lp["token"] for e in deltas for lp in e["logprobs"]) == "".join(e["delta"] for e in deltas)
