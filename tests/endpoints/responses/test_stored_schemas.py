"""Every body of the stored-response and conversation routes, and every replayed stream event, validated against
the official spec's schemas (tests/data/openapi-subset.json)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from openapi_schemas import validate

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import stored_state_server

    yield from stored_state_server(tmp_path_factory, "stored-schemas")


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.api_url, headers={"authorization": "Bearer sk-test"}, timeout=30) as client:
        yield client


def _ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_response_routes_match_the_spec(api):
    created = _ok(api.post("/responses", json={"model": "gpt-5-mini", "input": [
        {"role": "user", "content": "Plan a picnic."}, {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": [{"type": "input_text", "text": "For four people."}]}],
        "reasoning": {"summary": "auto"}}))
    validate("Response", _ok(api.get(f"/responses/{created['id']}")))
    validate("Response", _ok(api.get(f"/responses/{created['id']}",
                                     params={"include[]": ["reasoning.encrypted_content"]})))
    items = _ok(api.get(f"/responses/{created['id']}/input_items", params={"order": "asc"}))
    validate("ResponseItemList", items)
    assert [item["role"] for item in items["data"]] == ["user", "assistant", "user"]
    compacted = _ok(api.post("/responses/compact", json={"model": "gpt-5-mini", "previous_response_id": created["id"]}))
    validate("CompactResource", compacted)
    background = _ok(api.post("/responses", json={"model": "gpt-4o-mini", "input": "Hi", "background": True}))
    validate("Response", background)
    with api.stream("GET", f"/responses/{background['id']}", params={"stream": "true"}) as replay:
        assert replay.headers["content-type"] == "text/event-stream; charset=utf-8"
        frames = replay.read().decode().split("\n\n")
    events = []
    for frame in filter(None, frames):
        kind, data = frame.split("\n", 1)
        event = orjson.loads(data.removeprefix("data: "))
        assert kind == f"event: {event['type']}"
        validate("ResponseStreamEvent", event)
        events.append(event)
    assert events[-1]["type"] == "response.completed"


def test_conversation_routes_match_the_spec(api):
    conversation = _ok(api.post("/conversations", json={"metadata": {"a": "b"}, "items": [
        {"type": "message", "role": "user", "content": "Hello"}]}))
    validate("ConversationResource", conversation)
    cid = conversation["id"]
    validate("ConversationResource", _ok(api.post(f"/conversations/{cid}", json={"metadata": {"a": "c"}})))
    added = _ok(api.post(f"/conversations/{cid}/items", json={"items": [
        {"type": "message", "role": "assistant", "content": "Hi there"}]}))
    validate("ConversationItemList", added)
    listed = _ok(api.get(f"/conversations/{cid}/items"))
    validate("ConversationItemList", listed)
    validate("ConversationItem", _ok(api.get(f"/conversations/{cid}/items/{listed['data'][0]['id']}")))
    validate("ConversationResource", _ok(api.delete(f"/conversations/{cid}/items/{listed['data'][0]['id']}")))
    validate("DeletedConversationResource", _ok(api.delete(f"/conversations/{cid}")))
    missing = api.get(f"/conversations/{cid}")
    assert missing.status_code == 404
    validate("ErrorResponse", missing.json())
