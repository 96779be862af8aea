"""Folding two JSON schemas into one that means "a and b" (for ``allOf`` and ``$ref`` with siblings).

Keywords that do not combine simply are deferred in two internal keywords the generator and the validator
understand: ``__check__`` (schemas the value is checked against after generation) and ``__pending__``
(``anyOf``/``oneOf``/``$ref``/``allOf`` still to be resolved, one at a time).
"""

from __future__ import annotations

import math
from typing import Any

from .check import is_int, json_equal
from .errors import SchemaGenerationError

# Keywords that never constrain a value: a $ref whose siblings are only these is the target alone.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "$schema", "$id", "$anchor", "$defs",
     "definitions", "deprecated", "readOnly", "writeOnly", "nullable", "strict", "name"}
)
_TAKE_MAX = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_TAKE_MIN = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")


def has_constraints(schema: dict[str, Any]) -> bool:
    return any(key not in _ANNOTATIONS for key in schema)


def merge(a: dict[str, Any], b: Any, path: str) -> dict[str, Any]:
    """One schema meaning "a and b" for the keywords that combine simply; the rest are checked afterwards.

    Keywords that do not combine (two patterns, two anyOf, two additionalProperties schemas ...) keep a's
    version and push b's into ``__check__`` (validated after generation) or ``__pending__`` (branching still
    to be resolved). The result is never wider than "a and b"; where it is narrower, generation may fail.
    """
    if b is True:
        return dict(a)
    if b is False:
        raise SchemaGenerationError(f"{path}: allOf contains `false`")
    merged = dict(a)
    checks: list[Any] = list(merged.pop("__check__", []))
    pending: list[Any] = list(merged.pop("__pending__", []))
    for key, value in b.items():
        if key == "__check__":
            checks += value
        elif key == "__pending__":
            pending += value
        elif key in ("$ref", "$dynamicRef", "allOf", "anyOf", "oneOf"):
            if key in merged or key in ("$ref", "$dynamicRef", "allOf"):
                pending.append({key: value})
            else:
                merged[key] = value
        elif key not in merged or key in _ANNOTATIONS:
            merged.setdefault(key, value)
        elif key == "type":
            merged["type"] = _intersect_types(merged["type"], value, path)
        elif key in _TAKE_MAX:
            merged[key] = max(merged[key], value)
        elif key in _TAKE_MIN:
            merged[key] = min(merged[key], value)
        elif key == "required":
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        elif key == "properties" or key == "patternProperties":
            combined = dict(merged[key])
            for name, sub in value.items():
                combined[name] = {"allOf": [combined[name], sub]} if name in combined else sub
            merged[key] = combined
        elif key == "enum":
            merged[key] = [v for v in merged[key] if any(json_equal(v, w) for w in value)]
            if not merged[key]:
                raise SchemaGenerationError(f"{path}: the enums of allOf have no value in common")
        elif key == "const":
            if not json_equal(merged[key], value):
                raise SchemaGenerationError(f"{path}: allOf requires two different constants")
        elif key == "uniqueItems":
            merged[key] = bool(merged[key]) or bool(value)
        elif key == "multipleOf" and is_int(merged[key]) and is_int(value):
            merged[key] = math.lcm(merged[key], value)
        elif key in ("items", "additionalProperties", "propertyNames", "contains") and (
            isinstance(merged[key], (dict, bool)) and isinstance(value, (dict, bool))
        ):
            if merged[key] is False or value is False:
                merged[key] = False
            else:
                merged[key] = {"allOf": [merged[key], value]}
        elif key == "not":
            merged[key] = {"anyOf": [merged[key], value]}
        elif key == "dependentRequired":
            combined = dict(merged[key])
            for name, needed in value.items():
                combined[name] = list(dict.fromkeys([*combined.get(name, []), *needed]))
            merged[key] = combined
        elif json_equal(merged[key], value):
            continue
        else:
            checks.append({key: value})
    if checks:
        merged["__check__"] = checks
    if pending:
        merged["__pending__"] = pending
    return merged


def _intersect_types(a: Any, b: Any, path: str) -> Any:
    left = [a] if isinstance(a, str) else list(a)
    right = [b] if isinstance(b, str) else list(b)
    result = []
    for kind in left:
        if kind in right:
            result.append(kind)
        elif (kind == "number" and "integer" in right) or (kind == "integer" and "number" in right):
            result.append("integer")  # integers are the numbers both sides allow
    result = list(dict.fromkeys(result))
    if not result:
        raise SchemaGenerationError(f"{path}: allOf requires incompatible types {left} and {right}")
    return result[0] if len(result) == 1 else result
