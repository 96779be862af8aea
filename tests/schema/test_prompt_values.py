"""Tool arguments and structured answers take their values from the prompt where a property fits; a tool whose
schema requires nothing still gets its properties filled; `json_object` answers follow the shape the messages ask."""

from __future__ import annotations

import json
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schema_strategies import strict_schemas
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.engine.schema.generate import arguments_for_tool, instance_for_schema
from sentra_openai.engine.schema.prompt_schema import requested_shape
from sentra_openai.engine.schema.prompt_values import PromptValues

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string",
                                                                               "enum": ["celsius", "fahrenheit"]}},
           "required": ["city", "unit"], "additionalProperties": False}


@pytest.mark.parametrize(("prompt", "city"), [
    ("What's the weather like in Paris today?", "Paris"),
    ("Is it going to rain in Springfield tomorrow?", "Springfield"),
    ("Tokyo or Berlin: which is warmer right now?", "Tokyo"),
])
def test_a_city_the_prompt_names_is_the_city_argument(prompt: str, city: str) -> None:
    for seed in range(5):
        assert arguments_for_tool(WEATHER, random.Random(seed), PromptValues(prompt))["city"] == city


def test_people_numbers_and_addresses_come_from_the_prompt() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                               "email": {"type": "string"}},
              "required": ["name", "age", "email"]}
    prompt = PromptValues("Extract the user: Maria Garcia, 41 years old, reachable at maria@example.org.")
    assert instance_for_schema(schema, random.Random(0), prompt) == {
        "name": "Maria Garcia", "age": 41, "email": "maria@example.org"}


def test_a_prompt_value_that_breaks_the_schema_is_not_used() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 3}}, "required": ["city"]}
    value = instance_for_schema(schema, random.Random(0), PromptValues("The weather in San Francisco"))
    assert len(value["city"]) <= 3


@settings(max_examples=200, deadline=None)
@given(schema=strict_schemas(), seed=st.integers(0, 2**32 - 1),
       prompt=st.sampled_from(["", "Book a table in Paris for 4 people at 19:30 on 2026-12-24, name Ana Silva",
                               "Send 250 EUR to bob@example.com", "weather in Oslo?"]))
def test_prompt_values_keep_every_answer_valid(schema, seed: int, prompt: str) -> None:
    value = instance_for_schema(schema, random.Random(seed), PromptValues(prompt))
    assert not list(Draft202012Validator(schema).iter_errors(value))


def test_a_tool_that_requires_nothing_still_gets_its_properties() -> None:
    # instructor's iterable extraction: one optional array property; an empty call extracts nothing.
    schema = {"type": "object", "properties": {"tasks": {"type": "array", "items": {
        "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}}}}
    for seed in range(20):
        assert arguments_for_tool(schema, random.Random(seed))["tasks"] is not None


INSTRUCTOR_JSON_MODE = (
    "As a genius expert, your task is to understand the content and provide the parsed objects in json that match "
    "the following json_schema:\n\n{schema}\n\nMake sure to return an instance of the JSON, not the schema itself")
USER = {"properties": {"name": {"title": "Name", "type": "string"}, "age": {"title": "Age", "type": "integer"}},
        "required": ["name", "age"], "title": "User", "type": "object"}


def test_the_schema_written_in_a_message_is_the_requested_shape() -> None:
    text = INSTRUCTOR_JSON_MODE.format(schema=json.dumps(USER, indent=2))
    assert requested_shape([text, "Jason is 25"]) == USER


def test_an_example_object_in_a_message_becomes_a_strict_shape() -> None:
    shape = requested_shape(['Answer as JSON like {"answer": "...", "confidence": 0.9, "sources": ["a"]}'])
    assert shape["required"] == ["answer", "confidence", "sources"]
    assert shape["properties"]["confidence"] == {"type": "number"}


def test_no_json_in_the_messages_means_no_shape() -> None:
    assert requested_shape(["Reply in JSON please.", "{not json"]) is None


def test_keys_named_in_words_become_a_strict_shape() -> None:
    """langchain's documented json_mode prompt names the keys in prose; numbers are typed from their names."""
    shape = requested_shape(["Make sure to return a JSON blob with keys 'answer' and 'justification'.\n\nWhy?"])
    assert shape["required"] == ["answer", "justification"]
    assert shape["properties"]["answer"] == {"type": "string"} and shape["additionalProperties"] is False
    typed = requested_shape(["Return JSON with the fields: city, age and price."])["properties"]
    assert typed == {"city": {"type": "string"}, "age": {"type": "integer"}, "price": {"type": "number"}}
    assert requested_shape(["Open the door with keys and a hammer."]) is None


ITERABLE_USERS = {"$defs": {"User": {"type": "object", "properties": {"name": {"type": "string"},
                                                                     "age": {"type": "integer"}},
                                     "required": ["name", "age"]}},
                  "type": "object", "properties": {"tasks": {"type": "array", "items": {"$ref": "#/$defs/User"}}}}


@pytest.mark.parametrize("seed", range(5))
def test_an_array_holds_one_item_per_entity_the_prompt_lists(seed: int) -> None:
    """instructor's Iterable[User]: two people named, two users, each with their own age."""
    prompt = PromptValues("Jason Smith is 25 years old and Sarah Jones is 30")
    value = instance_for_schema(ITERABLE_USERS, random.Random(seed), prompt, fill_optional=True)
    assert value == {"tasks": [{"name": "Jason Smith", "age": 25}, {"name": "Sarah Jones", "age": 30}]}
    one = instance_for_schema(ITERABLE_USERS, random.Random(seed), PromptValues("Jason Smith is 25"), fill_optional=True)
    assert one == {"tasks": [{"name": "Jason Smith", "age": 25}]}
    cities = arguments_for_tool({"type": "object", "properties": {"cities": {"type": "array", "items": {"type": "string"}}}},
                                random.Random(seed), PromptValues("Compare the weather in Paris and Tokyo"))
    assert cities == {"cities": ["Paris", "Tokyo"]}


def chat(engine, body: dict) -> dict:
    outcome = engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json"},
                                    orjson.dumps(body)))
    assert outcome.status == 200, outcome.body
    return orjson.loads(outcome.body)


def test_json_mode_answers_follow_the_schema_in_the_messages() -> None:
    engine = build_engine(load_settings(mode="fast", environ={}), clock=ManualClock())
    body = {"model": "gpt-4o-mini", "response_format": {"type": "json_object"}, "messages": [
        {"role": "system", "content": INSTRUCTOR_JSON_MODE.format(schema=json.dumps(USER))},
        {"role": "user", "content": "Jason Smith is 25 years old"}]}
    answer = json.loads(chat(engine, body)["choices"][0]["message"]["content"])
    assert answer == {"name": "Jason Smith", "age": 25}


def test_tool_calls_in_chat_use_the_prompt() -> None:
    engine = build_engine(load_settings(mode="fast", environ={}), clock=ManualClock())
    body = {"model": "gpt-4o-mini", "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
            "messages": [{"role": "user", "content": "What's the weather in Berlin?"}]}
    call = chat(engine, body)["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"])["city"] == "Berlin"


def test_the_name_of_an_object_titled_city_is_a_city() -> None:
    city = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}},
            "required": ["name", "country"]}
    assert instance_for_schema(city, random.Random(0), PromptValues("Tell me about Paris, France.")) == {
        "name": "Paris", "country": "France"}
    user = instance_for_schema({**city, "title": "User"}, random.Random(0), PromptValues("Jason Smith from Paris"))
    assert user["name"] == "Jason Smith"


def test_a_json_codeblock_asked_for_gets_the_schemas_instance_in_one() -> None:
    """instructor's Mode.MD_JSON: no response_format, the schema in the system message, the fence asked for."""
    engine = build_engine(load_settings(mode="fast", environ={}), clock=ManualClock())
    body = {"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": INSTRUCTOR_JSON_MODE.format(schema=json.dumps(USER))},
        {"role": "user", "content": "Jason Smith is 25 years old\n\nReturn the correct JSON response within a ```json "
                                    "codeblock. not the JSON_SCHEMA"}]}
    content = chat(engine, body)["choices"][0]["message"]["content"]
    assert content.startswith("```json\n") and content.endswith("\n```")
    assert json.loads(content[len("```json\n"):-len("\n```")]) == {"name": "Jason Smith", "age": 25}
