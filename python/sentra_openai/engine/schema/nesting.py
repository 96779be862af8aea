"""How deeply a JSON schema nests, measured without recursion (a request may nest a schema thousands deep)."""

from __future__ import annotations

from typing import Any

# Structured outputs' strict mode: "A schema may have up to 5000 object properties total, with up to 10 levels of
# nesting" (OpenAI platform docs, "Structured Outputs", supported schemas; the 2024 text said 100 and 5).
MAX_STRICT_NESTING = 10

_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMA_SINGLE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def object_nesting(schema: Any, stop_at: int) -> int:
    """Levels of nested object schemas (an object inside an object's properties, an array's items, a union, ...);
    counting stops at `stop_at`, so a hostile schema costs only that much of a walk per branch."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
            level += 1
        deepest = max(deepest, level)
        if deepest >= stop_at:
            return deepest
        for key in _SUBSCHEMA_MAPS:
            children = node.get(key)
            if isinstance(children, dict):
                stack.extend((child, level) for child in children.values())
        for key in _SUBSCHEMA_LISTS:
            children = node.get(key)
            if isinstance(children, list):
                stack.extend((child, level) for child in children)
        for key in _SUBSCHEMA_SINGLE:
            child = node.get(key)
            if isinstance(child, dict):
                stack.append((child, level))
    return deepest


def value_depth(value: Any, stop_at: int) -> int:
    """Nesting of dicts and lists in a JSON value, counted up to `stop_at`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if deepest >= stop_at:
            return deepest
        stack.extend((child, level) for child in children)
    return deepest
