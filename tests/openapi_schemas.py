"""Validation of response bodies and stream chunks against OpenAI's official OpenAPI schemas (vendored subset)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SUBSET = Path(__file__).with_name("data") / "openapi-subset.json"
DOCUMENT_URI = "urn:openai-openapi"


def _nullable_to_null_type(node: Any) -> Any:
    """The spec still marks optional-null fields the OpenAPI 3.0 way (`nullable: true`), which JSON Schema ignores."""
    if isinstance(node, dict):
        node = {key: _nullable_to_null_type(value) for key, value in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable_to_null_type(value) for value in node]
    return node


# Where the real API (shared/data/captures) answers outside the published schema, the capture wins: each entry allows
# null for a property the spec types as a plain value. gpt-5 family: `"system_fingerprint": null` (chat-basic.json).
KNOWN_SPEC_GAPS = [
    ("CreateChatCompletionResponse", "system_fingerprint"),
    ("CreateChatCompletionStreamResponse", "system_fingerprint"),
]


def _allow_observed_nulls(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    for schema_name, prop in KNOWN_SPEC_GAPS:
        properties = schemas[schema_name]["properties"]
        properties[prop] = {"anyOf": [properties[prop], {"type": "null"}]}
    return document


@lru_cache(maxsize=None)
def _registry() -> Registry:
    document = _allow_observed_nulls(_nullable_to_null_type(json.loads(SUBSET.read_text())))
    return Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, default_specification=_spec()))


def _spec():
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


@lru_cache(maxsize=None)
def validator(schema_name: str) -> Draft202012Validator:
    schema = {"$ref": f"{DOCUMENT_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=_registry())


def validate(schema_name: str, instance: Any) -> None:
    """Raises jsonschema.ValidationError (with the failing path) when `instance` does not match the schema."""
    errors = sorted(validator(schema_name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        raise AssertionError(
            f"{schema_name} schema violation at {list(error.absolute_path)}: {error.message}\n"
            f"instance: {json.dumps(instance)[:2000]}"
        )
