"""Replays the recorded real chat requests (tests/data/captures, from shared/data/captures) and compares what a client
can see: status, error type/param/code/message, usage.prompt_tokens, and which header families are present."""

from __future__ import annotations

import pytest
from conftest import CAPTURE_DIR, replay_capture
from openapi_schemas import validate

pytestmark = pytest.mark.server
CAPTURES = sorted(CAPTURE_DIR.glob("chat-*.json"))




@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_replay_matches_the_real_api(limited_server, path):
    request, expected, response = replay_capture(limited_server, path)
    succeeded = expected["status"] < 400
    if succeeded and request["body"].get("stream"):
        usage_line = [line for line in response.text.splitlines() if line.startswith("data: {")]
        assert usage_line
    elif succeeded:
        body = response.json()
        validate("CreateChatCompletionResponse", body)
        assert body["usage"]["prompt_tokens"] == expected["body"]["usage"]["prompt_tokens"]
        assert body["model"] == expected["body"]["model"]
        assert body["system_fingerprint"] == expected["body"]["system_fingerprint"]
        assert list(body["choices"][0]["message"])[:2] == ["role", "content"]
    # The same header names as the real answer (404s come from an outer layer with hardly any headers).
    standard = {f"x-ratelimit-{what}-{limit}" for what in ("limit", "remaining", "reset") for limit in ("requests", "tokens")}
    standard |= {"openai-version", "openai-processing-ms", "openai-project", "content-type", "x-request-id"}
    for name in expected["headers"]:
        if name in standard:
            assert name in response.headers, name
    if expected["status"] == 404:
        assert not any(name.startswith("x-ratelimit") for name in response.headers)
        assert response.headers["content-type"] == expected["headers"]["content-type"]
    assert response.headers["x-request-id"].startswith("req_")
