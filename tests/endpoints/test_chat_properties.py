"""Property tests of the chat endpoint itself: for generated strict-mode JSON schemas and tool definitions, what the
engine answers validates against them (in-process engine: thousands of requests in seconds)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_strategies import strict_schemas
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine

# 2026-10-22: the last day gpt-3.5-turbo (the cl100k_base chat model these properties cover) answers (SDK 3.57.0)
_ENGINE = build_engine(load_settings(mode="fast", environ={}, cli={"models.as_of": "2026-10-22"}), clock=ManualClock())
names = st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z")


def chat(body: dict[str, Any]) -> dict[str, Any]:
    outcome = _ENGINE.handle(Request("POST", "/v1/chat/completions", {}, orjson.dumps(body)))
    assert outcome.status == 200, outcome.body
    return orjson.loads(outcome.body)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=strict_schemas(), seed=st.integers(0, 2**31))
def test_json_schema_answers_validate(schema: dict[str, Any], seed: int) -> None:
    body = chat({
        "model": "gpt-4o-mini", "seed": seed, "messages": [{"role": "user", "content": "Fill the form"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "form", "schema": schema, "strict": True}},
    })
    jsonschema.Draft202012Validator(schema).validate(json.loads(body["choices"][0]["message"]["content"]))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tools=st.lists(st.tuples(names, strict_schemas()), min_size=1, max_size=4, unique_by=lambda t: t[0]),
    pick=st.integers(0, 3),
    seed=st.integers(0, 2**31),
)
def test_tool_call_arguments_validate(tools: list[tuple[str, dict[str, Any]]], pick: int, seed: int) -> None:
    name, parameters = tools[pick % len(tools)]
    body = chat({
        "model": "gpt-4o", "seed": seed, "messages": [{"role": "user", "content": "Do the thing"}],
        "tools": [{"type": "function", "function": {"name": n, "parameters": p, "strict": True}} for n, p in tools],
        "tool_choice": {"type": "function", "function": {"name": name}},
    })
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == name
    jsonschema.Draft202012Validator(parameters).validate(json.loads(call["function"]["arguments"]))


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-3.5-turbo", "gpt-5-mini"])
def test_same_seed_same_stream_and_body(model: str) -> None:
    from sentra_openai.engine.realism.pacing import immediate_events

    request = {"model": model, "seed": 11, "messages": [{"role": "user", "content": "Describe a forest"}]}
    body = chat(request)
    outcome = _ENGINE.handle(Request("POST", "/v1/chat/completions", {}, orjson.dumps({**request, "stream": True})))
    text = ""
    for event in immediate_events(outcome.stream):
        payload = event.removeprefix(b"data: ").strip()
        if payload != b"[DONE]":
            chunk = orjson.loads(payload)
            text += "".join(c["delta"].get("content") or "" for c in chunk["choices"])
    assert text == body["choices"][0]["message"]["content"]
