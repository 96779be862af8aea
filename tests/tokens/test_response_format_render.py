"""The json_schema text cookbook models (gpt-4o/4.1) read: a strict schema without the keywords strict implies."""

from __future__ import annotations

import orjson
from sentra_openai.tokens import render_response_format
from sentra_openai.tokens.response_format_render import without_implied_keys

# A property named "required" and one named "additionalProperties" are data, not keywords: they stay.
SCHEMA = {
    "type": "object",
    "properties": {
        "required": {"type": "boolean"},
        "additionalProperties": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}},
                                             "required": ["x"], "additionalProperties": False}},
        "choice": {"anyOf": [{"type": "object", "properties": {}, "required": [], "additionalProperties": False},
                             {"type": "null"}]},
    },
    "required": ["required", "additionalProperties", "items", "choice"],
    "additionalProperties": False,
    "$defs": {"Thing": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}},
}


def test_strict_schemas_lose_required_and_additional_properties_at_every_level() -> None:
    assert without_implied_keys(SCHEMA) == {
        "type": "object",
        "properties": {
            "required": {"type": "boolean"},
            "additionalProperties": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}}}},
            "choice": {"anyOf": [{"type": "object", "properties": {}}, {"type": "null"}]},
        },
        "$defs": {"Thing": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }


def test_only_strict_formats_are_rendered_without_them() -> None:
    strict = render_response_format({"name": "S", "schema": SCHEMA, "strict": True}, "json")
    loose = render_response_format({"name": "S", "schema": SCHEMA, "strict": False}, "json")
    assert strict == orjson.dumps(without_implied_keys(SCHEMA)).decode()
    assert loose == orjson.dumps(SCHEMA).decode()
