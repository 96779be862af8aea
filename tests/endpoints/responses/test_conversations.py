"""Conversations through the official SDK: create (with items and metadata), retrieve, update, delete; items list
(order, limit, after, auto-paging), create, retrieve, delete; a response with `conversation` reads the
conversation as context and appends its input and output to it; OpenAI-style 404s."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import stored_state_server

    yield from stored_state_server(tmp_path_factory, "conversations")


@pytest.fixture
def client(server):
    return server.client()


def test_create_retrieve_update_delete(client):
    conversation = client.conversations.create(metadata={"topic": "demo"},
                                               items=[{"type": "message", "role": "user", "content": "Hello!"}])
    assert conversation.id.startswith("conv_") and len(conversation.id) == 53
    assert conversation.object == "conversation" and conversation.metadata == {"topic": "demo"}
    assert sorted(conversation.model_dump()) == ["created_at", "id", "metadata", "object"]
    assert client.conversations.retrieve(conversation.id) == conversation
    updated = client.conversations.update(conversation.id, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"} and updated.created_at == conversation.created_at
    assert client.conversations.retrieve(conversation.id).metadata == {"topic": "changed"}
    deleted = client.conversations.delete(conversation.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (conversation.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError) as gone:
        client.conversations.retrieve(conversation.id)
    assert gone.value.body["message"] == f"Conversation with id '{conversation.id}' not found."
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conversation.id)


def test_items_list_create_retrieve_delete(client):
    conversation = client.conversations.create()
    assert client.conversations.items.list(conversation.id).data == []
    added = client.conversations.items.create(conversation.id, items=[
        {"type": "message", "role": "user", "content": f"item {n}"} for n in range(5)])
    assert [item.content[0].text for item in added.data] == [f"item {n}" for n in range(5)]
    assert added.first_id == added.data[0].id and added.has_more is False
    newest = client.conversations.items.list(conversation.id, limit=2)
    assert [item.content[0].text for item in newest.data] == ["item 4", "item 3"] and newest.has_more
    oldest = client.conversations.items.list(conversation.id, order="asc", limit=2, after=added.data[0].id)
    assert [item.content[0].text for item in oldest.data] == ["item 1", "item 2"]
    assert [item.content[0].text for item in client.conversations.items.list(conversation.id, order="asc", limit=2)] \
        == [f"item {n}" for n in range(5)]
    item = client.conversations.items.retrieve(added.data[2].id, conversation_id=conversation.id)
    assert item.id == added.data[2].id and item.content[0].text == "item 2"
    after_delete = client.conversations.items.delete(added.data[2].id, conversation_id=conversation.id)
    assert after_delete.id == conversation.id  # deleting an item returns the conversation
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(added.data[2].id, conversation_id=conversation.id)
    remaining = [i.content[0].text for i in client.conversations.items.list(conversation.id, order="asc")]
    assert remaining == ["item 0", "item 1", "item 3", "item 4"]


def test_a_response_in_a_conversation_extends_it(client):
    conversation = client.conversations.create(items=[{"role": "user", "content": "My name is Ada."}])
    first = client.responses.create(model="gpt-4o-mini", input="Hi!", conversation=conversation.id)
    assert first.conversation.id == conversation.id
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [(i.type, i.role) for i in items] == [("message", "user"), ("message", "user"), ("message", "assistant")]
    assert items[2].id == first.output[0].id
    alone = client.responses.create(model="gpt-4o-mini", input="Hi!")
    second = client.responses.create(model="gpt-4o-mini", input="What is my name?", conversation=conversation.id)
    # The conversation's items are context, billed as input like a chain.
    assert second.usage.input_tokens > alone.usage.input_tokens + first.usage.output_tokens
    assert len(client.conversations.items.list(conversation.id).data) == 5


def test_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve("conv_0000000000000000000000000000000000000000000000000")
    with pytest.raises(openai.BadRequestError) as malformed:
        client.conversations.retrieve("resp_123")
    assert malformed.value.body["param"] == "conversation_id"
    with pytest.raises(openai.BadRequestError) as too_many:
        client.conversations.create(items=[{"role": "user", "content": "x"}] * 21)
    assert too_many.value.body["param"] == "items"
    with pytest.raises(openai.BadRequestError) as bad_metadata:
        client.conversations.create(metadata={"k": "x" * 513})
    assert bad_metadata.value.body["param"] == "metadata.k"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-4o-mini", input="x", conversation="conv_000000000000000000000000000000000000000000000000")
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as bad_order:
        client.conversations.items.list(conversation.id, order="sideways")  # type: ignore[arg-type]
    assert bad_order.value.body["param"] == "order"
