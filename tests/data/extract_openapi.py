"""Regenerates tests/data/openapi-subset.json: the component schemas the tests validate against, with everything they
reference, taken from OpenAI's official OpenAPI spec (MIT; see tests/data/OPENAPI-LICENSE).

Usage: python tests/data/extract_openapi.py /path/to/openapi.yaml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOTS = [
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateCompletionResponse",
    "CreateEmbeddingResponse",
    "ImagesResponse",
    "ListModelsResponse",
    "Model",
    "ErrorResponse",
    "CreateModerationResponse",
    "DeleteModelResponse",
    "ImageGenPartialImageEvent",
    "ImageGenCompletedEvent",
    "ImageEditPartialImageEvent",
    "ImageEditCompletedEvent",
    "ChatCompletionList",
    "ChatCompletionDeleted",
    "ChatCompletionMessageList",
    "Response",
    "ResponseStreamEvent",
    "TokenCountsResource",
    "ResponseItemList",
    "CompactResource",
    "ConversationResource",
    "DeletedConversationResource",
    "ConversationItemList",
    "ConversationItem",
]

# Where real Responses traffic differs from the spec (shared/reference/responses-api.md), the subset follows the wire:
# (schema, required property the real API leaves out). function_call_arguments.done carries no `name` (§1.3).
WIRE_GAPS = [
    ("ResponseFunctionCallArgumentsDoneEvent", "name"),
]
# (schema, property) that real bodies send as null although the spec types it as a plain value: `user` and a
# json_schema format's `description` in every capture of shared/data/captures-responses; `usage` of the in-progress
# response in response.created / response.in_progress (§1.3) and of a queued background response (§1.4).
NULL_ON_WIRE = [
    ("ModelResponseProperties", "user"),
    ("TextResponseFormatJsonSchema", "description"),
    ("Response", "usage"),
]


def _allow_null(schema: dict, prop: str) -> None:
    """Makes `prop` nullable where the schema (or one of its inline allOf parts) declares it."""
    for part in [schema, *schema.get("allOf", [])]:
        properties = part.get("properties") or {}
        if prop in properties:
            properties[prop] = {"anyOf": [properties[prop], {"type": "null"}]}
            return
    raise KeyError(prop)


def refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main(spec_path: str) -> None:
    spec = yaml.load(Path(spec_path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schemas = spec["components"]["schemas"]
    wanted, queue = set(), list(ROOTS)
    while queue:
        name = queue.pop()
        if name in wanted:
            continue
        wanted.add(name)
        found: set[str] = set()
        refs(schemas[name], found)
        queue.extend(found - wanted)
    for name, prop in WIRE_GAPS:
        if name in wanted:
            schemas[name] = {**schemas[name], "required": [r for r in schemas[name].get("required", []) if r != prop]}
    for name, prop in NULL_ON_WIRE:
        _allow_null(schemas[name], prop)
    subset = {"openapi": spec["openapi"], "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
              "components": {"schemas": {name: schemas[name] for name in sorted(wanted)}}}
    out = Path(__file__).with_name("openapi-subset.json")
    out.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} with {len(wanted)} schemas")


if __name__ == "__main__":
    main(sys.argv[1])
