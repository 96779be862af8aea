"""Values that satisfy a JSON schema: structured outputs (``response_format: json_schema``) and tool arguments.

``instance_for_schema`` walks the schema and builds a value directly (no rejection sampling in the common
case), choosing realistic strings and numbers from the property names (``email``, ``city``, ``age`` ...;
see value_hints). Keywords it cannot build directly (``not``, a second ``pattern`` from an ``allOf``,
``oneOf`` exclusivity, ``uniqueItems`` ...) are met by checking candidates with the small Draft 2020-12
validator in schema_check and retrying a bounded number of times. The whole value is checked once more at
the end, so the result is valid or a ``SchemaGenerationError`` says where it could not be.

Semantics follow JSON Schema Draft 2020-12 as the ``jsonschema`` package validates it: ``format`` is produced
faithfully but not required for validity, ``nullable`` (OpenAPI 3.0) is ignored because 2020-12 does not let it
admit null, and ``pattern`` uses Python ``re.search`` (an unanchored search), as jsonschema does.

This module is the walk itself (references, combinators, objects, arrays, recursion); strings, numbers,
allOf merging and validation live in the schema_* modules it imports.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .check import Validator, compile_pattern, json_equal
from .errors import SchemaGenerationError, child_path, short_path
from .merge import has_constraints, merge
from .numbers import number_value
from .prompt_values import PromptValues
from .refs import resolve
from .regex_sample import pattern_string
from .strings import string_value
from .value_hints import number_hint, pick, singular, string_hint

__all__ = ["SchemaGenerationError", "arguments_for_tool", "instance_for_schema"]

# Once one $ref has been expanded this many times on the current branch (recursion), or nesting is this deep,
# generation prefers the smallest branch: null over objects, no optional properties, minItems items. That is
# what makes recursive schemas terminate; non-recursive $refs (a Pydantic model per nested object) do not count.
_SOFT_REF_DEPTH = 3
_SOFT_NEST_DEPTH = 8
_HARD_DEPTH = 64
_NODE_BUDGET = 20_000
_RETRIES = 12
_MAX_TRAIL = 256  # $ref expansions on one branch: more means a $ref cycle with no structure in between

_Trail = tuple[str, ...]  # the $refs expanded on the current branch, outermost first

_OBJECT_KEYS = ("properties", "required", "additionalProperties", "patternProperties", "minProperties",
                "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas")
_ARRAY_KEYS = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")
_STRING_KEYS = ("minLength", "maxLength", "pattern", "format")
_NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def instance_for_schema(schema: dict[str, Any] | bool, rng: random.Random, prompt: PromptValues | None = None, *,
                        fill_optional: bool = False) -> Any:
    """A JSON value (dict/list/str/int/float/bool/None) valid against ``schema``; deterministic given ``rng``.
    Strings the ``prompt`` names (a city, an e-mail address, ...) are preferred where a property fits them;
    ``fill_optional`` fills every property of a root object that requires none."""
    last_error = "no attempt made"
    for _ in range(3):
        generator = _Generator(schema, rng, prompt, fill_optional)
        value = generator.generate(schema, "$", 0, (), None)
        error = generator.validator.first_error(value, schema, "$")
        if error is None:
            return value
        last_error = error
    raise SchemaGenerationError(f"could not generate a valid value: {last_error}")


def arguments_for_tool(parameters: dict[str, Any] | None, rng: random.Random,
                       prompt: PromptValues | None = None) -> dict[str, Any]:
    """Arguments for a function tool call: ``{}`` without parameters, else an object valid against them. A model
    that calls a tool fills its properties even when none is required (instructor's iterable extraction relies on
    it), and takes their values from the prompt where they fit."""
    if not parameters:
        return {}
    value = instance_for_schema(parameters, rng, prompt, fill_optional=True)
    if not isinstance(value, dict):
        raise SchemaGenerationError("$: function parameters must describe an object")
    return value


class _Generator:
    """One generation attempt: the document (where $refs resolve), the RNG, and a budget of schema nodes."""

    def __init__(self, root: dict[str, Any] | bool, rng: random.Random, prompt: PromptValues | None = None,
                 fill_optional: bool = False) -> None:
        self.root = root
        self.rng = rng
        self.prompt = prompt
        self.fill_optional = fill_optional
        self.nodes = 0
        self.validator = Validator(root)

    # The walk: `depth` counts nesting, `refs` lists the $refs expanded on this branch, `name` is the property
    # name (or its singular, for array items) used to pick realistic values.
    def generate(self, schema: Any, path: str, depth: int, refs: _Trail, name: str | None) -> Any:
        self.nodes += 1
        if self.nodes > _NODE_BUDGET:
            raise SchemaGenerationError(f"{short_path(path)}: the schema needs too large a value")
        if depth > _HARD_DEPTH:
            raise SchemaGenerationError(f"{short_path(path)}: recursion never reaches a terminating branch")
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
            merged = merge(rest, first, path)
            if others:
                merged["__pending__"] = others + merged.get("__pending__", [])
            return self.generate(merged, path, depth, refs, name)

        needs_check = any(key in schema for key in ("not", "__check__", "if", "uniqueItems", "contains",
                                                     "dependentSchemas", "propertyNames"))
        if not needs_check:
            return self._generate_plain(schema, path, depth, refs, name, deep)
        for _ in range(_RETRIES):
            value = self._generate_plain(schema, path, depth, refs, name, deep)
            error = self.validator.first_error(value, schema, path)
            if error is None:
                return value
        raise SchemaGenerationError(f"could not satisfy the schema: {error}")

    def _flatten(self, schema: dict[str, Any], path: str, refs: _Trail) -> tuple[dict[str, Any], _Trail]:
        """Resolve $ref and fold allOf into one schema, so the rest of the walk sees plain keywords."""
        for _ in range(_HARD_DEPTH):
            if "$ref" in schema or "$dynamicRef" in schema:
                ref = schema.get("$ref", schema.get("$dynamicRef"))
                target = resolve(self.root, ref, path)
                siblings = {k: v for k, v in schema.items() if k not in ("$ref", "$dynamicRef")}
                refs = (*refs, str(ref))
                if len(refs) > _MAX_TRAIL:
                    raise SchemaGenerationError(f"{short_path(path)}: $ref {ref!r} loops without reaching a value")
                if target is False:
                    raise SchemaGenerationError(f"{path}: $ref {ref!r} points to `false`")
                target = {} if target is True else target
                schema = merge(target, siblings, path) if has_constraints(siblings) else target
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
                    merged = merge(merged, member, path)
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
            candidate = rest if branch is True else merge(rest, branch, path)
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
            if "enum" in schema and not any(json_equal(value, v) for v in schema["enum"]):
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
            return string_value(schema, path, name, self.rng, self.prompt)
        if kind in ("integer", "number"):
            return number_value(schema, kind == "integer", name, path, self.rng, self.prompt)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        if kind == "any":
            return self._any_value(name)
        raise SchemaGenerationError(f"{path}: unknown type {kind!r}")

    def _any_value(self, name: str | None) -> Any:
        if name and number_hint(name) is not None:
            return number_value({}, False, name, "$", self.rng, self.prompt)
        return string_value({}, "$", name, self.rng, self.prompt)

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
        if self.fill_optional and depth == 0 and not required:
            chosen = list(properties)
        elif not deep:
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
        # The `name` of an object titled City is a city, not a person's name.
        titled = schema.get("title") if isinstance(schema.get("title"), str) and string_hint(schema["title"]) else None
        for key in ordered:
            sub = self._property_schema(key, properties, patterns, additional, path)
            named = titled if key == "name" and titled else key
            result[key] = self.generate(sub, child_path(path, key), depth + 1, refs, named)
        for _ in range(extra_names):
            key = self._extra_name(schema, result, properties, patterns, path, depth, refs)
            sub = self._property_schema(key, properties, patterns, additional, path)
            result[key] = self.generate(sub, child_path(path, key), depth + 1, refs, key)
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
        parts += [sub for pattern, sub in patterns.items() if compile_pattern(pattern, path).search(key)]
        if not parts:
            if additional is False:
                raise SchemaGenerationError(
                    f"{child_path(path, key)}: required but not allowed (additionalProperties is false)")
            parts.append(additional)
        if len(parts) == 1:
            return parts[0]
        return {"allOf": parts}

    def _extra_name(self, schema: dict[str, Any], taken: dict[str, Any], properties: dict[str, Any],
                    patterns: dict[str, Any], path: str, depth: int, refs: _Trail) -> str:
        """A new property name, allowed by propertyNames and (when extras are forbidden) by a patternProperty."""
        names_schema = schema.get("propertyNames")
        closed = schema.get("additionalProperties", True) is False
        pattern_list = list(patterns)
        for _ in range(_RETRIES * 2):
            if isinstance(names_schema, dict):
                key = self.generate({"allOf": [names_schema, {"type": "string"}]}, path + "{key}", depth + 1,
                                    refs, None)
            elif pattern_list and (closed or self.rng.random() < 0.5):
                pattern = pattern_list[self.rng.randrange(len(pattern_list))]
                # A random minimum length makes unanchored patterns (`^x-`) yield distinct names.
                key = pattern_string(pattern, self.rng.randint(1, 8), None, self.rng, path)
            else:
                key = pick(self.rng, "words")
            if key in taken or key in properties:
                continue
            if closed and not any(compile_pattern(p, path).search(key) for p in pattern_list):
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
        item_name = singular(name) if name else None
        # One item per entity the prompt lists (two people named: two users), each from its part of the prompt.
        item_prompts = [] if deep or prefix else self._item_prompts(items, path, refs, item_name)
        if deep:
            count = min_items
        else:
            natural = len(item_prompts) or self.rng.randint(1, 3)
            count = max(min_items, natural if max_items is None else min(natural, max_items))
        values: list[Any] = []
        unique = schema.get("uniqueItems") is True
        whole_prompt = self.prompt
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else items
            if index < min_contains:
                sub = contains if sub is True else {"allOf": [sub, contains]}
            item_path = f"{path}[{index}]"
            self.prompt = item_prompts[index] if index < len(item_prompts) else whole_prompt
            try:
                for _ in range(_RETRIES if unique else 1):
                    value = self.generate(sub, item_path, depth + 1, refs, item_name)
                    if not unique or not any(json_equal(value, seen) for seen in values):
                        break
                else:
                    raise SchemaGenerationError(f"{item_path}: cannot find enough distinct items (uniqueItems)")
            finally:
                self.prompt = whole_prompt
            values.append(value)
        return values

    def _item_prompts(self, items: Any, path: str, refs: _Trail, item_name: str | None) -> list[PromptValues]:
        """The prompt's view for each item, when it lists several entities of the kind the items hold."""
        if self.prompt is None or not isinstance(items, dict):
            return []
        try:
            flat, _ = self._flatten(items, path, refs)
        except SchemaGenerationError:
            return []  # the walk reports it where the item is generated, if one is
        names = list(flat.get("properties") or {}) if isinstance(flat.get("properties"), dict) else [item_name]
        kinds = [kind for kind in (string_hint(n) for n in names if n) if kind]
        return self.prompt.per_item(kinds) if kinds else []


def _is_null_schema(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    return schema.get("type") == "null" or ("const" in schema and schema["const"] is None)


def _min_cost(root: Any, schema: Any, memo: dict[int, float]) -> float:
    """A rough size of the smallest value of ``schema``; infinite when it can only recurse.

    Only used to rank branches deep inside recursive schemas, so a cycle simply counts as infinite.
    """
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
            cost += _min_cost(root, resolve(root, schema["$ref"], "$"), memo)
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
