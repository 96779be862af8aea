"""Structured-output and tool-argument values: valid against their schema as jsonschema (Draft 2020-12) sees it."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from datetime import date, datetime
from typing import Any, Literal

import openai
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field
from schema_strategies import FORMATS, PLAIN_SCHEMAS, strict_schemas
from sentra_openai.engine.schema.generate import SchemaGenerationError, arguments_for_tool, instance_for_schema


def assert_valid(schema: Any, value: Any) -> None:
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
    assert not errors, (errors, value)
    # The engine serialises with orjson: the value must be plain JSON and survive the round trip.
    assert orjson.loads(orjson.dumps(value)) == value


def generate(schema: Any, seed: int = 0) -> Any:
    return instance_for_schema(schema, random.Random(seed))


# ------------------------------------------------------------------------------ strict-mode schemas (hypothesis)

@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=strict_schemas(), seed=st.integers(0, 2**32 - 1))
def test_generated_values_are_valid_for_strict_mode_schemas(schema: dict[str, Any], seed: int) -> None:
    assert_valid(schema, generate(schema, seed))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=PLAIN_SCHEMAS, seed=st.integers(0, 2**32 - 1))
def test_generated_values_are_valid_for_any_root(schema: dict[str, Any], seed: int) -> None:
    assert_valid(schema, generate(schema, seed))


@settings(max_examples=200, deadline=None)
@given(schema=strict_schemas(), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_value(schema: dict[str, Any], seed: int) -> None:
    assert orjson.dumps(generate(schema, seed)) == orjson.dumps(generate(schema, seed))


# --------------------------------------------------------------------------------------------- tricky cases

TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {"value": {"type": "integer"},
                           "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "required": ["value", "children"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}


def tree_depth(node: dict[str, Any]) -> int:
    return 1 + max((tree_depth(child) for child in node["children"]), default=0)


def test_recursive_tree_terminates_and_is_valid() -> None:
    depths = []
    for seed in range(50):
        value = generate(TREE, seed)
        assert_valid(TREE, value)
        depths.append(tree_depth(value))
    assert max(depths) > 1, "children should sometimes be filled in, not always empty"
    assert max(depths) < 10


def test_recursion_through_definitions_and_root_ref() -> None:
    schema = {
        "definitions": {"person": {"type": "object", "properties": {
            "name": {"type": "string"}, "manager": {"anyOf": [{"$ref": "#/definitions/person"}, {"type": "null"}]}},
            "required": ["name", "manager"], "additionalProperties": False}},
        "type": "object",
        "properties": {"boss": {"$ref": "#/definitions/person"}, "self": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["boss", "self"],
        "additionalProperties": False,
    }
    for seed in range(40):
        assert_valid(schema, generate(schema, seed))


def test_anyof_object_or_null_produces_both_kinds() -> None:
    schema = {"type": "object", "properties": {"result": {"anyOf": [
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
         "additionalProperties": False},
        {"type": "null"}]}}, "required": ["result"], "additionalProperties": False}
    values = [generate(schema, seed)["result"] for seed in range(60)]
    for seed in range(60):
        assert_valid(schema, generate(schema, seed))
    assert any(v is None for v in values) and any(isinstance(v, dict) for v in values)


@pytest.mark.parametrize("schema", [
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1e-9},
    {"type": "integer", "exclusiveMinimum": 4, "exclusiveMaximum": 6},
    {"type": "integer", "exclusiveMinimum": 4.5, "maximum": 5},
    {"type": "number", "minimum": 5, "exclusiveMinimum": 5, "maximum": 5.5},
    {"type": "integer", "minimum": 10**12},
    {"type": "number", "maximum": -10**6},
])
def test_exclusive_and_extreme_bounds(schema: dict[str, Any]) -> None:
    for seed in range(30):
        assert_valid(schema, generate(schema, seed))


@pytest.mark.parametrize("divisor", [0.1, 0.01, 0.05, 0.3, 0.25, 1.5, 7])
def test_float_multiple_of(divisor: float) -> None:
    schema = {"type": "number", "multipleOf": divisor, "minimum": -3, "maximum": 40}
    for seed in range(40):
        assert_valid(schema, generate(schema, seed))


def test_integer_multiple_of_within_narrow_bounds() -> None:
    schema = {"type": "integer", "multipleOf": 7, "minimum": 100, "maximum": 110}
    assert {generate(schema, seed) for seed in range(20)} == {105}


def test_pattern_with_anchors_class_and_quantifiers() -> None:
    schema = {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"}
    values = {generate(schema, seed) for seed in range(30)}
    assert all(re.fullmatch(r"[A-Z]{3}-\d{4}", v) for v in values)
    assert len(values) > 20


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": r"^(foo|bar)+$", "minLength": 10, "maxLength": 12},
    {"type": "string", "pattern": r"^[a-z]{2,4}(\.[a-z]{2,4}){1,3}$"},
    {"type": "string", "pattern": r"^(?!admin)[a-z]{5}$"},
    {"type": "string", "pattern": r"^(\w)\w\1$"},
    {"type": "string", "pattern": r"^[^aeiou\s]{4}$"},
    {"type": "string", "pattern": r"\bcat\b", "minLength": 20},
    {"type": "string", "pattern": r"^a", "maxLength": 1},
    {"type": "string", "pattern": "^[\u4e00-\u9fff]{2}$"},
])
def test_patterns_beyond_the_simple_subset(schema: dict[str, Any]) -> None:
    for seed in range(20):
        assert_valid(schema, generate(schema, seed))


def test_formats_are_well_formed() -> None:
    for fmt in FORMATS + ["ipv6", "duration", "uri-reference", "json-pointer"]:
        schema = {"type": "string", "format": fmt}
        for seed in range(10):
            assert_valid(schema, generate(schema, seed))


def test_property_names_give_meaningful_values() -> None:
    schema = {"type": "object", "properties": {
        "email": {"type": "string"}, "created_at": {"type": "string"}, "age": {"type": "integer"},
        "website": {"type": "string"}, "city": {"type": "string"}, "description": {"type": "string"},
        "latitude": {"type": "number"}, "customer_name": {"type": "string"}},
        "required": ["email", "created_at", "age", "website", "city", "description", "latitude", "customer_name"],
        "additionalProperties": False}
    for seed in range(20):
        value = generate(schema, seed)
        assert re.fullmatch(r"[a-z.]+@[a-z.]+\.[a-z]{2,}", value["email"])
        datetime.fromisoformat(value["created_at"].replace("Z", "+00:00"))
        assert 0 < value["age"] < 120
        assert value["website"].startswith("https://")
        assert value["city"][:1].isupper() and value["city"].replace(" ", "").isalpha()
        assert value["description"].endswith(".") and len(value["description"].split()) >= 4
        assert -90 <= value["latitude"] <= 90
        assert len(value["customer_name"].split()) == 2


def test_oneof_value_matches_exactly_one_branch() -> None:
    schema = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    for seed in range(30):
        value = generate(schema, seed)
        assert_valid(schema, value)
        assert isinstance(value, float) and not value.is_integer()


def test_allof_merges_constraints() -> None:
    schema = {"allOf": [
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5}}, "required": ["a"]},
        {"properties": {"a": {"maximum": 6}, "b": {"type": "string", "pattern": "^x+$"}}, "required": ["b"]},
        {"$ref": "#/$defs/extra"},
    ], "$defs": {"extra": {"properties": {"c": {"const": 3}}, "required": ["c"]}}}
    for seed in range(20):
        value = generate(schema, seed)
        assert_valid(schema, value)
        assert value["a"] in (5, 6) and value["c"] == 3


@pytest.mark.parametrize("schema", [
    True,
    {},
    {"not": {"type": "string"}},
    {"type": "array", "items": {"enum": [1, 2, 3, 4]}, "uniqueItems": True, "minItems": 4},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False, "minItems": 2},
    {"type": "array", "contains": {"const": "needle"}, "items": {"type": "string"}},
    {"type": "object", "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False,
     "minProperties": 2},
    {"type": "object", "additionalProperties": {"type": "boolean"}, "minProperties": 1, "maxProperties": 2},
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
     "dependentRequired": {"a": ["b"]}},
    {"type": ["string", "null"], "minLength": 3},
    {"enum": ["a", 1, None], "type": "integer"},
    {"type": "string", "minLength": 500},
    {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer"}], "minLength": 1},
])
def test_less_common_keywords(schema: Any) -> None:
    for seed in range(15):
        assert_valid(schema, generate(schema, seed))


def test_strict_mode_includes_every_property() -> None:
    props = {name: {"type": "string"} for name in ("a", "b", "c", "d", "e")}
    schema = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    for seed in range(10):
        assert list(generate(schema, seed)) == list(props)  # all of them, in declaration order


def test_optional_properties_vary() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    shapes = {tuple(generate(schema, seed)) for seed in range(40)}
    assert len(shapes) > 2


def test_same_seed_same_value_in_another_process() -> None:
    """Replays with X-Sentra-Seed must not depend on the process (set ordering, string hashing)."""
    script = (
        "import random, sys, orjson\n"
        "from sentra_openai.engine.schema.generate import instance_for_schema\n"
        "schema = orjson.loads(sys.argv[1])\n"
        "print(orjson.dumps([instance_for_schema(schema, random.Random(s)) for s in range(20)]).decode())\n"
    )
    schema = orjson.dumps({**TREE, "$defs": {"node": {**TREE["$defs"]["node"], "properties": {
        **TREE["$defs"]["node"]["properties"], "code": {"type": "string", "pattern": r"^[A-Z]{2}\d{3}$"},
        "weight": {"anyOf": [{"type": "number", "multipleOf": 0.1}, {"type": "null"}]}}}}}).decode()
    outputs = {
        subprocess.run([sys.executable, "-c", script, schema], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(hash_seed)}).stdout
        for hash_seed in (1, 2)
    }
    assert len(outputs) == 1
    assert orjson.loads(outputs.pop()) == [generate(orjson.loads(schema), s) for s in range(20)]


def test_different_seeds_give_different_values() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    assert len({orjson.dumps(generate(schema, seed)) for seed in range(20)}) > 15


class Geo(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class Address(BaseModel):
    street: str
    city: str
    zip_code: str = Field(pattern=r"^\d{5}$")
    geo: Geo | None = None


class Customer(BaseModel):
    name: str
    email: str
    address: Address
    tags: list[str] = []


class LineItem(BaseModel):
    sku: str
    quantity: int = Field(gt=0, le=10)
    price: float = Field(gt=0, multiple_of=0.01)


class Order(BaseModel):
    id: str
    status: Literal["new", "paid", "shipped"]
    customer: Customer
    items: list[LineItem] = Field(min_length=1)
    placed_on: date
    note: str | None = None


def test_pydantic_models_parse_the_generated_values() -> None:
    """What `client.beta.chat.completions.parse(response_format=Order)` and pydantic tools rely on."""
    plain = Order.model_json_schema()
    strict = openai.pydantic_function_tool(Order)["function"]["parameters"]
    orders = []
    for seed in range(30):
        orders.append(Order.model_validate(generate(plain, seed)))
        Order.model_validate(arguments_for_tool(strict, random.Random(seed)))
        assert_valid(strict, arguments_for_tool(strict, random.Random(seed)))
    # Three nested models via $ref is not recursion: the innermost optional model is still filled in sometimes.
    assert any(order.customer.address.geo is not None for order in orders)
    assert any(order.note is not None for order in orders) and any(order.note is None for order in orders)


# --------------------------------------------------------------------------------------------- unsatisfiable


@pytest.mark.parametrize(("schema", "path"), [
    ({"type": "object", "properties": {"age": {"type": "integer", "minimum": 10, "maximum": 5}}, "required": ["age"]},
     "$.age"),
    ({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string", "minLength": 5,
                                                                              "maxLength": 2}, "minItems": 1}},
      "required": ["tags"]}, "$.tags[0]"),
    ({"type": "array", "minItems": 3, "maxItems": 1}, "$"),
    ({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}, "$"),
    ({"type": "integer", "exclusiveMinimum": 1, "exclusiveMaximum": 2}, "$"),
    ({"type": "integer", "multipleOf": 10, "minimum": 1, "maximum": 9}, "$"),
    ({"type": "object", "required": ["missing"], "additionalProperties": False}, "$.missing"),
    ({"enum": ["a", "b"], "type": "integer"}, "$"),
    ({"type": "object", "properties": {"x": False}, "required": ["x"]}, "$.x"),
    ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "$"),
    ({"type": "object", "properties": {"n": {"$ref": "#/$defs/loop"}}, "required": ["n"],
      "$defs": {"loop": {"type": "object", "properties": {"n": {"$ref": "#/$defs/loop"}}, "required": ["n"]}}},
     "$.n.n"),
    ({"type": "array", "items": {"enum": [1, 2]}, "uniqueItems": True, "minItems": 3}, "$"),
    ({"type": "string", "pattern": "^[a-c]{2}$", "minLength": 5}, "$"),
    ({"$ref": "#/$defs/nowhere"}, "$"),
    ({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "$"),
    ({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}, "$"),
    ({"$defs": {"n": {"type": "object", "required": ["kids"], "properties": {
        "kids": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/n"}}}}}, "$ref": "#/$defs/n"}, "$.kids[0]"),
    ({"type": "string", "minLength": 10**9}, "$"),
    ({"type": "array", "minItems": 10**9}, "$["),
    ({"type": "string", "pattern": "(unclosed"}, "$"),
])
def test_unsatisfiable_schemas_raise_with_the_path(schema: Any, path: str) -> None:
    with pytest.raises(SchemaGenerationError) as raised:
        generate(schema)
    assert str(raised.value).startswith(path) or f" {path}" in str(raised.value), str(raised.value)
    assert isinstance(raised.value, ValueError)


# --------------------------------------------------------------------------------------------- tool arguments


def test_tool_arguments() -> None:
    assert arguments_for_tool(None, random.Random(1)) == {}
    assert arguments_for_tool({}, random.Random(1)) == {}
    assert arguments_for_tool({"type": "object", "properties": {}}, random.Random(1)) == {}
    weather = {"type": "object", "properties": {
        "location": {"type": "string", "description": "City and country, e.g. Paris, France"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}
    for seed in range(20):
        arguments = arguments_for_tool(weather, random.Random(seed))
        assert_valid(weather, arguments)
        assert re.fullmatch(r"[A-Z][\w ]+, [A-Z][\w ]+", arguments["location"])
    with pytest.raises(SchemaGenerationError):
        arguments_for_tool({"type": "string"}, random.Random(0))
