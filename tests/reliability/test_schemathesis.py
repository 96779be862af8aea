"""A bounded schemathesis run: generated requests for every endpoint we serve, each answer checked against the
project's OpenAPI subset (tests/data/openapi-subset.json: OpenAI's own response schemas). No case may get a 5xx,
and every answer must be one the spec allows, in its schema (errors in OpenAI's ErrorResponse envelope).

The subset holds response schemas only, so the operations are declared here, with request schemas small enough to
reach the interesting parts (sampling bounds, formats, unknown models) within a couple of dozen cases each. Their
bounds are OpenAI's documented ones (temperature 0..2, top_p 0..1, penalties -2..2, top_logprobs 0..20, n 1..128,
dall-e-2 n 1..10), so a request outside them must be refused. OpenAI's cross-field rules (top_logprobs needs
logprobs, dall-e-3 takes n=1 only, ...) cannot be written in JSON schema, so a schema-valid request may still get a
400: the positive-data check is off.
"""

from __future__ import annotations

import copy
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import positive_data_acceptance, unsupported_method

from conftest import ROOT

pytestmark = pytest.mark.server

SUBSET = json.loads((ROOT / "tests" / "data" / "openapi-subset.json").read_text())
MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "no-such-model"]
MESSAGE = {"type": "object", "required": ["role", "content"], "additionalProperties": False,
           "properties": {"role": {"enum": ["system", "developer", "user", "assistant"]},
                          "content": {"type": "string"}}}
SAMPLING = {"temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "n": {"type": "integer", "minimum": 1, "maximum": 128},
            "seed": {"type": "integer"},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "user": {"type": "string"}}
EXAMPLES_PER_OPERATION = 25


def _body(properties: dict, required: list[str]) -> dict:
    # OpenAI takes an explicit null for any optional parameter, as if it were left out.
    properties = {name: prop if name in required else {"anyOf": [prop, {"type": "null"}]}
                  for name, prop in properties.items()}
    schema = {"type": "object", "required": required, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _responses(success: str) -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    ok = {"description": "ok", "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{success}"}}}}
    return {"200": ok, **{code: {"description": "error", **error} for code in ("400", "404", "413", "415")}}


def build_spec() -> dict:
    spec = copy.deepcopy(SUBSET)
    model = {"type": "string", "enum": MODELS}
    spec["paths"] = {
        "/v1/chat/completions": {"post": {"requestBody": _body({
            "model": model,
            "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "logprobs": {"type": "boolean"},
            "top_logprobs": {"type": "integer", "minimum": 0, "maximum": 20},
            "stop": {"type": "string"},
            "response_format": {"type": "object", "required": ["type"],
                                "properties": {"type": {"enum": ["text", "json_object"]}}},
            **SAMPLING}, ["model", "messages"]), "responses": _responses("CreateChatCompletionResponse")}},
        "/v1/completions": {"post": {"requestBody": _body({
            "model": {"type": "string", "enum": ["gpt-3.5-turbo-instruct", "davinci-002", "no-such-model"]},
            "prompt": {"type": "string"},  # OpenAI's spec gives it a default (<|endoftext|>), so it may be left out
            "max_tokens": {"type": "integer", "minimum": 0},  # 0 is allowed with echo
            "echo": {"type": "boolean"},
            **SAMPLING}, ["model"]), "responses": _responses("CreateCompletionResponse")}},
        "/v1/embeddings": {"post": {"requestBody": _body({
            "model": {"type": "string", "enum": ["text-embedding-3-small", "text-embedding-ada-002", "no-such-model"]},
            "input": {"type": "string", "minLength": 1},
            "encoding_format": {"enum": ["float"]},  # base64 is a string, which the subset's Embedding schema omits
            "dimensions": {"type": "integer", "minimum": 1, "maximum": 1536}}, ["model", "input"]),
            "responses": _responses("CreateEmbeddingResponse")}},
        "/v1/images/generations": {"post": {"requestBody": _body({
            "prompt": {"type": "string"},
            "model": {"enum": ["dall-e-2", "dall-e-3"]},
            "n": {"type": "integer", "minimum": 1, "maximum": 10},
            "size": {"enum": ["256x256", "512x512", "1024x1024", "1792x1024"]},
            "response_format": {"enum": ["url", "b64_json"]}}, ["prompt"]),
            "responses": _responses("ImagesResponse")}},
        "/v1/models": {"get": {"responses": _responses("ListModelsResponse")}},
        "/v1/models/{model}": {"get": {
            "parameters": [{"name": "model", "in": "path", "required": True, "schema": model}],
            "responses": _responses("Model")}},
    }
    return spec


schema = schemathesis.openapi.from_dict(build_spec())


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_generated_requests_get_answers_the_spec_allows(case, fast_server):
    # The 405 for a wrong method is the engine's copy of OpenAI's "Invalid method for URL" error; whether OpenAI adds
    # RFC 9110's Allow header is not recorded in the references, so that check (RFC, not OpenAI, fidelity) is off.
    case.call_and_validate(base_url=fast_server.base_url, timeout=10, excluded_checks=[unsupported_method, positive_data_acceptance])
