"""Values that satisfy a JSON schema: structured outputs (``response_format: json_schema``) and tool arguments.

``instance_for_schema`` walks the schema and builds a value directly (no rejection sampling in the common
case), choosing realistic strings and numbers from the property names (``email``, ``city``, ``age`` ...;
hints in config/lexicon.yaml). Keywords it cannot build directly (``not``, a second ``pattern`` from an
``allOf``, ``oneOf`` exclusivity, ``uniqueItems`` ...) are met by checking candidates with a small Draft 2020-12
validator below and retrying a bounded number of times. The whole value is checked once more at the end, so
the result is valid or a ``SchemaGenerationError`` says where it could not be.

Semantics follow JSON Schema Draft 2020-12 as the ``jsonschema`` package validates it: ``format`` is produced
faithfully but not required for validity, ``nullable`` (OpenAPI 3.0) is ignored because 2020-12 does not let it
admit null, and ``pattern`` uses Python ``re.search`` (an unanchored search), as jsonschema does.
"""

from __future__ import annotations

import math
import random
import re
import string
import uuid
from fractions import Fraction
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from .textgen import fill_template, lexicon

try:  # Python >= 3.11
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]


class SchemaGenerationError(ValueError):
    """The schema cannot be satisfied (or not by this generator); the message names the JSON path."""


# Once one $ref has been expanded this many times on the current branch (recursion), or nesting is this deep,
# generation prefers the smallest branch: null over objects, no optional properties, minItems items. That is
# what makes recursive schemas terminate; non-recursive $refs (a Pydantic model per nested object) do not count.
_SOFT_REF_DEPTH = 3
_SOFT_NEST_DEPTH = 8
_HARD_DEPTH = 64
_NODE_BUDGET = 20_000
_RETRIES = 12
_PATTERN_ATTEMPTS = 60
_MAX_STRING = 1_000_000  # characters; far beyond any max_tokens
_MAX_TRAIL = 256  # $ref expansions on one branch: more means a $ref cycle with no structure in between

_Trail = tuple[str, ...]  # the $refs expanded on the current branch, outermost first

_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "$schema", "$id", "$anchor", "$defs",
     "definitions", "deprecated", "readOnly", "writeOnly", "nullable", "strict", "name"}
)
_OBJECT_KEYS = ("properties", "required", "additionalProperties", "patternProperties", "minProperties",
                "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas")
_ARRAY_KEYS = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")
_STRING_KEYS = ("minLength", "maxLength", "pattern", "format")
_NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def instance_for_schema(schema: dict[str, Any] | bool, rng: random.Random) -> Any:
    """A JSON value (dict/list/str/int/float/bool/None) valid against ``schema``; deterministic given ``rng``."""
    last_error = "no attempt made"
    for _ in range(3):
        generator = _Generator(schema, rng)
        value = generator.generate(schema, "$", 0, (), None)
        error = _Validator(schema).first_error(value, schema, "$")
        if error is None:
            return value
        last_error = error
    raise SchemaGenerationError(f"could not generate a valid value: {last_error}")


def arguments_for_tool(parameters: dict[str, Any] | None, rng: random.Random) -> dict[str, Any]:
    """Arguments for a function tool call: ``{}`` without parameters, else an object valid against them."""
    if not parameters:
        return {}
    value = instance_for_schema(parameters, rng)
    if not isinstance(value, dict):
        raise SchemaGenerationError("$: function parameters must describe an object")
    return value


# ----------------------------------------------------------------------------------------------- generation


class _Generator:
    def __init__(self, root: dict[str, Any] | bool, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.nodes = 0
        self.validator = _Validator(root)

    # The walk: `depth` counts nesting, `refs` lists the $refs expanded on this branch, `name` is the property
    # name (or its singular, for array items) used to pick realistic values.
    def generate(self, schema: Any, path: str, depth: int, refs: _Trail, name: str | None) -> Any:
        self.nodes += 1
        if self.nodes > _NODE_BUDGET:
            raise SchemaGenerationError(f"{_short(path)}: the schema needs too large a value")
        if depth > _HARD_DEPTH:
            raise SchemaGenerationError(f"{_short(path)}: recursion never reaches a terminating branch")
        if schema is True or schema == {}:
            return self._any_value(name)
        if schema is False:
            raise SchemaGenerationError(f"{path}: the schema `false` admits no value")
        if not isinstance(schema, dict):
            raise SchemaGenerationError(f"{path}: not a schema: {schema!r}")

        schema, refs = self._flatten(schema, path, refs)
        deep = depth >= _SOFT_NEST_DEPTH or any(refs.count(ref) >= _SOFT_REF_DEPTH for ref in set(refs))

        if "anyOf" in schema or "oneOf" in schema:
            return self._combinator(schema, path, depth, refs, name, deep)
        if schema.get("__pending__"):
            # A second anyOf/oneOf (from allOf or a $ref with siblings), taken up once the first is resolved.
            first, *others = schema["__pending__"]
            rest = {k: v for k, v in schema.items() if k != "__pending__"}
            if isinstance(first, dict):
                first, refs = self._flatten(first, path, refs)
            merged = _merge(rest, first, path)
            if others:
                merged["__pending__"] = others + merged.get("__pending__", [])
            return self.generate(merged, path, depth, refs, name)

        needs_check = any(key in schema for key in ("not", "__check__", "if", "uniqueItems", "contains",
                                                     "dependentSchemas", "propertyNames"))
        attempts = _RETRIES if needs_check else 1
        for _ in range(attempts):
            value = self._generate_plain(schema, path, depth, refs, name, deep)
            if not needs_check or self.validator.first_error(value, schema, path) is None:
                return value
        error = self.validator.first_error(value, schema, path)
        raise SchemaGenerationError(f"could not satisfy the schema: {error}")

    def _flatten(self, schema: dict[str, Any], path: str, refs: _Trail) -> tuple[dict[str, Any], _Trail]:
        """Resolve $ref and fold allOf into one schema, so the rest of the walk sees plain keywords."""
        for _ in range(_HARD_DEPTH):
            if "$ref" in schema or "$dynamicRef" in schema:
                ref = schema.get("$ref", schema.get("$dynamicRef"))
                target = _resolve(self.root, ref, path)
                siblings = {k: v for k, v in schema.items() if k not in ("$ref", "$dynamicRef")}
                refs = (*refs, str(ref))
                if len(refs) > _MAX_TRAIL:
                    raise SchemaGenerationError(f"{_short(path)}: $ref {ref!r} loops without reaching a value")
                if target is False:
                    raise SchemaGenerationError(f"{path}: $ref {ref!r} points to `false`")
                target = {} if target is True else target
                schema = _merge(target, siblings, path) if _has_constraints(siblings) else target
                continue
            if "allOf" in schema:
                members = schema["allOf"]
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for member in members:
                    if member is False:
                        raise SchemaGenerationError(f"{path}: allOf contains `false`")
                    if member is True:
                        continue
                    member, refs = self._flatten(member, path, refs)
                    merged = _merge(merged, member, path)
                schema = merged
                continue
            return schema, refs
        raise SchemaGenerationError(f"{path}: $ref chain never ends")

    def _combinator(self, schema: dict[str, Any], path: str, depth: int, refs: _Trail, name: str | None,
                    deep: bool) -> Any:
        keyword = "anyOf" if "anyOf" in schema else "oneOf"
        branches = schema[keyword]
        if not branches:
            raise SchemaGenerationError(f"{path}: empty {keyword}")
        rest = {k: v for k, v in schema.items() if k != keyword}
        order = list(range(len(branches)))
        if deep:
            memo: dict[int, float] = {}
            order.sort(key=lambda i: _min_cost(self.root, branches[i], memo))
        else:
            self.rng.shuffle(order)
            if self.rng.random() < 0.8:  # the [X, null] idiom: a model usually fills X in
                order.sort(key=lambda i: _is_null_schema(branches[i]))
        last: SchemaGenerationError | None = None
        for index in order:
            branch = branches[index]
            if branch is False:
                continue
            candidate = rest if branch is True else _merge(rest, branch, path)
            for _ in range(_RETRIES if keyword == "oneOf" else 1):
                try:
                    value = self.generate(candidate, path, depth, refs, name)
                except SchemaGenerationError as error:
                    last = error
                    break
                if keyword == "anyOf" or not any(
                    self.validator.is_valid(value, other)
                    for j, other in enumerate(branches) if j != index
                ):
                    return value
                last = SchemaGenerationError(f"{path}: value matches more than one oneOf branch")
        raise last or SchemaGenerationError(f"{path}: no {keyword} branch can be satisfied")

    def _generate_plain(self, schema: dict[str, Any], path: str, depth: int, refs: _Trail, name: str | None,
                        deep: bool) -> Any:
        rest = {k: v for k, v in schema.items() if k not in ("enum", "const")}
        if "const" in schema:
            value = schema["const"]
            if "enum" in schema and not any(_json_equal(value, v) for v in schema["enum"]):
                raise SchemaGenerationError(f"{path}: const is not one of the enum values")
            if not self.validator.is_valid(value, rest):
                raise SchemaGenerationError(f"{path}: const {value!r} contradicts the other keywords")
            return value
        if "enum" in schema:
            allowed = [v for v in schema["enum"] if self.validator.is_valid(v, rest)]
            if not allowed:
                raise SchemaGenerationError(f"{path}: no enum value satisfies the other keywords")
            if deep and None in allowed:
                return None
            return allowed[self.rng.randrange(len(allowed))]
        examples = schema.get("examples")
        if isinstance(examples, list) and examples and self.rng.random() < 0.5:
            example = examples[self.rng.randrange(len(examples))]
            if self.validator.is_valid(example, schema):
                return example

        types = self._candidate_types(schema, path)
        if types == ["any"] and ("not" in schema or "__check__" in schema):
            types = ["string", "integer", "boolean", "null", "array", "object"]  # give `not` something to avoid
        if deep and "null" in types:
            return None
        if "null" in types and len(types) > 1 and self.rng.random() < 0.8:
            types = [t for t in types if t != "null"]  # nullable fields are usually filled in
        order = list(types)
        self.rng.shuffle(order)
        last: SchemaGenerationError | None = None
        for kind in order:
            try:
                return self._of_type(kind, schema, path, depth, refs, name, deep)
            except SchemaGenerationError as error:
                last = error
        assert last is not None
        raise last

    def _candidate_types(self, schema: dict[str, Any], path: str) -> list[str]:
        declared = schema.get("type")
        if isinstance(declared, str):
            return [declared]
        if isinstance(declared, list):
            if not declared:
                raise SchemaGenerationError(f"{path}: empty type list")
            # "integer" is a subset of "number": keep both, they generate differently.
            return list(dict.fromkeys(declared))
        for keys, kind in ((_OBJECT_KEYS, "object"), (_ARRAY_KEYS, "array"), (_STRING_KEYS, "string"),
                           (_NUMBER_KEYS, "number")):
            if any(key in schema for key in keys):
                return [kind]
        return ["any"]

    def _of_type(self, kind: str, schema: dict[str, Any], path: str, depth: int, refs: _Trail, name: str | None,
                 deep: bool) -> Any:
        if kind == "object":
            return self._object(schema, path, depth, refs, deep)
        if kind == "array":
            return self._array(schema, path, depth, refs, name, deep)
        if kind == "string":
            return self._string(schema, path, name)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer", name, path, self.rng)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        if kind == "any":
            return self._any_value(name)
        raise SchemaGenerationError(f"{path}: unknown type {kind!r}")

    def _any_value(self, name: str | None) -> Any:
        if name and _number_hint(name) is not None:
            return _number({}, False, name, "$", self.rng)
        return self._string({}, "$", name)

    # ---------------------------------------------------------------------------------------- objects

    def _object(self, schema: dict[str, Any], path: str, depth: int, refs: _Trail, deep: bool) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {}) or {}
        required = list(dict.fromkeys(schema.get("required", []) or []))
        additional = schema.get("additionalProperties", True)
        if additional is True and schema.get("unevaluatedProperties") is False:
            additional = False
        patterns: dict[str, Any] = schema.get("patternProperties", {}) or {}
        min_props = schema.get("minProperties", 0)
        max_props = schema.get("maxProperties")

        chosen = [key for key in properties if key in required]
        chosen += [key for key in required if key not in properties]
        if not deep:
            chosen += [key for key in properties if key not in required and self.rng.random() < 0.6]
        chosen = self._close_dependencies(chosen, schema.get("dependentRequired", {}))
        if max_props is not None and len(chosen) > max_props:
            forced = set(self._close_dependencies(required, schema.get("dependentRequired", {})))
            chosen = [key for key in chosen if key in forced] + [key for key in chosen if key not in forced]
            if len(forced) > max_props:
                raise SchemaGenerationError(
                    f"{path}: {len(forced)} required properties but maxProperties is {max_props}")
            chosen = chosen[:max_props]
        for key in properties:
            if len(chosen) >= min_props:
                break
            if key not in chosen:
                chosen.append(key)
        extra_names = 0
        if not deep and additional not in (False, True) and not properties and self.rng.random() < 0.7:
            extra_names = self.rng.randint(1, 2)
        extra_names = max(extra_names, min_props - len(chosen))
        if max_props is not None:
            extra_names = min(extra_names, max_props - len(chosen))

        result: dict[str, Any] = {}
        # Declared properties come out in declaration order, like a model following the schema.
        ordered = [key for key in properties if key in chosen] + [key for key in chosen if key not in properties]
        for key in ordered:
            sub = self._property_schema(key, properties, patterns, additional, path)
            result[key] = self.generate(sub, _child_path(path, key), depth + 1, refs, key)
        for _ in range(extra_names):
            key = self._extra_name(schema, result, properties, patterns, path, depth, refs)
            sub = self._property_schema(key, properties, patterns, additional, path)
            result[key] = self.generate(sub, _child_path(path, key), depth + 1, refs, key)
        return result

    @staticmethod
    def _close_dependencies(chosen: list[str], dependent: dict[str, list[str]]) -> list[str]:
        result = list(chosen)
        for key in result:  # grows while iterating: a dependency may have dependencies of its own
            for needed in dependent.get(key, []):
                if needed not in result:
                    result.append(needed)
        return result

    def _property_schema(self, key: str, properties: dict[str, Any], patterns: dict[str, Any], additional: Any,
                         path: str) -> Any:
        parts = []
        if key in properties:
            parts.append(properties[key])
        parts += [sub for pattern, sub in patterns.items() if _compile(pattern, path).search(key)]
        if not parts:
            if additional is False:
                raise SchemaGenerationError(
                    f"{_child_path(path, key)}: required but not allowed (additionalProperties is false)")
            parts.append(additional)
        if len(parts) == 1:
            return parts[0]
        return {"allOf": parts}

    def _extra_name(self, schema: dict[str, Any], taken: dict[str, Any], properties: dict[str, Any],
                    patterns: dict[str, Any], path: str, depth: int, refs: _Trail) -> str:
        """A new property name, allowed by propertyNames and (when extras are forbidden) by a patternProperty."""
        names_schema = schema.get("propertyNames")
        closed = schema.get("additionalProperties", True) is False
        words = lexicon()["words"]
        pattern_list = list(patterns)
        for _ in range(_RETRIES * 2):
            if isinstance(names_schema, dict):
                key = self.generate({"allOf": [names_schema, {"type": "string"}]}, path + "{key}", depth + 1,
                                    refs, None)
            elif pattern_list and (closed or self.rng.random() < 0.5):
                pattern = pattern_list[self.rng.randrange(len(pattern_list))]
                # A random minimum length makes unanchored patterns (`^x-`) yield distinct names.
                key = _pattern_string(pattern, self.rng.randint(1, 8), None, self.rng, path)
            else:
                key = words[self.rng.randrange(len(words))]
            if key in taken or key in properties:
                continue
            if closed and not any(_compile(p, path).search(key) for p in pattern_list):
                continue
            return key
        raise SchemaGenerationError(f"{path}: cannot invent enough distinct, allowed property names")

    # ----------------------------------------------------------------------------------------- arrays

    def _array(self, schema: dict[str, Any], path: str, depth: int, refs: _Trail, name: str | None, deep: bool
               ) -> list[Any]:
        prefix = schema.get("prefixItems", []) or []
        items = schema.get("items", True)
        min_items = schema.get("minItems", 0)
        max_items = schema.get("maxItems")
        contains = schema.get("contains")
        min_contains = schema.get("minContains", 1) if contains is not None else 0
        if items is False:
            max_items = len(prefix) if max_items is None else min(max_items, len(prefix))
        if contains is not None:
            min_items = max(min_items, min_contains)
        if max_items is not None and min_items > max_items:
            raise SchemaGenerationError(f"{path}: minItems {min_items} is greater than maxItems {max_items}")
        if deep:
            count = min_items
        else:
            natural = self.rng.randint(1, 3)
            count = max(min_items, natural if max_items is None else min(natural, max_items))
        item_name = _singular(name) if name else None
        values: list[Any] = []
        unique = schema.get("uniqueItems") is True
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else items
            if index < min_contains:
                sub = contains if sub is True else {"allOf": [sub, contains]}
            item_path = f"{path}[{index}]"
            for _ in range(_RETRIES if unique else 1):
                value = self.generate(sub, item_path, depth + 1, refs, item_name)
                if not unique or not any(_json_equal(value, seen) for seen in values):
                    break
            else:
                raise SchemaGenerationError(f"{item_path}: cannot find enough distinct items (uniqueItems)")
            values.append(value)
        return values

    # ---------------------------------------------------------------------------------------- strings

    def _string(self, schema: dict[str, Any], path: str, name: str | None) -> str:
        min_length = schema.get("minLength", 0)
        max_length = schema.get("maxLength")
        if max_length is not None and min_length > max_length:
            raise SchemaGenerationError(f"{path}: minLength {min_length} is greater than maxLength {max_length}")
        if min_length > _MAX_STRING:
            raise SchemaGenerationError(f"{path}: minLength {min_length} is longer than any model output")
        pattern = schema.get("pattern")
        fmt = schema.get("format") if isinstance(schema.get("format"), str) else None
        kind = _string_hint(name) if name else None
        if pattern is not None:
            # A realistic value that happens to match (an email for an email pattern) beats a sampled one.
            compiled = _compile(pattern, path)
            for make in (_FORMATS.get(fmt), _HINTED.get(kind) if kind else None):
                if make is not None:
                    value = make(self.rng)
                    if _length_ok(value, min_length, max_length) and compiled.search(value):
                        return value
            return _pattern_string(pattern, min_length, max_length, self.rng, path)
        if fmt in _FORMATS:
            value = _FORMATS[fmt](self.rng)
            if _length_ok(value, min_length, max_length):
                return value
        value = _HINTED[kind](self.rng) if kind else self._plain_string()
        return _fit_length(value, min_length, max_length, self.rng)

    def _plain_string(self) -> str:
        words = lexicon()["words"]
        count = self.rng.randint(1, 2)
        return " ".join(words[self.rng.randrange(len(words))] for _ in range(count))


def _is_null_schema(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    return schema.get("type") == "null" or ("const" in schema and schema["const"] is None)


def _short(path: str) -> str:
    """A JSON path for messages; a runaway recursion's path is abbreviated in the middle."""
    return path if len(path) <= 120 else f"{path[:60]}...{path[-50:]}"


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


def _has_constraints(schema: dict[str, Any]) -> bool:
    return any(key not in _ANNOTATIONS for key in schema)


def _resolve(root: Any, ref: str, path: str) -> Any:
    """A local reference: "#", "#/json/pointer" ($defs, definitions, anything) or "#anchor"."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SchemaGenerationError(f"{path}: unsupported $ref {ref!r} (only local references are supported)")
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        found = _find_anchor(root, fragment)
        if found is None:
            raise SchemaGenerationError(f"{path}: $ref {ref!r} names no $anchor")
        return found
    node = root
    for token in fragment.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SchemaGenerationError(f"{path}: $ref {ref!r} does not resolve")
    return node


def _find_anchor(node: Any, anchor: str) -> Any:
    if isinstance(node, dict):
        if node.get("$anchor") == anchor or node.get("$dynamicAnchor") == anchor:
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_anchor(child, anchor)
        if found is not None:
            return found
    return None


def _min_cost(root: Any, schema: Any, memo: dict[int, float] | None = None) -> float:
    """A rough size of the smallest value of ``schema``; infinite when it can only recurse.

    Only used to rank branches deep inside recursive schemas, so a cycle simply counts as infinite.
    """
    memo = {} if memo is None else memo
    if schema is True or schema == {}:
        return 1
    if not isinstance(schema, dict):
        return math.inf
    key = id(schema)
    if key in memo:
        return memo[key]
    memo[key] = math.inf  # in progress: reaching it again is a cycle
    cost = 0.0
    if "$ref" in schema:
        try:
            cost += _min_cost(root, _resolve(root, schema["$ref"], "$"), memo)
        except SchemaGenerationError:
            cost = math.inf
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            cost += min((_min_cost(root, branch, memo) for branch in schema[keyword]), default=math.inf)
    for member in schema.get("allOf", []):
        cost += _min_cost(root, member, memo)
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if "const" in schema or "enum" in schema:
        cost += 1
    elif "null" in types:
        pass
    elif "object" in types or "properties" in schema:
        properties = schema.get("properties", {})
        cost += 1 + sum(_min_cost(root, properties.get(name, True), memo) for name in schema.get("required", []))
    elif ("array" in types or "items" in schema) and schema.get("minItems", 0):
        cost += 1 + schema["minItems"] * _min_cost(root, schema.get("items", True), memo)
    else:
        cost += 1
    memo[key] = cost
    return cost


# ------------------------------------------------------------------------------------------- allOf merging

_TAKE_MAX = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_TAKE_MIN = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")


def _merge(a: dict[str, Any], b: Any, path: str) -> dict[str, Any]:
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
            merged[key] = [v for v in merged[key] if any(_json_equal(v, w) for w in value)]
            if not merged[key]:
                raise SchemaGenerationError(f"{path}: the enums of allOf have no value in common")
        elif key == "const":
            if not _json_equal(merged[key], value):
                raise SchemaGenerationError(f"{path}: allOf requires two different constants")
        elif key == "uniqueItems":
            merged[key] = bool(merged[key]) or bool(value)
        elif key == "multipleOf" and _is_int(merged[key]) and _is_int(value):
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
        elif _json_equal(merged[key], value):
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
        elif kind == "number" and "integer" in right:
            result.append("integer")
        elif kind == "integer" and "number" in right:
            result.append("integer")
    result = list(dict.fromkeys(result))
    if not result:
        raise SchemaGenerationError(f"{path}: allOf requires incompatible types {left} and {right}")
    return result[0] if len(result) == 1 else result


# ------------------------------------------------------------------------------------------------ numbers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_multiple(value: int | float, divisor: int | float) -> bool:
    """The multipleOf test exactly as jsonschema performs it (float quotient when the divisor is a float)."""
    if isinstance(divisor, float):
        try:
            quotient = value / divisor
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(value) / Fraction(divisor)).denominator == 1
    return not (value % divisor)


def _number(schema: dict[str, Any], integer: bool, name: str | None, path: str, rng: random.Random
            ) -> int | float:
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum", max)
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum", min)
    if low is not None and high is not None and (low > high or (low == high and (low_open or high_open))):
        raise SchemaGenerationError(f"{path}: no number lies between the lower bound {low} and upper bound {high}")
    hint = (_number_hint(name) if name else None) or lexicon()["default_number"]
    decimals = 0 if integer else int(hint["decimals"])
    lo, hi = _realistic_window(low, high, hint)

    divisor = schema.get("multipleOf")

    def fits(value: int | float) -> bool:
        if low is not None and (value < low or (low_open and value == low)):
            return False
        if high is not None and (value > high or (high_open and value == high)):
            return False
        return divisor is None or _is_multiple(value, divisor)

    if divisor is not None:
        if not _is_number(divisor) or divisor <= 0:
            raise SchemaGenerationError(f"{path}: multipleOf must be a positive number")
        value = _pick_multiple(lo, hi, low, high, divisor, integer, fits, rng)
        if value is None:
            raise SchemaGenerationError(f"{path}: no multiple of {divisor} within the bounds")
        return value
    if integer:
        for start, end in ((lo, hi), (low if low is not None else lo, high if high is not None else hi)):
            first, last = math.ceil(start), math.floor(end)
            first += 0 if fits(first) else 1
            last -= 0 if fits(last) else 1
            if first <= last:
                return rng.randint(first, last)
        raise SchemaGenerationError(f"{path}: no integer lies within the bounds")
    for _ in range(8):
        value: int | float = round(rng.uniform(lo, hi), decimals)
        if decimals == 0:
            value = int(value)
        if fits(value):
            return value
    # Rounding can push a draw out of a narrow or exclusive interval; its midpoint is always inside.
    for candidate in (lo / 2 + hi / 2, low / 2 + high / 2 if low is not None and high is not None else lo):
        if fits(candidate):
            return candidate
    raise SchemaGenerationError(f"{path}: no number lies within the bounds")


def _realistic_window(low: Any, high: Any, hint: dict[str, Any]) -> tuple[float, float]:
    """Where to draw from: the name hint's range clipped to the bounds, or a span next to a lone bound."""
    hint_lo, hint_hi = hint["min"], hint["max"]
    span = max(hint_hi - hint_lo, 10)
    if low is not None and high is not None:
        lo, hi = max(low, hint_lo), min(high, hint_hi)
        return (lo, hi) if lo < hi else (low, high)
    if low is not None:
        return (max(low, hint_lo), hint_hi) if low < hint_hi else (low, low + span)
    if high is not None:
        return (hint_lo, min(high, hint_hi)) if high > hint_lo else (high - span, high)
    return hint_lo, hint_hi


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, tighter: Any) -> tuple[Any, bool]:
    """The effective bound and whether it is exclusive (2020-12: exclusive* are numbers; booleans are ignored)."""
    value = schema.get(inclusive) if _is_number(schema.get(inclusive)) else None
    open_value = schema.get(exclusive) if _is_number(schema.get(exclusive)) else None
    if open_value is None:
        return value, False
    if value is None:
        return open_value, True
    # At equal values the exclusive bound is the stricter one.
    if tighter(value, open_value) == open_value:
        return open_value, True
    return value, False


def _pick_multiple(lo: float, hi: float, low: Any, high: Any, divisor: int | float, integer: bool,
                   fits: Any, rng: random.Random) -> int | float | None:
    """A multiple of ``divisor`` in the window [lo, hi] (or else anywhere in the bounds) that passes ``fits``."""
    windows = [(lo, hi)]
    if (low, high) != (lo, hi):
        windows.append((low if low is not None else lo, high if high is not None else hi))
    for start, end in windows:
        k_first = math.ceil(Fraction(start) / Fraction(divisor)) - 1
        k_last = math.floor(Fraction(end) / Fraction(divisor)) + 1
        if k_first > k_last:
            continue
        candidates = [rng.randint(k_first, k_last) for _ in range(24)]
        candidates += [k_first, k_first + 1, k_first + 2, k_last, k_last - 1, k_last - 2, 0]
        for k in candidates:
            for value in _multiple_forms(k, divisor, integer):
                if fits(value):
                    return value
    return None


def _multiple_forms(k: int, divisor: int | float, integer: bool) -> list[int | float]:
    """k * divisor written a few ways, tidiest first (float products such as 0.30000000000000004 come last)."""
    exact = Fraction(k) * Fraction(divisor)
    if exact.denominator == 1:
        return [int(exact)]
    if integer:
        return []
    decimals = max(0, -math.floor(math.log10(divisor))) + 2
    return [round(k * divisor, decimals), k * divisor]


# ------------------------------------------------------------------------------------------------ strings


@lru_cache(maxsize=1)
def _string_rules() -> tuple[dict[str, str], list[tuple[frozenset[str], str]]]:
    whole: dict[str, str] = {}
    by_word: list[tuple[frozenset[str], str]] = []
    for rule in lexicon()["string_hints"]:
        keys = frozenset(rule["keys"])
        for key in rule["keys"]:
            whole.setdefault(key, rule["kind"])
        by_word.append((keys, rule["kind"]))
    return whole, by_word


def _snake_words(name: str) -> tuple[str, list[str]]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").replace(" ", "_").lower()
    return snake, [word for word in snake.split("_") if word]


def _string_hint(name: str) -> str | None:
    snake, words = _snake_words(name)
    whole, by_word = _string_rules()
    if snake in whole:
        return whole[snake]
    for keys, kind in by_word:
        if any(word in keys for word in words):
            return kind
    return None


def _number_hint(name: str) -> dict[str, Any] | None:
    snake, words = _snake_words(name)
    rules = lexicon()["number_hints"]
    for rule in rules:
        if snake in rule["keys"]:
            return rule
    for rule in rules:
        if any(word in rule["keys"] for word in words):
            return rule
    return None


def _singular(name: str) -> str:
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss") and len(name) > 3:
        return name[:-1]
    return name


def _length_ok(value: str, min_length: int, max_length: int | None) -> bool:
    return len(value) >= min_length and (max_length is None or len(value) <= max_length)


def _fit_length(value: str, min_length: int, max_length: int | None, rng: random.Random) -> str:
    words = lexicon()["words"]
    if len(value) < min_length:
        parts = [value] if value else []
        total = len(value)
        while total < min_length:
            word = words[rng.randrange(len(words))]
            total += len(word) + (1 if parts else 0)
            parts.append(word)
        value = " ".join(parts)
    if max_length is not None and len(value) > max_length:
        cut = value[:max_length]
        value = cut.rstrip() if len(cut.rstrip()) >= min_length else cut
    return value


def _pick(rng: random.Random, key: str) -> Any:
    pool = lexicon()[key]
    return pool[rng.randrange(len(pool))]


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2020, 2025):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"


def _full_name(rng: random.Random) -> str:
    return f"{_pick(rng, 'first_names')} {_pick(rng, 'last_names')}"


def _email(rng: random.Random) -> str:
    return f"{_pick(rng, 'first_names').lower()}.{_pick(rng, 'last_names').lower()}@{_pick(rng, 'email_domains')}"


def _url(rng: random.Random) -> str:
    return f"https://{_pick(rng, 'web_domains')}/{_pick(rng, 'url_paths')}/{rng.randint(1, 9999)}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _sentence(rng: random.Random) -> str:
    templates = lexicon()["sentences"]
    return fill_template(rng, templates[rng.randrange(len(templates))], [])


def _title(rng: random.Random) -> str:
    adjective = _pick(rng, "adjectives")
    noun = _pick(rng, "nouns")[1]
    return f"{adjective.capitalize()} {noun.capitalize()} for {_pick(rng, 'topics').title()}"


def _identifier(rng: random.Random) -> str:
    prefix = rng.choice(("id", "usr", "ord", "item", "doc"))
    return f"{prefix}_{rng.getrandbits(48):012x}"


_HINTED: dict[str, Any] = {
    "email": _email,
    "first_name": lambda rng: _pick(rng, "first_names"),
    "last_name": lambda rng: _pick(rng, "last_names"),
    "full_name": _full_name,
    "username": lambda rng: f"{_pick(rng, 'first_names').lower()}{rng.randint(1, 99)}",
    "company": lambda rng: _pick(rng, "companies"),
    "product": lambda rng: _pick(rng, "products"),
    "city": lambda rng: _pick(rng, "cities")[0],
    "region": lambda rng: _pick(rng, "cities")[1],
    "country": lambda rng: _pick(rng, "cities")[2],
    "country_code": lambda rng: _pick(rng, "cities")[3],
    "location": lambda rng: (lambda c: f"{c[0]}, {c[2]}")(_pick(rng, "cities")),
    "address": lambda rng: f"{rng.randint(1, 250)} {_pick(rng, 'streets')}",
    "postal_code": lambda rng: f"{rng.randint(10000, 99999)}",
    "phone": lambda rng: f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
    "url": _url,
    "date_time": lambda rng: f"{_date(rng)}T{_time(rng)}",
    "date": _date,
    "time": _time,
    "timezone": lambda rng: _pick(rng, "timezones"),
    "weekday": lambda rng: _pick(rng, "weekdays"),
    "month": lambda rng: _pick(rng, "months"),
    "uuid": _uuid,
    "identifier": _identifier,
    "title": _title,
    "sentence": _sentence,
    "word": lambda rng: _pick(rng, "words"),
    "color": lambda rng: _pick(rng, "colors"),
    "currency": lambda rng: _pick(rng, "currencies"),
    "language": lambda rng: _pick(rng, "languages"),
    "status": lambda rng: _pick(rng, "statuses"),
    "unit": lambda rng: _pick(rng, "units"),
    "category": lambda rng: _pick(rng, "categories"),
    "job_title": lambda rng: _pick(rng, "job_titles"),
    "code": lambda rng: f"{rng.getrandbits(32):08x}",
}

_FORMATS: dict[str, Any] = {
    "date-time": lambda rng: f"{_date(rng)}T{_time(rng)}",
    "date": _date,
    "time": _time,
    "email": _email,
    "idn-email": _email,
    "uuid": _uuid,
    "uri": _url,
    "iri": _url,
    "uri-reference": _url,
    "iri-reference": _url,
    "uri-template": lambda rng: f"https://{_pick(rng, 'web_domains')}/{_pick(rng, 'url_paths')}/{{id}}",
    "hostname": lambda rng: _pick(rng, "web_domains"),
    "idn-hostname": lambda rng: _pick(rng, "web_domains"),
    "ipv4": lambda rng: f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    "ipv6": lambda rng: "2001:db8:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(6)),
    "duration": lambda rng: rng.choice(("P{}D", "PT{}H", "PT{}M")).format(rng.randint(1, 30)),
    "json-pointer": lambda rng: f"/{_pick(rng, 'url_paths')}/{rng.randint(0, 9)}",
    "relative-json-pointer": lambda rng: f"{rng.randint(0, 3)}/{_pick(rng, 'url_paths')}",
    "regex": lambda rng: "^[a-z]+$",
}


# ----------------------------------------------------------------------------------------------- patterns


@lru_cache(maxsize=256)
def _compile_cached(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _compile(pattern: str, path: str) -> re.Pattern[str]:
    try:
        return _compile_cached(pattern)
    except re.error as error:
        raise SchemaGenerationError(f"{path}: pattern {pattern!r} is not a valid regular expression: {error}")


@lru_cache(maxsize=256)
def _parse(pattern: str) -> Any:
    return _sre_parse.parse(pattern)


def _pattern_string(pattern: str, min_length: int, max_length: int | None, rng: random.Random, path: str) -> str:
    """A string that ``re.search(pattern, ...)`` accepts, within the length bounds.

    Candidates are sampled from the parsed regex, with unbounded repeats stretched more and more towards
    ``min_length``; lookarounds and word boundaries are not modelled, the check weeds those out.
    """
    compiled = _compile(pattern, path)
    tree = _parse(pattern)
    padding = string.ascii_lowercase
    for attempt in range(_PATTERN_ATTEMPTS):
        # Natural lengths first; then the fewest repetitions (for maxLength) and longer ones (for minLength).
        stretch = 0 if attempt < 10 else rng.randint(0, max(8, min_length))
        sampler = _RegexSampler(rng, stretch, minimal=attempt % 5 == 4)
        try:
            candidate = sampler.render(tree)
        except _Unsupported:
            break
        options = [candidate]
        if len(candidate) < min_length:  # an unanchored pattern also matches inside a longer string
            fill = "".join(rng.choice(padding) for _ in range(min_length - len(candidate)))
            options += [candidate + fill, fill + candidate, f"{candidate} {fill[1:]}", f"{fill[1:]} {candidate}"]
        for option in options:
            if _length_ok(option, min_length, max_length) and compiled.search(option):
                return option
    raise SchemaGenerationError(
        f"{path}: could not produce a string matching {pattern!r} with length in [{min_length}, {max_length}]")


class _Unsupported(Exception):
    pass


_CATEGORY_CHARS = {
    _sre.CATEGORY_DIGIT: string.digits,
    _sre.CATEGORY_NOT_DIGIT: string.ascii_letters + " _-",
    _sre.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    _sre.CATEGORY_NOT_WORD: " -.,:;!?",
    _sre.CATEGORY_SPACE: " ",
    _sre.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
_PRINTABLE = string.ascii_letters + string.digits + " -_.,:;!?@#/+"


class _RegexSampler:
    """Renders a parsed (sre) regex as one matching string.

    ``stretch`` adds repetitions to every quantifier; ``minimal`` uses each quantifier's minimum.
    """

    def __init__(self, rng: random.Random, stretch: int, minimal: bool = False) -> None:
        self.rng = rng
        self.stretch = stretch
        self.minimal = minimal
        self.groups: dict[int, str] = {}

    def render(self, tree: Any) -> str:
        return "".join(self._node(op, arg) for op, arg in tree)

    def _node(self, op: Any, arg: Any) -> str:
        rng = self.rng
        if op is _sre.LITERAL:
            return chr(arg)
        if op is _sre.NOT_LITERAL:
            return rng.choice([c for c in _PRINTABLE if ord(c) != arg])
        if op is _sre.ANY:
            return rng.choice(string.ascii_letters + string.digits)
        if op is _sre.IN:
            return self._in(arg)
        if op is _sre.BRANCH:
            alternatives = arg[1]
            return self.render(alternatives[rng.randrange(len(alternatives))])
        if op is _sre.SUBPATTERN:
            group, _add_flags, _del_flags, body = arg
            text = self.render(body)
            if group is not None:
                self.groups[group] = text
            return text
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
            low, high, body = arg
            if self.minimal:
                count = low
            else:
                # Word-like runs for a repeated character ([a-z]+), a few repetitions of a larger group.
                single = len(body) == 1 and body[0][0] in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.IN, _sre.ANY)
                top = low + (6 if single else 2) + self.stretch
                count = rng.randint(low, top if high == _sre.MAXREPEAT else min(high, top + 8))
            return "".join(self.render(body) for _ in range(count))
        if op is getattr(_sre, "ATOMIC_GROUP", None):
            return self.render(arg)
        if op is _sre.GROUPREF:
            return self.groups.get(arg, "")
        if op is _sre.GROUPREF_EXISTS:
            group, yes, no = arg
            return self.render(yes) if group in self.groups else (self.render(no) if no else "")
        if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            return ""  # anchors are satisfied by rendering the whole string; lookarounds are checked afterwards
        if op is _sre.CATEGORY:
            return rng.choice(_CATEGORY_CHARS.get(arg, string.ascii_letters))
        raise _Unsupported(str(op))

    def _in(self, items: list[Any]) -> str:
        if items and items[0][0] is _sre.NEGATE:
            allowed = [c for c in _PRINTABLE if not _in_set(c, items[1:])]
            if not allowed:
                raise _Unsupported("negated class excludes every printable character")
            return self.rng.choice(allowed)
        # Pick a class member in proportion to its size, so [a-z0-9._-] reads mostly as letters.
        weights = [_class_item_size(op, arg) for op, arg in items]
        op, arg = self.rng.choices(items, weights=weights)[0]
        if op is _sre.LITERAL:
            return chr(arg)
        if op is _sre.RANGE:
            return chr(self.rng.randint(arg[0], arg[1]))
        if op is _sre.CATEGORY:
            return self.rng.choice(_CATEGORY_CHARS.get(arg, string.ascii_letters))
        raise _Unsupported(str(op))


def _class_item_size(op: Any, arg: Any) -> int:
    if op is _sre.RANGE:
        return arg[1] - arg[0] + 1
    if op is _sre.CATEGORY:
        return len(_CATEGORY_CHARS.get(arg, string.ascii_letters))
    return 1


def _in_set(char: str, items: list[Any]) -> bool:
    code = ord(char)
    for op, arg in items:
        if op is _sre.LITERAL and code == arg:
            return True
        if op is _sre.RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is _sre.CATEGORY and char in _CATEGORY_CHARS.get(arg, ""):
            return True
    return False


# ---------------------------------------------------------------------------------------------- validator


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1; containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


_TYPE_CHECKS = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: _is_int(v) or (isinstance(v, float) and v.is_integer()),
    "number": _is_number,
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


class _Validator:
    """The Draft 2020-12 assertions this module generates for (format is an annotation, as in jsonschema)."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def is_valid(self, value: Any, schema: Any) -> bool:
        return self.first_error(value, schema, "$", 0) is None

    def first_error(self, value: Any, schema: Any, path: str, depth: int = 0) -> str | None:  # noqa: C901
        if schema is True:
            return None
        if schema is False:
            return f"{path}: no value is allowed here"
        if depth > _HARD_DEPTH * 2:
            return f"{path}: value nests too deeply"
        check = self.first_error
        next_depth = depth + 1
        for ref_key in ("$ref", "$dynamicRef"):
            if ref_key in schema:
                try:
                    target = _resolve(self.root, schema[ref_key], path)
                except SchemaGenerationError as error:
                    return str(error)
                if (error := check(value, target, path, next_depth)) is not None:
                    return error
        declared = schema.get("type")
        if declared is not None:
            kinds = [declared] if isinstance(declared, str) else declared
            if not any(_TYPE_CHECKS.get(kind, lambda v: False)(value) for kind in kinds):
                return f"{path}: {value!r} is not of type {declared}"
        if "const" in schema and not _json_equal(value, schema["const"]):
            return f"{path}: {value!r} is not the constant {schema['const']!r}"
        if "enum" in schema and not any(_json_equal(value, v) for v in schema["enum"]):
            return f"{path}: {value!r} is not one of the enum values"
        if _is_number(value):
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
                    if not _compile_cached(schema["pattern"]).search(value):
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
    def _number_error(value: int | float, schema: dict[str, Any], path: str) -> str | None:
        if _is_number(schema.get("minimum")) and value < schema["minimum"]:
            return f"{path}: {value} is less than the minimum {schema['minimum']}"
        if _is_number(schema.get("maximum")) and value > schema["maximum"]:
            return f"{path}: {value} is greater than the maximum {schema['maximum']}"
        if _is_number(schema.get("exclusiveMinimum")) and value <= schema["exclusiveMinimum"]:
            return f"{path}: {value} is not above the exclusive minimum {schema['exclusiveMinimum']}"
        if _is_number(schema.get("exclusiveMaximum")) and value >= schema["exclusiveMaximum"]:
            return f"{path}: {value} is not below the exclusive maximum {schema['exclusiveMaximum']}"
        divisor = schema.get("multipleOf")
        if _is_number(divisor) and divisor > 0 and not _is_multiple(value, divisor):
            return f"{path}: {value} is not a multiple of {divisor}"
        return None

    def _array_error(self, value: list[Any], schema: dict[str, Any], path: str, depth: int) -> str | None:
        if len(value) < schema.get("minItems", 0):
            return f"{path}: fewer than minItems {schema['minItems']}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path}: more than maxItems {schema['maxItems']}"
        if schema.get("uniqueItems") is True:
            for i, item in enumerate(value):
                if any(_json_equal(item, other) for other in value[:i]):
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
            child = _child_path(path, key)
            if names is not None and (error := self.first_error(key, names, child, depth)) is not None:
                return error
            matched = False
            if key in properties:
                matched = True
                if (error := self.first_error(item, properties[key], child, depth)) is not None:
                    return error
            for pattern, sub in patterns.items():
                if _compile_cached(pattern).search(key):
                    matched = True
                    if (error := self.first_error(item, sub, child, depth)) is not None:
                        return error
            if not matched and "additionalProperties" in schema:
                if (error := self.first_error(item, schema["additionalProperties"], child, depth)) is not None:
                    return f"{child}: not allowed here ({error})" if schema["additionalProperties"] is False \
                        else error
        return None
