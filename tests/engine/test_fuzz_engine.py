"""Nothing a client sends yields a 500: arbitrary and mutated bodies on every endpoint get a success or OpenAI's 4xx."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schemas import validate
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.engine.realism.pacing import immediate_events

# 2026-05-11: the last day dall-e-2 answers (SDK 3.57.0), so the images body below is served, not a 404
_ENGINE = build_engine(load_settings(mode="fast", environ={}, cli={"models.as_of": "2026-05-11"}), clock=ManualClock())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

VALID = {
    "/v1/chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": 1,
                             "max_tokens": 20, "stream": False, "tools": [{"type": "function", "function": {
                                 "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}],
                             "response_format": {"type": "text"}, "stop": ["x"], "logprobs": False, "seed": 1},
    "/v1/completions": {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "max_tokens": 5, "n": 1, "echo": False,
                        "logprobs": None, "stream": False},
    "/v1/embeddings": {"model": "text-embedding-3-small", "input": ["hi", "there"], "encoding_format": "float",
                       "dimensions": 8},
    "/v1/images/generations": {"model": "dall-e-2", "prompt": "a cat", "n": 1, "size": "256x256",
                               "response_format": "b64_json"},
    "/v1/moderations": {"model": "omni-moderation-latest",
                        "input": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]},
}
FIELDS = {path: sorted(body) for path, body in VALID.items()}


def encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # integers beyond 64 bits: JSON text carries them anyway
        import json

        return json.dumps(value).encode()


def check(path: str, body: bytes) -> None:
    outcome = _ENGINE.handle(Request("POST", path, {}, body))
    assert outcome.status != 500 and outcome.status < 500, (path, body[:300], outcome.body[:500])
    if outcome.stream is not None:
        for _ in immediate_events(outcome.stream):
            pass
    elif outcome.status >= 400:
        validate("ErrorResponse", orjson.loads(outcome.body))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(VALID)), value=json_values)
def test_arbitrary_json_bodies(path: str, value: Any) -> None:
    check(path, encode(value))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), path=st.sampled_from(sorted(VALID)))
def test_mutated_valid_bodies(data: st.DataObject, path: str) -> None:
    body = dict(VALID[path])
    for field in data.draw(st.lists(st.sampled_from(FIELDS[path]), min_size=1, max_size=3, unique=True)):
        body[field] = data.draw(json_values)
    check(path, encode(body))


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes(raw: bytes) -> None:
    check("/v1/chat/completions", raw)
