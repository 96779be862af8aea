"""litellm pointed at the server with `api_base`: `litellm.completion` (text with usage, a stream with its usage chunk,
a tool loop to a final text answer, a Pydantic response_format) and `litellm.responses` (text with usage, a stream to
`response.completed`), and litellm's own retries (`num_retries`) recovering from an injected 429.

litellm brings boto3, huggingface_hub and tokenizers (well over 100 MB): not in the `test` extra; these tests run
where it is installed and skip elsewhere."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from sentra_control import API_KEY, fail_next, statuses

litellm = pytest.importorskip("litellm")

pytestmark = pytest.mark.server

MODEL = "openai/gpt-4o-mini"  # the openai/ prefix sends it to api_base with OpenAI's wire format
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


class City(BaseModel):
    name: str
    country: str


def _kw(server) -> dict:
    return {"model": MODEL, "api_base": server.api_url, "api_key": API_KEY}


def test_completion_answers_with_usage(framework_server):
    response = litellm.completion(messages=[{"role": "user", "content": "Hello there"}], **_kw(framework_server))
    assert response.choices[0].message.content.strip()
    usage = response.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_completion_stream_ends_with_usage(framework_server):
    chunks = list(litellm.completion(messages=[{"role": "user", "content": "Tell me a short story about a fox."}],
                                     stream=True, stream_options={"include_usage": True}, **_kw(framework_server)))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text) > 20
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usage and usage[-1].completion_tokens > 0


def test_tool_loop_ends_with_a_text_answer(framework_server):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = litellm.completion(messages=messages, tools=[WEATHER], **_kw(framework_server))
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert calls[0].function.name == "get_weather" and json.loads(calls[0].function.arguments) == {"city": "Paris"}
    messages += [first.choices[0].message.model_dump(),
                 {"role": "tool", "tool_call_id": calls[0].id, "content": "It is 21C and sunny in Paris."}]
    final = litellm.completion(messages=messages, tools=[WEATHER], **_kw(framework_server))
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.content.strip()


def test_pydantic_response_format_validates(framework_server):
    response = litellm.completion(messages=[{"role": "user", "content": "Tell me about Paris, France."}],
                                  response_format=City, **_kw(framework_server))
    city = City.model_validate_json(response.choices[0].message.content)
    assert (city.name, city.country) == ("Paris", "France")


def test_responses_answers_with_usage(framework_server):
    response = litellm.responses(input="Hello there", **_kw(framework_server))
    texts = [part.text for item in response.output if item.type == "message" for part in item.content]
    assert "".join(texts).strip()
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_responses_stream_ends_completed(framework_server):
    events = list(litellm.responses(input="Tell me a short story about a fox.", stream=True, **_kw(framework_server)))
    kinds = [str(getattr(e.type, "value", e.type)) for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = [e.delta for e in events if str(getattr(e.type, "value", e.type)) == "response.output_text.delta"]
    assert len(deltas) > 3
    assert events[-1].response.usage.output_tokens > 0


def test_num_retries_recovers_from_a_rate_limit(framework_server):
    fail_next(framework_server, 429)
    response = litellm.completion(messages=[{"role": "user", "content": "Hello there"}], num_retries=2,
                                  **_kw(framework_server))
    assert response.choices[0].message.content.strip()
    assert statuses(framework_server) == [("/v1/chat/completions", 429), ("/v1/chat/completions", 200)]
