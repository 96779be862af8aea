"""Hypothesis strategies for JSON schemas: the scalar, compound, recursive and strict-mode shapes that the schema
generator's tests and the chat property tests draw from."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

PROPERTY_NAMES = ["name", "email", "city", "location", "age", "price", "created_at", "id", "url", "description",
                  "title", "status", "count", "score", "tags", "items", "notes", "x", "value", "flag", "kind",
                  "latitude", "user_id", "unit", "date"]
SIMPLE_PATTERNS = [r"^[A-Z]{3}-\d{4}$", r"^[a-z]+$", r"^\d{5}(-\d{4})?$", r"^(red|green|blue)$",
                   r"^[A-Za-z0-9_]{3,16}$", r"^#[0-9a-fA-F]{6}$", r"^\+?[0-9]{7,12}$", r"[aeiou]", r"^v\d+\.\d+$",
                   r"^(?:[a-z]+-)*[a-z]+$"]
FORMATS = ["date-time", "date", "time", "email", "uuid", "uri", "ipv4", "hostname"]


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    choice = draw(st.sampled_from(["plain", "length", "pattern", "format"]))
    if choice == "length":
        low = draw(st.integers(0, 30))
        schema["minLength"] = low
        if draw(st.booleans()):
            schema["maxLength"] = low + draw(st.integers(0, 30))
    elif choice == "pattern":
        schema["pattern"] = draw(st.sampled_from(SIMPLE_PATTERNS))
    elif choice == "format":
        schema["format"] = draw(st.sampled_from(FORMATS))
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    integer = draw(st.booleans())
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    bound = st.integers(-1000, 1000) if integer else st.one_of(
        st.integers(-1000, 1000), st.floats(-1000, 1000, allow_nan=False).map(lambda f: round(f, 3)))
    low = draw(st.one_of(st.none(), bound))
    high = draw(st.one_of(st.none(), bound))
    if low is not None and high is not None and low > high:
        low, high = high, low
    if low is not None and high is not None and high - low < 8:
        high = low + 8  # leave room for exclusive bounds and a multiple of 3
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if high is not None:
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = high
    if draw(st.booleans()):
        divisors = [1, 2, 3] if integer else [0.5, 0.25, 0.1, 0.01, 1]
        schema["multipleOf"] = draw(st.sampled_from(divisors))
    return schema


def scalar_schemas() -> st.SearchStrategy[dict[str, Any]]:
    enum_values = st.one_of(st.text(max_size=8), st.integers(-50, 50), st.none(), st.booleans())
    return st.one_of(
        string_schemas(),
        number_schemas(),
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
        st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=5, unique=True).map(
            lambda values: {"type": "string", "enum": values}),
        st.lists(enum_values, min_size=1, max_size=4).map(lambda values: {"enum": values}),
        enum_values.map(lambda value: {"const": value}),
    )


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's way of making a strict property optional: a type list with "null"."""
    if isinstance(schema.get("type"), str) and "enum" not in schema and schema["type"] != "null":
        return {**schema, "type": [schema["type"], "null"]}
    return schema


def compound(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    def strict_object(props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    @st.composite
    def arrays(draw: st.DrawFn) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": draw(children)}
        if draw(st.booleans()):
            schema["minItems"] = draw(st.integers(0, 3))
        if draw(st.booleans()):
            schema["maxItems"] = schema.get("minItems", 0) + draw(st.integers(0, 3))
        return schema

    return st.one_of(
        st.dictionaries(st.sampled_from(PROPERTY_NAMES), children, max_size=5).map(strict_object),
        arrays(),
        st.lists(children, min_size=2, max_size=3).map(lambda branches: {"anyOf": branches}),
        children.map(nullable),
    )


RECURSIVE_DEFS = {
    "Node": {
        "type": "object",
        "properties": {"label": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
        "required": ["label", "children"],
        "additionalProperties": False,
    },
    "Chain": {
        "anyOf": [
            {"type": "null"},
            {"type": "object", "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/$defs/Chain"}},
             "required": ["value", "next"], "additionalProperties": False},
        ]
    },
}


DEF_NAMES = ["Money", "Address", "Tag", "Point"]
REFS = st.sampled_from(DEF_NAMES + sorted(RECURSIVE_DEFS)).map(lambda name: {"$ref": f"#/$defs/{name}"})
SCALARS = scalar_schemas()
PLAIN_SCHEMAS = st.recursive(SCALARS, compound, max_leaves=10)
SMALL_SCHEMAS = st.recursive(SCALARS, compound, max_leaves=4)
SCHEMAS_WITH_REFS = st.recursive(st.one_of(SCALARS, REFS), compound, max_leaves=10)


@st.composite
def strict_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A response_format json_schema as OpenAI strict mode accepts it: an object root, all properties required,
    additionalProperties false, and $defs (two of them recursive) that properties reference at any depth."""
    defs = {name: draw(SMALL_SCHEMAS) for name in DEF_NAMES}
    props = draw(st.dictionaries(st.sampled_from(PROPERTY_NAMES), SCHEMAS_WITH_REFS, min_size=1, max_size=6))
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False,
            "$defs": {**defs, **RECURSIVE_DEFS}}
