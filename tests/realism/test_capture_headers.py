"""With `rate_limiting.token_charge: observed`, the x-ratelimit-* headers of every recorded real answer are reproduced
to the byte: limits from the catalog's tier 1, OpenAI's up-front token estimate, reset times truncated to the ms."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import CAPTURE_DIR, start_server
from sentra_openai.engine.realism import token_charge

pytestmark = pytest.mark.server
CAPTURES = [p for p in sorted(CAPTURE_DIR.glob("*.json"))
            if "x-ratelimit-limit-tokens" in json.loads(p.read_text())["response"]["headers"]]
SIX = [f"x-ratelimit-{what}-{limit}" for what in ("limit", "remaining", "reset") for limit in ("requests", "tokens")]


@pytest.fixture(scope="module")
def observed_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("observed"),
                          {"latency": {"enable": False}, "rate_limiting": {"token_charge": "observed"},
                           "metrics": {"enable": False}}, mode="default")
    yield server
    server.stop()


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_rate_limit_headers_equal_the_real_ones(observed_server, path):
    capture = json.loads(path.read_text())
    # A key of its own per capture: each recorded request was the first of its minute.
    headers = {"authorization": f"Bearer sk-replay-{path.stem}"}
    response = httpx.post(observed_server.base_url + capture["request"]["path"], json=capture["request"]["body"],
                          headers=headers)
    assert response.status_code == capture["response"]["status"]
    assert {name: response.headers.get(name) for name in SIX} == {name: capture["response"]["headers"][name] for name in SIX}


def test_estimates_accept_any_body():
    """A malformed body is charged too (its 400 carries the headers), so the estimate never fails on one."""
    assert token_charge.chat({}) == token_charge.chat({"messages": 5}) == 1
    assert token_charge.chat({"messages": [None, {"content": [1, {"type": "image_url"}]}]}) == 0 + 2 + 1 + 765
    assert token_charge.completion({"prompt": [[1, 2], "ab"]}) == (2 + 1) + (1 + 1)
    assert token_charge.completion({"prompt": None}) == 1
    assert token_charge.embedding({"input": [[1], "abcd", None]}) == 1 + 1
    assert token_charge.embedding({"input": {"x": 1}}) == 0
