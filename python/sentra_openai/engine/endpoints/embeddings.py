"""POST /v1/embeddings: validation with OpenAI's messages, exact usage, and deterministic unit vectors.

Wire shapes: shared/reference/openai-wire.md §5.2 and the captures embeddings-*.json. This endpoint still answers
schema problems in the older validator's words, `<value> is less than the minimum of 1 - 'dimensions'` with param and
code null (capture embeddings-bad-request, which also shows `dimensions` is judged before `encoding_format`).
"""

from __future__ import annotations

import base64
import math
from typing import Any

from .. import errors, respond
from ..content.embedding_vectors import embedding_vector
from ..content.float32 import little_endian_bytes, shortest
from ..core import Call, Engine
from ..errors import ApiError
from ..model_resolution import model_name, resolve_model_of_kind
from ..realism import token_charge
from ..types import Outcome
from ..validation import parse_json_object

KNOWN_FIELDS = frozenset({"input", "model", "encoding_format", "dimensions", "user"})
ENCODING_FORMATS = ["float", "base64"]
# Per request, summed over inputs (CreateEmbeddingRequest.input in openapi.yaml; the 400 quoted in
# assafelovic/gpt-researcher#1500 shows its message, type and code).
MAX_TOKENS_PER_REQUEST = 300_000
# The per-input limit OpenAI's message names for every embedding model since 2024 (third-party 400 bodies, e.g.
# microsoft/PubSec-Info-Assistant#755, openai-cookbook "Embedding long inputs"); the spec says the same.
DEFAULT_MAX_INPUT_TOKENS = 8192
INVALID_INPUT_MESSAGE = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
MISSING_INPUT_MESSAGE = "Please submit an `input`."


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/embeddings", "embeddings", handle)


def handle(call: Call) -> Outcome:
    services = call.services
    body = parse_json_object(call.request.body)
    call.response_headers["access-control-allow-origin"] = "*"  # on this endpoint's 400s too (captures)
    model = resolve_model_of_kind(call, model_name(body), "embedding")
    try:
        inputs, dimensions = _validate(body, model)
        token_lists, prompt_tokens = _tokenize(services.tokens, model, inputs)
    except ApiError:
        # OpenAI's limiter runs before validation: a 400 still costs a request and carries the x-ratelimit-* headers
        # (capture embeddings-bad-request).
        respond.admit(call, model, 0, lambda: token_charge.embedding(body))
        raise

    respond.admit(call, model, prompt_tokens, lambda: token_charge.embedding(body))
    call.check_fault(model.id, False)
    respond.charge_tokens(call, model, prompt_tokens, 0, 0)

    assert model.embedding is not None
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, tokens in enumerate(token_lists):
        vector = embedding_vector(tokens, model.id, model.embedding.dimensions, dimensions)
        encoded: Any = (base64.b64encode(little_endian_bytes(vector)).decode("ascii") if as_base64
                        else shortest(vector))
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    echoed = services.catalog.echo_model(model.id) or model.snapshot
    payload = {
        "object": "list",
        "data": data,
        "model": echoed,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    delay = _delay(call, model, prompt_tokens, len(inputs))
    return respond.json_outcome(payload, headers={"openai-model": echoed}, delay=delay)


def _validate(body: dict[str, Any], model) -> tuple[list[str | list[int]], int | None]:
    """The inputs and the requested dimensions, or OpenAI's 400 for the first problem it would report."""
    for field in body:
        if field not in KNOWN_FIELDS:
            raise errors.unrecognized_argument(field)
    inputs = _check_schema(body)
    assert model.embedding is not None
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not model.has("dimensions"):
            raise ApiError(400, "This model does not support specifying dimensions.")  # third-party 400 bodies
        if dimensions > model.embedding.dimensions:
            # Wording unconfirmed: no recorded answer to a too-large `dimensions` was found.
            raise ApiError(
                400,
                f"This model supports at most {model.embedding.dimensions} dimensions, but {dimensions} were requested.",
                param="dimensions",
            )
    if len(inputs) > model.embedding.max_inputs:
        raise ApiError(400, INVALID_INPUT_MESSAGE)
    return inputs, dimensions


def _tokenize(counter, model, inputs: list[str | list[int]]) -> tuple[list[list[int]], int]:
    """Each input's tokens and their total (usage.prompt_tokens), within the per-input and per-request limits."""
    encoding = counter.encoding(model.encoding)
    token_lists = [_tokens_of(item, encoding, counter, model) for item in inputs]
    limit = model.max_input or DEFAULT_MAX_INPUT_TOKENS
    for tokens in token_lists:
        if len(tokens) > limit:
            raise errors.legacy_context_exceeded(limit, len(tokens), 0)
    prompt_tokens = sum(len(tokens) for tokens in token_lists)
    if prompt_tokens > MAX_TOKENS_PER_REQUEST:
        raise ApiError(400, f"Requested {prompt_tokens} tokens, max {MAX_TOKENS_PER_REQUEST} tokens per request",
                       type="max_tokens_per_request", code="max_tokens_per_request")
    return token_lists, prompt_tokens


def _check_schema(body: dict[str, Any]) -> list[str | list[int]]:
    """CreateEmbeddingRequest's rules in the order the API reports them; returns the inputs as a list."""
    raw = body.get("input")
    inputs = _inputs(raw) if raw is not None else []
    if raw is not None and inputs is None:
        raise ApiError(400, INVALID_INPUT_MESSAGE)
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int):
            raise ApiError(400, f"{_py_repr(dimensions)} is not of type 'integer' - 'dimensions'")
        if dimensions < 1:
            raise ApiError(400, f"{dimensions} is less than the minimum of 1 - 'dimensions'")
    encoding_format = body.get("encoding_format")
    if encoding_format is not None and encoding_format not in ENCODING_FORMATS:
        # The older validator's enum message (same family as the captured minimum message); unconfirmed verbatim.
        raise ApiError(400, f"{_py_repr(encoding_format)} is not one of {ENCODING_FORMATS!r} - 'encoding_format'")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise ApiError(400, f"{_py_repr(user)} is not of type 'string' - 'user'")
    if raw is None:
        raise ApiError(400, MISSING_INPUT_MESSAGE)
    assert inputs is not None
    return inputs


def _inputs(value: Any) -> list[str | list[int]] | None:
    """The inputs of a valid `input` (a non-empty string, or a non-empty array of non-empty strings, of tokens or of
    non-empty token arrays); None when the value is not one of those shapes (OpenAI: `'$.input' is invalid`)."""
    if isinstance(value, str):
        return [value] if value else None
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(item, str) and item for item in value):
        return list(value)
    if all(_is_token(item) for item in value):
        return [list(value)]
    if all(isinstance(item, list) and item and all(_is_token(t) for t in item) for item in value):
        return [list(item) for item in value]
    return None


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tokens_of(item: str | list[int], encoding, counter, model) -> list[int]:
    if isinstance(item, str):
        return counter.encode(model, item)
    highest = encoding.eot_token  # the completions endpoint's bound (<|endoftext|>)
    for token in item:
        if token > highest:
            # The completions endpoint's wording for a token outside the vocabulary, assumed to be shared here.
            raise errors.invalid_token(token, highest)
    return item


def _py_repr(value: Any) -> str:
    """A JSON value as the older validator quotes it (Python's repr: 'abc', True, None, [1, 2])."""
    return repr(value)


def _delay(call: Call, model, tokens: int, inputs: int) -> float:
    """Service time: a base, a share per 1k tokens and per input (catalog latency), with lognormal jitter."""
    profile = model.latency
    if call.time_scale <= 0:
        return 0.0
    seconds = profile.base_s + profile.per_1k_tokens_s * tokens / 1000 + profile.per_input_s * inputs
    return seconds * math.exp(call.rng.gauss(0.0, profile.jitter)) * call.time_scale
