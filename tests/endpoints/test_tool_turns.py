"""Which tools the simulated model calls on the turns agent frameworks make: a forced choice still calls a tool after
tool results (pydantic-ai's output tool), and words like "the" make no tool relevant (a parallel `final_result`
beside the data tool ended pydantic-ai's run before the tool's result was used)."""

from __future__ import annotations

import json

import orjson
import pytest
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"], "additionalProperties": False}}}
# pydantic-ai's output tool, exactly as it sends it for output_type=Forecast
FINAL = {"type": "function", "function": {"name": "final_result",
                                          "description": "The final response which ends this conversation",
                                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                         "required": ["city"], "additionalProperties": False}}}
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}


@pytest.fixture(scope="module")
def engine():
    return build_engine(load_settings(mode="fast", environ={}), clock=ManualClock())


def chat(engine, body: dict) -> dict:
    outcome = engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json"},
                                    orjson.dumps(body)))
    assert outcome.status == 200, outcome.body
    return orjson.loads(outcome.body)["choices"][0]


def after_weather_result(tool_choice) -> dict:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    return {"model": "gpt-4o-mini", "tools": [WEATHER, FINAL], "tool_choice": tool_choice, "messages": [
        QUESTION, {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "It is 21C and sunny in Paris."}]}


def test_a_tool_sharing_only_function_words_with_the_prompt_is_not_called(engine):
    choice = chat(engine, {"model": "gpt-4o-mini", "tools": [WEATHER, FINAL], "tool_choice": "required",
                           "messages": [QUESTION]})
    assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["get_weather"]


def test_required_after_a_tool_result_calls_the_tool_not_called_yet(engine):
    choice = chat(engine, after_weather_result("required"))
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "final_result" and json.loads(call["arguments"])["city"] == "Paris"


def test_a_named_tool_choice_is_called_even_after_a_tool_result(engine):
    choice = chat(engine, after_weather_result({"type": "function", "function": {"name": "final_result"}}))
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "final_result"


def test_auto_after_a_tool_result_answers_in_text(engine):
    choice = chat(engine, after_weather_result("auto"))
    assert choice["finish_reason"] == "stop" and "sunny" in choice["message"]["content"]


def test_the_name_argument_of_a_function_called_city_is_the_city(engine):
    """langchain's with_structured_output(City, method="function_calling") sends the model as a tool without title."""
    tool = {"type": "function", "function": {"name": "City", "parameters": {
        "type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}},
        "required": ["name", "country"]}}}
    choice = chat(engine, {"model": "gpt-4o-mini", "tools": [tool], "messages": [
        {"role": "user", "content": "Tell me about Paris, France."}],
        "tool_choice": {"type": "function", "function": {"name": "City"}}})
    arguments = json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"name": "Paris", "country": "France"}


def test_arguments_that_spell_a_special_token_are_billed_as_ordinary_text(engine):
    """A schema can make the arguments spell `<|endoftext|>` (an enum, a const): that is output text, counted as
    tiktoken's encode_ordinary counts it, not an error (it was a 500: tiktoken's encode refuses special-token text)."""
    tool = {"type": "function", "function": {"name": "pick", "parameters": {
        "type": "object", "properties": {"mark": {"type": "string", "enum": ["<|endoftext|>"]}}, "required": ["mark"]}}}
    outcome = engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json"}, orjson.dumps(
        {"model": "gpt-4o-mini", "tools": [tool], "tool_choice": "required", "messages": [QUESTION]})))
    assert outcome.status == 200, outcome.body
    answer = orjson.loads(outcome.body)
    function = answer["choices"][0]["message"]["tool_calls"][0]["function"]
    assert json.loads(function["arguments"]) == {"mark": "<|endoftext|>"}
    from sentra_openai.tokens import get_encoding

    encoding = get_encoding("o200k_base")
    ordinary = len(encoding.encode_ordinary("pick")) + len(encoding.encode_ordinary(function["arguments"])) + 4
    assert answer["usage"]["completion_tokens"] == ordinary
