"""The create route's state hooks: store, conversation, background (queued, then polled), through the SDK; the
routes that read state back (GET, conversations) are the state store's."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

pytestmark = pytest.mark.server


def test_stored_response_is_retrievable_and_unstored_is_not(openai_client):
    kept = openai_client.responses.create(model="gpt-4o-mini", input="Remember me")
    assert openai_client.responses.retrieve(kept.id).output_text == kept.output_text
    dropped = openai_client.responses.create(model="gpt-4o-mini", input="Forget me", store=False)
    assert dropped.store is False
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(dropped.id)


def test_conversation_collects_the_turns_and_bills_them(openai_client):
    conversation = openai_client.conversations.create()
    first = openai_client.responses.create(model="gpt-4o-mini", input="Name a planet.", conversation=conversation.id)
    assert first.conversation.id == conversation.id
    second = openai_client.responses.create(model="gpt-4o-mini", input="Another?", conversation=conversation.id)
    alone = openai_client.responses.create(model="gpt-4o-mini", input="Another?")
    assert second.usage.input_tokens > alone.usage.input_tokens  # the first turn is input again
    items = openai_client.conversations.items.list(conversation.id, order="asc").data
    assert [i.type for i in items] == ["message"] * 4
    assert [i.role for i in items] == ["user", "assistant", "user", "assistant"]


def test_unknown_conversation_is_404(openai_client):
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(model="gpt-4o-mini", input="Hi", conversation="conv_doesnotexist")


def test_background_response_is_queued_then_completes(openai_client):
    queued = openai_client.responses.create(model="gpt-4o-mini", input="Take your time.", background=True)
    assert queued.status == "queued" and queued.output == [] and queued.usage is None and queued.background
    deadline = time.monotonic() + 10
    current = queued
    while current.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.05)
        current = openai_client.responses.retrieve(queued.id)
    assert current.status == "completed" and current.output_text and current.usage.output_tokens > 0


def test_background_stream_starts_queued(fast_server):
    with httpx.stream("POST", fast_server.api_url + "/responses",
                      json={"model": "gpt-4o-mini", "input": "Hi", "background": True, "stream": True},
                      headers={"authorization": "Bearer sk-test"}) as response:
        text = response.read().decode()
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:3]] == ["response.created", "response.queued", "response.in_progress"]
    assert events[0]["response"]["status"] == "queued"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"


def test_background_needs_store(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="gpt-4o-mini", input="Hi", background=True, store=False)
    assert info.value.body["param"] == "background"
