"""The JSON shape a prompt asks for. With `response_format: json_object` the API enforces only "some JSON object", and
clients put the shape in the messages: instructor's `Mode.JSON` and langchain's JSON output parser write a JSON
Schema there, other prompts an example object, or name the keys in words ("return a JSON blob with keys 'answer' and
'justification'", langchain's documented `json_mode` example). A model follows it; so does the simulator.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .check import Validator
from .value_hints import number_hint, string_hint

_SCHEMA_KEYS = ("properties", "$defs", "definitions", "items", "anyOf", "oneOf", "allOf")
_SCALAR_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}
# "with keys 'answer' and 'justification'", "the fields: name, country, population": two or more names after the word.
_NAME = r"[`'\"]?[A-Za-z_][\w-]*[`'\"]?"
_SEPARATOR = r"\s*,\s*(?:and\s+)?|\s+and\s+"
_KEY_LIST = re.compile(
    rf"\b(?:keys|fields|properties|attributes)\s*(?:named\s+|called\s+|:\s*)?({_NAME}(?:(?:{_SEPARATOR}){_NAME})+)",
    re.IGNORECASE)


def requested_shape(texts: list[str]) -> dict[str, Any] | None:
    """The JSON Schema of the last JSON object written in `texts` (messages, in order): the object itself when it
    is a schema, else a schema of the example it shows. None when no message holds a JSON object."""
    for text in reversed(texts):
        for document in reversed(_json_objects(text)):
            if _is_schema(document):
                return document
            return _schema_of_example(document)
        named = _named_keys(text)
        if named:
            return named
    return None


def _named_keys(text: str) -> dict[str, Any] | None:
    """A strict schema of the keys the text names in words (the last such list), each typed from its name: a number
    where the name says so ("age", "price", "confidence"), else a string."""
    lists = _KEY_LIST.findall(text)
    if not lists:
        return None
    names = [name.strip("`'\"") for name in re.split(_SEPARATOR, lists[-1])]
    properties: dict[str, Any] = {}
    for name in names:
        hint = number_hint(name) if string_hint(name) is None else None
        properties[name] = {"type": "string"} if hint is None else {
            "type": "integer" if hint.get("decimals", 0) == 0 else "number"}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


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
