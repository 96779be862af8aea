"""POST /v1/chat/completions through the official SDK: every feature of issue 3, each response schema-validated."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import orjson
import pytest
from openapi_schemas import validate
from pydantic import BaseModel

pytestmark = pytest.mark.server

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_local_time",
        "description": "Get the local time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False},
    },
}


def create(client, **kwargs: Any):
    """Creates a completion and validates the raw body against OpenAI's schema before returning the parsed model."""
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    validate("CreateChatCompletionResponse", orjson.loads(raw.http_response.content))
    return raw.parse()


def stream_chunks(client, **kwargs: Any) -> list[Any]:
    chunks = []
    with client.chat.completions.with_streaming_response.create(stream=True, **kwargs) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                payload = json.loads(line[len("data: "):])
                validate("CreateChatCompletionStreamResponse", payload)
                chunks.append(payload)
    return chunks


def test_roles_names_and_content_parts(openai_client):
    messages = [
        {"role": "developer", "content": "You are terse."},
        {"role": "system", "content": "Answer in English.", "name": "policy"},
        {"role": "user", "content": "Hi", "name": "alice"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}]},
    ]
    text_only = create(openai_client, model="gpt-4o", messages=messages).usage.prompt_tokens
    with_image = messages[:-1] + [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    ]}]
    # A low-detail image costs exactly the model's base tokens: 85 for gpt-4o (OpenAI's vision guide).
    assert create(openai_client, model="gpt-4o", messages=with_image).usage.prompt_tokens == text_only + 85


def test_n_choices_each_counted(openai_client):
    completion = create(openai_client, model="gpt-4o-mini", n=3, messages=[{"role": "user", "content": "Name a colour"}])
    assert [c.index for c in completion.choices] == [0, 1, 2]
    encoding_counts = completion.usage.completion_tokens
    assert encoding_counts >= 3
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + encoding_counts


def test_max_tokens_cuts_with_length(openai_client):
    completion = create(openai_client, model="gpt-4o", max_tokens=7,
                        messages=[{"role": "user", "content": "Write a long story about the sea"}])
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 7


def test_stop_sequence_is_honoured(openai_client):
    for seed in range(5):
        completion = create(openai_client, model="gpt-4o", seed=seed, stop=[".", "\n"],
                            messages=[{"role": "user", "content": "Explain photosynthesis in detail"}])
        content = completion.choices[0].message.content
        assert "." not in content and "\n" not in content
        assert completion.choices[0].finish_reason == "stop"


def test_reasoning_model_rules(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="o3", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "unsupported_parameter" and info.value.param == "max_tokens"
    assert "Use 'max_completion_tokens' instead." in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="gpt-5-mini", temperature=0.7, messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "unsupported_value"
    completion = create(openai_client, model="gpt-5.4-mini", max_completion_tokens=2000,
                        messages=[{"role": "user", "content": "Prove that 17 is prime"}])
    details = completion.usage.completion_tokens_details
    assert details.reasoning_tokens > 0 and details.reasoning_tokens % 64 == 0
    assert completion.usage.completion_tokens > details.reasoning_tokens
    starved = create(openai_client, model="gpt-5-nano", max_completion_tokens=30,
                     messages=[{"role": "user", "content": "Prove that 17 is prime"}])
    assert starved.choices[0].finish_reason == "length"
    assert starved.usage.completion_tokens == 30 == starved.usage.completion_tokens_details.reasoning_tokens


def test_tool_call_arguments_valid_against_schema(openai_client):
    completion = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL], tool_choice="auto",
                        messages=[{"role": "user", "content": "What is the weather like in Boston today?"}])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_") and len(call.id) == 29
    assert call.function.name == "get_current_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_TOOL["function"]["parameters"])


def test_tool_choice_variants(openai_client):
    question = [{"role": "user", "content": "Tell me a joke"}]
    none = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL], tool_choice="none", messages=question)
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content
    required = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required", messages=question)
    assert required.choices[0].message.tool_calls
    named = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL, TIME_TOOL],
                   tool_choice={"type": "function", "function": {"name": "get_local_time"}}, messages=question)
    assert [c.function.name for c in named.choices[0].message.tool_calls] == ["get_local_time"]
    jsonschema.validate(json.loads(named.choices[0].message.tool_calls[0].function.arguments), TIME_TOOL["function"]["parameters"])


def test_parallel_tool_calls(openai_client):
    ask = [{"role": "user", "content": "What is the weather and the local time in Paris?"}]
    parallel = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL, TIME_TOOL], messages=ask)
    assert {c.function.name for c in parallel.choices[0].message.tool_calls} == {"get_current_weather", "get_local_time"}
    single = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL, TIME_TOOL], parallel_tool_calls=False, messages=ask)
    assert len(single.choices[0].message.tool_calls) == 1


def test_after_a_tool_result_the_model_answers_in_text(openai_client):
    first = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL],
                   messages=[{"role": "user", "content": "What's the weather in Oslo?"}])
    call = first.choices[0].message.tool_calls[0]
    history = [
        {"role": "user", "content": "What's the weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 3, "unit": "celsius"}'},
    ]
    answer = create(openai_client, model="gpt-4o", tools=[WEATHER_TOOL], messages=history)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.tool_calls is None
    assert "temperature" in answer.choices[0].message.content


def test_tool_message_without_a_preceding_call_is_rejected(fast_server):
    response = httpx.post(f"{fast_server.api_url}/chat/completions", json={
        "model": "gpt-4o", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_1", "content": "y"}]})
    assert response.status_code == 400
    assert "must be a response to a preceeding message with 'tool_calls'" in response.json()["error"]["message"]


def test_legacy_functions(openai_client):
    completion = create(openai_client, model="gpt-4o-mini", functions=[WEATHER_TOOL["function"]],
                        function_call={"name": "get_current_weather"},
                        messages=[{"role": "user", "content": "Weather in Rome?"}])
    choice = completion.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.function_call.name == "get_current_weather"
    jsonschema.validate(json.loads(choice.message.function_call.arguments), WEATHER_TOOL["function"]["parameters"])


def test_json_object_mode(openai_client):
    completion = create(openai_client, model="gpt-4o-mini", response_format={"type": "json_object"},
                        messages=[{"role": "user", "content": "Give me a user profile as JSON"}])
    assert isinstance(json.loads(completion.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="gpt-4o-mini", response_format={"type": "json_object"},
                                              messages=[{"role": "user", "content": "Give me a profile"}])
    assert "must contain the word 'json'" in info.value.message


class Address(BaseModel):
    street: str
    city: str
    postcode: str | None


class Person(BaseModel):
    name: str
    age: int
    email: str
    tags: list[str]
    address: Address
    status: str


def test_structured_output_parse_with_pydantic(openai_client):
    completion = openai_client.chat.completions.parse(
        model="gpt-4o-2024-08-06", response_format=Person,
        messages=[{"role": "user", "content": "Extract the person: Jane, 31, jane@example.com"}],
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person) and isinstance(person.address, Address)


def test_json_schema_strict_and_loose(openai_client):
    schema = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["cat", "dog"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "child": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]},
        },
        "required": ["kind", "score", "child"],
        "additionalProperties": False,
        "$defs": {"node": {"type": "object", "properties": {"label": {"type": "string", "pattern": "^[A-Z]{3}$"}},
                           "required": ["label"], "additionalProperties": False}},
    }
    for strict in (True, False):
        completion = create(openai_client, model="gpt-4o",
                            response_format={"type": "json_schema", "json_schema": {"name": "pet", "schema": schema, "strict": strict}},
                            messages=[{"role": "user", "content": "Describe a pet"}])
        jsonschema.validate(json.loads(completion.choices[0].message.content), schema)


def test_strict_schema_must_forbid_additional_properties(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {
                "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}})
    assert "additionalProperties" in info.value.message


def test_logprobs_concatenate_to_content(openai_client):
    completion = create(openai_client, model="gpt-4o", logprobs=True, top_logprobs=3,
                        messages=[{"role": "user", "content": "Describe the ocean"}])
    choice = completion.choices[0]
    entries = choice.logprobs.content
    assert "".join(e.token for e in entries) == choice.message.content
    assert b"".join(bytes(e.bytes) for e in entries) == choice.message.content.encode()
    assert all(len(e.top_logprobs) == 3 and e.logprob <= 0 for e in entries)
    assert len(entries) == completion.usage.completion_tokens


def test_seed_reproduces_content(openai_client):
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me something about volcanoes"}]}
    a = create(openai_client, seed=123, **ask).choices[0].message.content
    b = create(openai_client, seed=123, **ask).choices[0].message.content
    c = create(openai_client, seed=124, **ask).choices[0].message.content
    assert a == b and a != c


def test_streamed_tool_calls_follow_openais_delta_rules(openai_client):
    chunks = stream_chunks(openai_client, model="gpt-4o", tools=[WEATHER_TOOL, TIME_TOOL],
                           messages=[{"role": "user", "content": "weather and local time in Tokyo"}])
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant" and deltas[0]["content"] is None
    ids = [tc["id"] for d in deltas for tc in d.get("tool_calls", []) if "id" in tc]
    assert len(ids) == len(set(ids)) == 2  # each call's id (and name) appears exactly once
    assert all("index" in tc for d in deltas for tc in d.get("tool_calls", []))
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    with openai_client.chat.completions.stream(model="gpt-4o", tools=[WEATHER_TOOL, TIME_TOOL],
                                               messages=[{"role": "user", "content": "weather and local time in Tokyo"}]) as stream:
        final = stream.get_final_completion()
    names = [tc.function.name for tc in final.choices[0].message.tool_calls]
    assert sorted(names) == ["get_current_weather", "get_local_time"]
    for tc in final.choices[0].message.tool_calls:
        json.loads(tc.function.arguments)


def test_streaming_n_choices_interleave_in_order(openai_client):
    chunks = stream_chunks(openai_client, model="gpt-4o-mini", n=2, seed=3,
                           messages=[{"role": "user", "content": "Say something about birds"}])
    first_seen = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            if choice["index"] not in first_seen:
                first_seen.append(choice["index"])
    assert first_seen == [0, 1]
    roles = [c["choices"][0]["delta"].get("role") for c in chunks if c["choices"]]
    assert roles.count("assistant") == 2
    whole = create(openai_client, model="gpt-4o-mini", n=2, seed=3, messages=[{"role": "user", "content": "Say something about birds"}])
    for index in (0, 1):
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"] and c["choices"][0]["index"] == index)
        assert text == whole.choices[index].message.content


def test_stream_without_include_usage_has_no_usage_key(openai_client):
    chunks = stream_chunks(openai_client, model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert all("usage" not in c for c in chunks)
    assert all("obfuscation" in c for c in chunks)
    plain = stream_chunks(openai_client, model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                          stream_options={"include_obfuscation": False})
    assert all("obfuscation" not in c for c in plain)


@pytest.mark.parametrize(
    ("body", "status", "param", "code", "message"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, 400, None, None, "you must provide a model parameter"),
        ({"model": "gpt-4o"}, 400, "messages", "missing_required_parameter", "Missing required parameter: 'messages'."),
        ({"model": "gpt-4o", "messages": [{"content": "x"}]}, 400, "messages[0].role", "missing_required_parameter", None),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content", "invalid_type",
         "Invalid type for 'messages[0].content': expected one of a string or array of objects, but got an integer instead."),
        ({"model": "gpt-4o", "n": 0, "messages": [{"role": "user", "content": "x"}]}, 400, "n", "integer_below_min_value",
         "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."),
        ({"model": "gpt-4o", "n": 129, "messages": [{"role": "user", "content": "x"}]}, 400, "n", "integer_above_max_value", None),
        ({"model": "gpt-4o", "seed": 1.5, "messages": [{"role": "user", "content": "x"}]}, 400, "seed", "invalid_type",
         "Invalid type for 'seed': expected an integer, but got a decimal number instead."),
        ({"model": "gpt-4o", "max_completion_tokens": "10", "messages": [{"role": "user", "content": "x"}]}, 400,
         "max_completion_tokens", "invalid_type", "Invalid type for 'max_completion_tokens': expected an integer, but got a string instead."),
        ({"model": "gpt-4o", "max_tokens": 100000, "messages": [{"role": "user", "content": "x"}]}, 400, "max_tokens",
         "invalid_value", None),
        ({"model": "gpt-4o", "top_p": 1.5, "messages": [{"role": "user", "content": "x"}]}, 400, "top_p", "decimal_above_max_value", None),
        ({"model": "gpt-4o", "stop": ["a", "b", "c", "d", "e"], "messages": [{"role": "user", "content": "x"}]}, 400, "stop",
         "array_above_max_length", None),
        ({"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "x"}]}, 404, "model", None, None),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, 400, None, None, None),
    ],
)
def test_validation_errors(fast_server, body, status, param, code, message):
    response = httpx.post(f"{fast_server.api_url}/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    validate("ErrorResponse", response.json())
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    if message:
        assert error["message"] == message


def test_context_length_exceeded():
    from sentra_openai.config import load_settings
    from sentra_openai.engine import Request, build_engine

    long_text = "word " * 9000  # ~9000 tokens, beyond gpt-4's 8192 window
    # gpt-4 (the smallest window) was shut down on 2026-10-23 (SDK 3.57.0): asked on a day it still answered
    engine = build_engine(load_settings(mode="fast", environ={}, cli={"models.as_of": "2026-10-22"}))
    outcome = engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json"}, orjson.dumps(
        {"model": "gpt-4", "messages": [{"role": "user", "content": long_text}]})))
    assert outcome.status == 400
    error = orjson.loads(outcome.body)["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert error["message"].startswith("This model's maximum context length is 8192 tokens. However, your messages resulted in")


def test_unsatisfiable_schema_is_a_400_not_a_500(fast_server):
    for schema in ({"type": "integer", "minimum": 10, "maximum": 5},
                   {"type": "number", "multipleOf": 1e-300, "minimum": 1e300}):
        response = httpx.post(f"{fast_server.api_url}/chat/completions", json={
            "model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "bad", "schema": schema}}})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json_schema"
