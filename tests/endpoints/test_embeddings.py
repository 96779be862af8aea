"""POST /v1/embeddings through the official SDK and raw HTTP: input shapes, float and base64 encodings, dimensions,
exact usage, semantically shaped unit vectors, OpenAI's errors and the recorded real requests. Every body is
validated against the official OpenAPI schema."""

from __future__ import annotations

import base64
import json
import math
import struct
from array import array
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from conftest import CAPTURE_DIR, replay_capture
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schemas import validate
from sentra_openai.engine.content.embedding_vectors import embedding_vector
from sentra_openai.tokens import get_encoding

CAPTURES = sorted(CAPTURE_DIR.glob("embeddings-*.json"))
CL100K = get_encoding("cl100k_base")  # the packaged copy: tests run offline
INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def validate_body(body: dict[str, Any]) -> None:
    """CreateEmbeddingResponse types `embedding` as an array of numbers only; with `encoding_format: base64` the real
    API sends a string (captures embeddings-base64, -large-text, -whitespace; see test_real_base64_bodies_have_the_
    same_spec_gap). Such a string is checked to be base64 of float32s, and the decoded vector against the schema."""
    copy = json.loads(json.dumps(body))
    for item in copy.get("data", []):
        if isinstance(item.get("embedding"), str):
            raw = base64.b64decode(item["embedding"], validate=True)
            assert len(raw) % 4 == 0
            item["embedding"] = list(array("f", raw))
    validate("CreateEmbeddingResponse", copy)


def post(server, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(server.base_url + "/v1/embeddings", json=body, timeout=60)
    if response.status_code >= 400:
        validate("ErrorResponse", response.json())
    else:
        validate_body(response.json())
    return response


def assert_error(response: httpx.Response, status: int, message: str, param: str | None = None,
                 code: str | None = None, type_: str = "invalid_request_error") -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"message": message, "type": type_, "param": param, "code": code}}


def floats_of(item: dict[str, Any]) -> list[float]:
    embedding = item["embedding"]
    if isinstance(embedding, str):
        return list(array("f", base64.b64decode(embedding)))  # little-endian float32 (this machine is little-endian)
    return embedding


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


# ---- through the SDK -------------------------------------------------------------------------------------------------


@pytest.mark.server
def test_sdk_default_base64_decodes_to_unit_vectors(openai_client):
    raw = openai_client.embeddings.with_raw_response.create(model="text-embedding-3-small",
                                                            input="How do I reset my password?")
    body = orjson.loads(raw.http_response.content)
    validate_body(body)
    assert json.loads(raw.http_request.content)["encoding_format"] == "base64"  # the SDK's default request
    assert isinstance(body["data"][0]["embedding"], str)
    assert raw.http_response.headers["openai-model"] == "text-embedding-3-small"
    parsed = raw.parse()
    vector = parsed.data[0].embedding
    assert len(vector) == 1536
    assert vector == floats_of(body["data"][0])
    assert abs(norm(vector) - 1) < 1e-5
    assert parsed.usage.prompt_tokens == parsed.usage.total_tokens == 7  # capture embeddings-basic


@pytest.mark.server
def test_float_and_base64_carry_the_same_float32_vector(fast_server):
    request = {"model": "text-embedding-3-small", "input": "How do I reset my password?"}
    as_float = post(fast_server, {**request, "encoding_format": "float"})
    as_b64 = post(fast_server, {**request, "encoding_format": "base64"})
    floats = as_float.json()["data"][0]["embedding"]
    assert [f32(x) for x in floats] == floats_of(as_b64.json()["data"][0])  # the same float32 values
    # Printed as OpenAI prints them (0.017608326 in capture embeddings-basic): the shortest decimal that reads back
    # as the same float32, not the longer double it widens to.
    numbers = as_float.text.split('"embedding": [', 1)[1].split("]", 1)[0].split(",")
    assert len(numbers) == 1536
    for text in (n.strip() for n in numbers):
        digits = len(Decimal(text).normalize().as_tuple().digits)
        value = float(text)
        assert digits <= 9
        assert f32(float("%.*g" % (digits - 1, value))) != value if digits > 1 else True, text


@pytest.mark.server
def test_body_key_order_and_usage(fast_server):
    response = post(fast_server, {"model": "text-embedding-3-small", "input": ["first", "second"],
                                  "encoding_format": "float"})
    body = response.json()
    assert list(body) == ["object", "data", "model", "usage"]
    assert [list(item) for item in body["data"]] == [["object", "index", "embedding"]] * 2
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.server
def test_default_sizes_come_from_the_catalog(openai_client):
    for model, size in [("text-embedding-3-small", 1536), ("text-embedding-3-large", 3072),
                        ("text-embedding-ada-002", 1536)]:
        result = openai_client.embeddings.create(model=model, input="hello world")
        assert len(result.data[0].embedding) == size, model


@pytest.mark.server
def test_dimensions_truncate_then_renormalise(openai_client):
    full = openai_client.embeddings.create(model="text-embedding-3-large", input="A short text").data[0].embedding
    short = openai_client.embeddings.create(model="text-embedding-3-large", input="A short text",
                                            dimensions=256).data[0].embedding
    assert len(short) == 256
    assert abs(norm(short) - 1) < 1e-5
    head = full[:256]
    scale = norm(head)
    assert all(abs(s - h / scale) < 1e-5 for s, h in zip(short, head))


@pytest.mark.server
def test_vectors_are_deterministic_and_similar_texts_are_closer(openai_client):
    texts = ["How do I reset my password?", "How can I reset my password", "How do I reset my password?",
             "Quarterly revenue grew by ten percent."]
    vectors = [d.embedding for d in openai_client.embeddings.create(model="text-embedding-3-small", input=texts).data]
    assert vectors[0] == vectors[2]
    assert cosine(vectors[0], vectors[1]) > 0.5
    assert abs(cosine(vectors[0], vectors[3])) < 0.2
    other_model = openai_client.embeddings.create(model="text-embedding-ada-002", input=texts[0]).data[0].embedding
    assert abs(cosine(vectors[0], other_model)) < 0.2  # each model has its own space


@pytest.mark.server
def test_token_inputs_embed_like_their_text(openai_client):
    text = "Embeddings from token ids"
    ids = CL100K.encode_ordinary(text)
    by_text = openai_client.embeddings.create(model="text-embedding-3-small", input=text)
    by_ids = openai_client.embeddings.create(model="text-embedding-3-small", input=ids)
    by_arrays = openai_client.embeddings.create(model="text-embedding-3-small", input=[ids, ids[:2]])
    assert by_ids.data[0].embedding == by_text.data[0].embedding == by_arrays.data[0].embedding
    assert by_ids.usage.prompt_tokens == len(ids)
    assert by_arrays.usage.prompt_tokens == len(ids) + 2


# ---- vector properties (in process) ----------------------------------------------------------------------------------

TOKEN_LISTS = st.lists(st.integers(0, 100_000), min_size=1, max_size=40)


@settings(max_examples=500, deadline=None)
@given(tokens=TOKEN_LISTS, dims=st.sampled_from([8, 64, 256, 1536]))
def test_vectors_are_unit_length_and_deterministic(tokens, dims):
    vector = embedding_vector(tokens, "text-embedding-3-small", 1536, dims)
    assert len(vector) == dims
    assert abs(norm(vector) - 1) < 1e-9
    assert vector == embedding_vector(list(tokens), "text-embedding-3-small", 1536, dims)


@settings(max_examples=500, deadline=None)
@given(shared=st.lists(st.integers(0, 50_000), min_size=8, max_size=30, unique=True),
       other=st.lists(st.integers(50_001, 100_000), min_size=8, max_size=30, unique=True))
def test_sharing_tokens_raises_similarity(shared, other):
    """A text is closer to one that shares most of its tokens than to one that shares only a few, or none."""
    half = len(other) // 2
    base = embedding_vector(shared, "m", 1536)
    mostly_same = embedding_vector(shared[: len(shared) * 3 // 4] + other[:half], "m", 1536)
    disjoint = embedding_vector(other, "m", 1536)
    assert cosine(base, mostly_same) > cosine(base, disjoint) + 0.2


# ---- errors -------------------------------------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": ""}, INVALID_INPUT),
        ({"input": []}, INVALID_INPUT),
        ({"input": ["ok", ""]}, INVALID_INPUT),
        ({"input": [[1, 2], []]}, INVALID_INPUT),
        ({"input": 42}, INVALID_INPUT),
        ({"input": ["x"] * 2049}, INVALID_INPUT),
        ({}, "Please submit an `input`."),
        ({"input": "hi", "dimensions": -1}, "-1 is less than the minimum of 1 - 'dimensions'"),
        ({"input": "hi", "dimensions": "8"}, "'8' is not of type 'integer' - 'dimensions'"),
        ({"input": "hi", "encoding_format": "binary"}, "'binary' is not one of ['float', 'base64'] - 'encoding_format'"),
        ({"input": "hi", "bogus": True}, "Unrecognized request argument supplied: bogus"),
        ({"input": [100258]}, "Invalid token in prompt: 100258. Minimum value is 0, maximum value is 100257 (inclusive)."),
    ],
)
def test_validation_errors(fast_server, body, message):
    assert_error(post(fast_server, {"model": "text-embedding-3-small", **body}), 400, message)


@pytest.mark.server
def test_ada_rejects_dimensions(fast_server):
    response = post(fast_server, {"model": "text-embedding-ada-002", "input": "hi", "dimensions": 256})
    assert_error(response, 400, "This model does not support specifying dimensions.")


@pytest.mark.server
def test_too_long_input_names_both_counts(fast_server):
    ids = [1000] * 8193
    response = post(fast_server, {"model": "text-embedding-3-small", "input": [[1000] * 5, ids]})
    assert_error(response, 400, "This model's maximum context length is 8192 tokens, however you requested 8193 "
                                "tokens (8193 in your prompt; 0 for the completion). Please reduce your prompt; or "
                                "completion length.")
    exactly = post(fast_server, {"model": "text-embedding-3-small", "input": [[1000] * 8192]})
    assert exactly.status_code == 200
    assert exactly.json()["usage"]["prompt_tokens"] == 8192


@pytest.mark.server
def test_request_token_budget(fast_server):
    inputs = [[1000] * 8192] * 37  # 303,104 tokens, every input within its own limit
    response = post(fast_server, {"model": "text-embedding-3-small", "input": inputs})
    assert_error(response, 400, "Requested 303104 tokens, max 300000 tokens per request",
                 type_="max_tokens_per_request", code="max_tokens_per_request")


@pytest.mark.server
def test_model_errors(fast_server):
    unknown = httpx.post(fast_server.base_url + "/v1/embeddings", json={"model": "text-embedding-4", "input": "hi"})
    assert_error(unknown, 404, "The model `text-embedding-4` does not exist or you do not have access to it.",
                 code="model_not_found")
    chat = post(fast_server, {"model": "gpt-4o", "input": "hi"})
    assert_error(chat, 404, "This model is not supported in the v1/embeddings endpoint.", param="model")
    assert_error(post(fast_server, {"input": "hi"}), 400, "you must provide a model parameter")


# ---- the recorded real requests -------------------------------------------------------------------------------------




def test_real_base64_bodies_have_the_same_spec_gap():
    capture = json.loads((CAPTURE_DIR / "embeddings-base64.json").read_text())
    with pytest.raises(AssertionError, match="is not of type 'array'"):
        validate("CreateEmbeddingResponse", capture["response"]["body"])
    validate_body(capture["response"]["body"])


@pytest.mark.server
@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_replay_matches_the_real_api(limited_server, path):
    request, expected, response = replay_capture(limited_server, path)
    if expected["status"] < 400:
        body, real = response.json(), expected["body"]
        validate_body(body)
        assert body["usage"] == real["usage"]
        assert body["model"] == real["model"]
        assert len(body["data"]) == len(real["data"])
        for ours, theirs in zip(body["data"], real["data"]):
            assert ours["index"] == theirs["index"]
            assert type(ours["embedding"]) is type(theirs["embedding"])
            assert len(floats_of(ours)) == len(floats_of(theirs)) == 1536
            assert abs(norm(floats_of(theirs)) - 1) < 1e-3 and abs(norm(floats_of(ours)) - 1) < 1e-5
    for name in expected["headers"]:
        if name.startswith(("x-ratelimit", "openai-")) or name in ("x-request-id", "access-control-allow-origin"):
            assert name in response.headers, name
    assert response.headers["x-ratelimit-limit-tokens"] == expected["headers"]["x-ratelimit-limit-tokens"]
