"""The JSON shape a prompt asks for. With `response_format: json_object` the API enforces only "some JSON object", and
clients put the shape in the messages: instructor's `Mode.JSON` and langchain's JSON output parser write a JSON
Schema there, other prompts an example object. A model follows it; so does the simulator.
"""

from __future__ import annotations

from typing import Any

import orjson

from .check import Validator

_SCHEMA_KEYS = ("properties", "$defs", "definitions", "items", "anyOf", "oneOf", "allOf")
_SCALAR_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def requested_shape(texts: list[str]) -> dict[str, Any] | None:
    """The JSON Schema of the last JSON object written in `texts` (messages, in order): the object itself when it
    is a schema, else a schema of the example it shows. None when no message holds a JSON object."""
    for text in reversed(texts):
        for document in reversed(_json_objects(text)):
            if _is_schema(document):
                return document
            return _schema_of_example(document)
    return None


def _is_schema(document: dict[str, Any]) -> bool:
    if not any(key in document for key in _SCHEMA_KEYS) and document.get("type") != "object":
        return False
    try:
        Validator(document).first_error({}, document, "$")  # resolves and walks it: a broken schema raises
    except Exception:  # noqa: BLE001 - anything the checker cannot walk is not a schema to follow
        return False
    return True


def _schema_of_example(value: Any) -> dict[str, Any]:
    """A strict schema with the example's keys and kinds of values (`{"name": "...", "age": 0}`)."""
    if isinstance(value, dict):
        properties = {key: _schema_of_example(item) for key, item in value.items()}
        return {"type": "object", "properties": properties, "required": list(properties),
                "additionalProperties": False}
    if isinstance(value, list):
        return {"type": "array", "items": _schema_of_example(value[0]) if value else {"type": "string"},
                "minItems": 1 if value else 0}
    if value is None:
        return {"type": "string"}
    return {"type": _SCALAR_TYPES[type(value)]}


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in `text` (balanced braces that parse), in order."""
    found, start, depth, in_string, escaped = [], -1, 0, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"' and depth:
            in_string = True
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                try:
                    document = orjson.loads(text[start:index + 1])
                except orjson.JSONDecodeError:
                    continue
                if isinstance(document, dict) and document:
                    found.append(document)
    return found
