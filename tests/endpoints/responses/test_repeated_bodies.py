"""A body sent again gets what the first one got (its count and text are kept by body bytes, issue 12), unless its
input reads the store: the same bytes naming a conversation or a previous response count the history as it is now."""

from __future__ import annotations

import orjson
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.state import MemoryStore

HEADERS = {"authorization": "Bearer sk-test", "content-type": "application/json"}


def _engine():
    return build_engine(load_settings(mode="fast", environ={}), clock=ManualClock(), state=MemoryStore())


def _create(engine, body: dict, path: str = "/v1/responses") -> dict:
    outcome = engine.handle(Request("POST", path, dict(HEADERS), orjson.dumps(body)))
    assert outcome.status == 200, outcome.body
    return orjson.loads(outcome.body)


def test_a_repeated_body_gets_the_same_count_and_text():
    engine = _engine()
    body = {"model": "gpt-4o-mini", "input": "Explain what a rate limiter does.", "store": False}
    first, again = _create(engine, body), _create(engine, body)
    assert again["usage"] == first["usage"]
    assert again["output"][0]["content"][0]["text"] == first["output"][0]["content"][0]["text"]
    assert again["id"] != first["id"]
    counted = _create(engine, body, "/v1/responses/input_tokens")
    assert counted["input_tokens"] == first["usage"]["input_tokens"]


def test_the_same_body_in_a_growing_conversation_counts_the_history_each_time():
    engine = _engine()
    conversation = _create(engine, {}, "/v1/conversations")["id"]
    body = {"model": "gpt-4o-mini", "input": "And one more thing?", "conversation": conversation}
    first, second = _create(engine, body), _create(engine, body)
    assert second["usage"]["input_tokens"] > first["usage"]["input_tokens"]  # the first turn is input again

