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
    """`dialect` "json": the schema as compact JSON, keys in the order sent. "harmony": the developer message's
    "# Response Formats" section (openai/harmony docs/format.md, "Structured output"):
    "# Response Formats\\n\\n## {name}\\n\\n// {description}\\n{schema}", the comment line only with a description."""
    schema = spec.get("schema")
    schema_json = orjson.dumps(schema if schema is not None else {}).decode()
    if dialect == "json":
        return schema_json
    lines = ["# Response Formats", "", f"## {spec.get('name') or ''}", ""]
    description = spec.get("description")
    if isinstance(description, str) and description:
        lines.append(f"// {description}")
    lines.append(schema_json)
    return "\n".join(lines)
