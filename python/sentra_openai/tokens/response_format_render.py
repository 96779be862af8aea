"""A json_schema response format as the text the model reads in its prompt (chat `response_format`, Responses
`text.format`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["json_schema_spec", "render_response_format"]


def json_schema_spec(response_format: Any) -> Mapping[str, Any] | None:
    """The {name, description, schema} of a json_schema format, in either API's shape, or None for any other format.

    Chat nests it (`{"type": "json_schema", "json_schema": {...}}`), Responses' text.format is flat
    (`{"type": "json_schema", "name": ..., "schema": ...}`)."""
    if not isinstance(response_format, Mapping) or response_format.get("type") != "json_schema":
        return None
    nested = response_format.get("json_schema")
    return nested if isinstance(nested, Mapping) else response_format


def render_response_format(spec: Mapping[str, Any], dialect: str) -> str:
    """`dialect` "json": the schema as compact JSON, keys in the order sent; a strict schema without its
    `additionalProperties` and `required` (strict mode implies both: every property required, no other allowed).
    "harmony": the developer message's "# Response Formats" section (openai/harmony docs/format.md, "Structured
    output"): "# Response Formats\\n\\n## {name}\\n\\n// {description}\\n{schema}", the comment line only with a
    description."""
    schema = spec.get("schema")
    schema = schema if schema is not None else {}
    if dialect == "json":
        return orjson.dumps(without_implied_keys(schema) if spec.get("strict") is True else schema).decode()
    schema_json = orjson.dumps(schema).decode()
    lines = ["# Response Formats", "", f"## {spec.get('name') or ''}", ""]
    description = spec.get("description")
    if isinstance(description, str) and description:
        lines.append(f"// {description}")
    lines.append(schema_json)
    return "\n".join(lines)


_IMPLIED_BY_STRICT = frozenset({"additionalProperties", "required"})
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")  # name -> schema
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")  # [schema, ...]
_SCHEMA_VALUES = ("items", "not", "contains", "additionalItems")  # a schema


def without_implied_keys(schema: Any) -> Any:
    """A strict schema as the model reads it: the keywords strict mode implies dropped at every level (only in schema
    positions: a property named "required" stays). Fitted on gpt-4o captures (config/models.yaml, cookbook
    response_format)."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _IMPLIED_BY_STRICT:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            value = {name: without_implied_keys(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [without_implied_keys(sub) for sub in value]
        elif key in _SCHEMA_VALUES:
            value = without_implied_keys(value)
        out[key] = value
    return out
