"""A small JSON Schema (Draft 2020-12) validator, used to check generated values and candidates.

It covers the assertions the generator produces values for, with the semantics of the ``jsonschema`` package:
``format`` is an annotation, ``pattern`` is an unanchored ``re.search``, and 1 == 1.0 but true != 1. The
predicates it is built from (JSON equality, multipleOf, length bounds, compiled patterns) are shared with
the generator so both sides agree on what "valid" means.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

from .errors import SchemaGenerationError, child_path
from .refs import resolve

# A value nested deeper than this is reported rather than walked: twice the generator's own nesting limit,
# so a value the generator could build is always checked in full.
_MAX_NESTING = 128


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_multiple(value: float, divisor: float) -> bool:
    """The multipleOf test exactly as jsonschema performs it (float quotient when the divisor is a float)."""
    if isinstance(divisor, float):
        try:
            quotient = value / divisor
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(value) / Fraction(divisor)).denominator == 1
    return not (value % divisor)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1; containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def length_ok(value: str, min_length: int, max_length: int | None) -> bool:
    return len(value) >= min_length and (max_length is None or len(value) <= max_length)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def compile_pattern(pattern: str, path: str) -> re.Pattern[str]:
    """A schema's ``pattern`` (or patternProperties key), compiled once per process."""
    try:
        return _compiled(pattern)
    except re.error as error:
        raise SchemaGenerationError(f"{path}: pattern {pattern!r} is not a valid regular expression: {error}")


_TYPE_CHECKS = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: is_int(v) or (isinstance(v, float) and v.is_integer()),
    "number": is_number,
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


class Validator:
    """Checks values against schemas of one document (``root``, where ``$ref``s resolve).

    Also understands the generator's internal ``__check__``/``__pending__`` keywords (see schema_merge).
    """

    def __init__(self, root: Any) -> None:
        self.root = root

    def is_valid(self, value: Any, schema: Any) -> bool:
        return self.first_error(value, schema, "$", 0) is None

    def first_error(self, value: Any, schema: Any, path: str, depth: int = 0) -> str | None:
        """The first reason ``value`` is not valid against ``schema``, naming its path; None when valid."""
        if schema is True:
            return None
        if schema is False:
            return f"{path}: no value is allowed here"
        if depth > _MAX_NESTING:
            return f"{path}: value nests too deeply"
        check = self.first_error
        next_depth = depth + 1
        for ref_key in ("$ref", "$dynamicRef"):
            if ref_key in schema:
                try:
                    target = resolve(self.root, schema[ref_key], path)
                except SchemaGenerationError as error:
                    return str(error)
                if (error := check(value, target, path, next_depth)) is not None:
                    return error
        declared = schema.get("type")
        if declared is not None:
            kinds = [declared] if isinstance(declared, str) else declared
            if not any(_TYPE_CHECKS.get(kind, lambda v: False)(value) for kind in kinds):
                return f"{path}: {value!r} is not of type {declared}"
        if "const" in schema and not json_equal(value, schema["const"]):
            return f"{path}: {value!r} is not the constant {schema['const']!r}"
        if "enum" in schema and not any(json_equal(value, v) for v in schema["enum"]):
            return f"{path}: {value!r} is not one of the enum values"
        if is_number(value):
            error = self._number_error(value, schema, path)
            if error:
                return error
        elif isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                return f"{path}: shorter than minLength {schema['minLength']}"
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                return f"{path}: longer than maxLength {schema['maxLength']}"
            if "pattern" in schema:
                try:
                    if not _compiled(schema["pattern"]).search(value):
                        return f"{path}: {value!r} does not match {schema['pattern']!r}"
                except re.error:
                    return f"{path}: invalid pattern {schema['pattern']!r}"
        elif isinstance(value, list):
            error = self._array_error(value, schema, path, next_depth)
            if error:
                return error
        elif isinstance(value, dict):
            error = self._object_error(value, schema, path, next_depth)
            if error:
                return error
        for member in schema.get("allOf", []):
            if (error := check(value, member, path, next_depth)) is not None:
                return error
        for extra in schema.get("__check__", []) + schema.get("__pending__", []):
            if (error := check(value, extra, path, next_depth)) is not None:
                return error
        if "anyOf" in schema and not any(check(value, b, path, next_depth) is None for b in schema["anyOf"]):
            return f"{path}: matches none of the anyOf branches"
        if "oneOf" in schema:
            matches = sum(check(value, b, path, next_depth) is None for b in schema["oneOf"])
            if matches != 1:
                return f"{path}: matches {matches} oneOf branches instead of exactly one"
        if "not" in schema and check(value, schema["not"], path, next_depth) is None:
            return f"{path}: matches the `not` schema"
        if "if" in schema:
            branch = "then" if check(value, schema["if"], path, next_depth) is None else "else"
            if branch in schema and (error := check(value, schema[branch], path, next_depth)) is not None:
                return error
        return None

    @staticmethod
    def _number_error(value: float, schema: dict[str, Any], path: str) -> str | None:
        # 2020-12: exclusiveMinimum/exclusiveMaximum are numbers; a boolean (draft 4 style) is ignored.
        if is_number(schema.get("minimum")) and value < schema["minimum"]:
            return f"{path}: {value} is less than the minimum {schema['minimum']}"
        if is_number(schema.get("maximum")) and value > schema["maximum"]:
            return f"{path}: {value} is greater than the maximum {schema['maximum']}"
        if is_number(schema.get("exclusiveMinimum")) and value <= schema["exclusiveMinimum"]:
            return f"{path}: {value} is not above the exclusive minimum {schema['exclusiveMinimum']}"
        if is_number(schema.get("exclusiveMaximum")) and value >= schema["exclusiveMaximum"]:
            return f"{path}: {value} is not below the exclusive maximum {schema['exclusiveMaximum']}"
        divisor = schema.get("multipleOf")
        if is_number(divisor) and divisor > 0 and not is_multiple(value, divisor):
            return f"{path}: {value} is not a multiple of {divisor}"
        return None

    def _array_error(self, value: list[Any], schema: dict[str, Any], path: str, depth: int) -> str | None:
        if len(value) < schema.get("minItems", 0):
            return f"{path}: fewer than minItems {schema['minItems']}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path}: more than maxItems {schema['maxItems']}"
        if schema.get("uniqueItems") is True:
            for i, item in enumerate(value):
                if any(json_equal(item, other) for other in value[:i]):
                    return f"{path}: items are not unique"
        prefix = schema.get("prefixItems", [])
        for index, item in enumerate(value):
            sub = prefix[index] if index < len(prefix) else schema.get("items", True)
            if (error := self.first_error(item, sub, f"{path}[{index}]", depth)) is not None:
                return error
        if "contains" in schema:
            matches = sum(self.first_error(item, schema["contains"], path, depth) is None for item in value)
            if matches < schema.get("minContains", 1):
                return f"{path}: too few items match `contains`"
            if "maxContains" in schema and matches > schema["maxContains"]:
                return f"{path}: too many items match `contains`"
        return None

    def _object_error(self, value: dict[str, Any], schema: dict[str, Any], path: str, depth: int) -> str | None:
        for key in schema.get("required", []):
            if key not in value:
                return f"{path}: missing required property {key!r}"
        if len(value) < schema.get("minProperties", 0):
            return f"{path}: fewer than minProperties {schema['minProperties']}"
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            return f"{path}: more than maxProperties {schema['maxProperties']}"
        for key, needed in schema.get("dependentRequired", {}).items():
            if key in value and any(n not in value for n in needed):
                return f"{path}: {key!r} requires {needed}"
        for key, sub in schema.get("dependentSchemas", {}).items():
            if key in value and (error := self.first_error(value, sub, path, depth)) is not None:
                return error
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        names = schema.get("propertyNames")
        for key, item in value.items():
            child = child_path(path, key)
            if names is not None and (error := self.first_error(key, names, child, depth)) is not None:
                return error
            matched = False
            if key in properties:
                matched = True
                if (error := self.first_error(item, properties[key], child, depth)) is not None:
                    return error
            for pattern, sub in patterns.items():
                if _compiled(pattern).search(key):
                    matched = True
                    if (error := self.first_error(item, sub, child, depth)) is not None:
                        return error
            if not matched and "additionalProperties" in schema and (
                error := self.first_error(item, schema["additionalProperties"], child, depth)
            ) is not None:
                return f"{child}: not allowed here ({error})" if schema["additionalProperties"] is False else error
        return None
