"""Stored chat completions through the official SDK: `store: true` keeps a completion, and list (filters, cursor
pages), retrieve, update (metadata), delete and the messages list answer as the spec describes, with 404s for
unknown ids. Bodies are validated against the official schemas."""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest
from openapi_schemas import validate

pytestmark = pytest.mark.server

MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    running = start_server(tmp_path_factory.mktemp("stored-chat"), {"metrics": {"enable": False}})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(max_retries=0)


@pytest.fixture
def tag() -> str:
    """A metadata value only this test's completions carry, so list filters see only them."""
    return uuid.uuid4().hex[:12]


def store(client, tag: str, text: str = "Say hello", **extra):
    return client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": text}], store=True, metadata={"run": tag}, **extra)


def test_a_stored_completion_is_retrieved_as_created_with_its_request_fields(client, tag):
    raw = store(client, tag, temperature=0.5, seed=7)
    created = raw.parse()
    fetched = client.chat.completions.with_raw_response.retrieve(created.id)
    body = fetched.http_response.json()
    validate("CreateChatCompletionResponse", body)
    assert body["id"] == created.id and body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == created.choices[0].message.content
    assert body["usage"]["total_tokens"] == created.usage.total_tokens
    assert body["metadata"] == {"run": tag}
    assert body["request_id"] == raw.headers["x-request-id"]
    assert (body["temperature"], body["seed"], body["top_p"], body["tools"]) == (0.5, 7, 1.0, None)


def test_completions_without_store_are_not_kept(client):
    created = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.retrieve(created.id)
    assert caught.value.body == {"message": f"Chat completion with id '{created.id}' not found.",
                                 "type": "invalid_request_error", "param": None, "code": None}


def test_a_streamed_completion_is_stored_whole(client, tag):
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Count to three"}],
                                            store=True, metadata={"run": tag}, stream=True)
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    stored = client.chat.completions.retrieve(chunks[0].id)
    assert stored.choices[0].message.content == text


def test_the_list_filters_by_metadata_and_model_and_pages_with_cursors(client, server, tag):
    ids = [store(client, tag, f"Question {i}").parse().id for i in range(5)]
    store(client, "someone-else")
    page = client.chat.completions.list(metadata={"run": tag}, limit=2)
    assert [c.id for c in page.data] == ids[:2]  # ascending by default (the spec)
    assert page.has_more is True
    assert [c.id for c in page.iter_pages().__next__().data] == ids[:2]
    everything = [c.id for c in client.chat.completions.list(metadata={"run": tag}, limit=2)]  # auto-paging
    assert everything == ids
    newest = client.chat.completions.list(metadata={"run": tag}, order="desc", limit=3)
    assert [c.id for c in newest.data] == ids[::-1][:3]
    after = client.chat.completions.list(metadata={"run": tag}, after=ids[2])
    assert [c.id for c in after.data] == ids[3:] and after.has_more is False
    raw = httpx.get(server.base_url + "/v1/chat/completions", params={"metadata[run]": tag, "limit": 5})
    validate("ChatCompletionList", raw.json())
    assert raw.json()["first_id"] == ids[0] and raw.json()["last_id"] == ids[-1]
    assert client.chat.completions.list(metadata={"run": tag}, model="gpt-4o").data == []
    assert len(client.chat.completions.list(metadata={"run": tag}, model=MODEL, limit=100).data) == 5


def test_bad_list_queries_get_400s(server):
    url = server.base_url + "/v1/chat/completions"
    assert httpx.get(url, params={"limit": "many"}).json()["error"]["param"] == "limit"
    assert httpx.get(url, params={"order": "sideways"}).json()["error"]["param"] == "order"


def test_update_replaces_the_metadata(client, tag):
    created = store(client, tag).parse()
    updated = client.chat.completions.update(created.id, metadata={"run": tag, "reviewed": "yes"})
    assert updated.id == created.id and updated.metadata == {"run": tag, "reviewed": "yes"}
    assert client.chat.completions.retrieve(created.id).metadata == {"run": tag, "reviewed": "yes"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.update(created.id, metadata={f"k{i}": "v" for i in range(17)})
    assert caught.value.body["code"] == "object_above_max_properties"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.update("chatcmpl-nope", metadata={})


def test_metadata_over_the_limits_is_refused_on_create(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], store=True,
                                       metadata={"key": "x" * 513})
    assert caught.value.body["param"] == "metadata.key"


def test_delete_answers_the_deleted_object_then_404(client, server, tag):
    created = store(client, tag).parse()
    raw = httpx.delete(server.base_url + f"/v1/chat/completions/{created.id}")
    assert raw.status_code == 200
    validate("ChatCompletionDeleted", raw.json())
    assert raw.json() == {"object": "chat.completion.deleted", "id": created.id, "deleted": True}
    for call in (lambda: client.chat.completions.retrieve(created.id),
                 lambda: client.chat.completions.delete(created.id),
                 lambda: client.chat.completions.messages.list(created.id)):
        with pytest.raises(openai.NotFoundError):
            call()


def test_the_messages_list_holds_the_input_messages_with_ids(client, server, tag):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": "this."}]},
        {"role": "assistant", "content": "Which one?"},
        {"role": "user", "content": "The first.", "name": "ann"},
    ]
    created = client.chat.completions.create(model=MODEL, messages=messages, store=True, metadata={"run": tag})
    page = client.chat.completions.messages.list(created.id, limit=2)
    assert [m.id for m in page.data] == [f"{created.id}-0", f"{created.id}-1"] and page.has_more
    everything = list(client.chat.completions.messages.list(created.id, limit=2))
    assert [(m.role, m.content) for m in everything] == [
        ("system", "You are terse."), ("user", "Describe this."), ("assistant", "Which one?"), ("user", "The first.")]
    assert everything[1].content_parts[0].text == "Describe " and everything[0].content_parts is None
    newest = client.chat.completions.messages.list(created.id, order="desc", limit=1)
    assert newest.data[0].id == f"{created.id}-3"
    raw = httpx.get(server.base_url + f"/v1/chat/completions/{created.id}/messages").json()
    # The spec's item schema (a ChatCompletionResponseMessage: role "assistant", `refusal` required) contradicts its
    # own example of this list (a user message with id, role, content, name, content_parts): the example is followed.
    assert set(raw) == {"object", "data", "first_id", "last_id", "has_more"} and raw["object"] == "list"
    assert raw["data"][0] == {"id": f"{created.id}-0", "role": "system", "content": "You are terse.", "name": None,
                              "content_parts": None}


def test_workers_share_the_stored_completions(tmp_path):
    from conftest import start_server

    server = start_server(tmp_path, {"metrics": {"enable": False}, "state": {"path": str(tmp_path / "state.db")}},
                          args=["--processes", "2"])
    try:
        tag = uuid.uuid4().hex[:12]
        # Fresh connections land on either worker: every one of them sees every completion.
        ids = []
        for i in range(6):
            with server.client(max_retries=0) as client:
                ids.append(store(client, tag, f"Question {i}").parse().id)
        for completion_id in ids:
            with server.client(max_retries=0) as client:
                assert client.chat.completions.retrieve(completion_id).id == completion_id
        with server.client(max_retries=0) as client:
            assert [c.id for c in client.chat.completions.list(metadata={"run": tag}, limit=100)] == ids
    finally:
        server.stop()
