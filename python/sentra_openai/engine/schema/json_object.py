"""A realistic JSON object for ``response_format: json_object``: a lexicon shape filled by the schema generator."""

from __future__ import annotations

import random
from typing import Any

import orjson

from ..content.lexicon import lexicon
from .generate import instance_for_schema


def generate_json_object(rng: random.Random, encoding: Any, max_tokens: int) -> str:
    """A small, realistic JSON object (compact or pretty-printed) for ``response_format: json_object``.

    Properties are dropped from the end until the document fits in ``max_tokens``; ``{}`` (one token in the
    OpenAI encodings) is the floor. The result always parses.
    """
    shapes = lexicon()["json_object_shapes"]
    shape = shapes[rng.randrange(len(shapes))]
    schema = {"type": "object", "properties": shape, "required": list(shape), "additionalProperties": False}
    value: dict[str, Any] = instance_for_schema(schema, rng)
    pretty = rng.random() < 0.5
    keys = list(value)
    while True:
        document = _dump_json({key: value[key] for key in keys}, pretty)
        if not keys or len(encoding.encode_ordinary(document)) <= max_tokens:
            return document
        keys.pop()


def _dump_json(value: dict[str, Any], pretty: bool) -> str:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, option=option).decode()
