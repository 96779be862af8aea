"""The stored-response routes through the official SDK against a real server: retrieve (with include and stream
replay), delete, cancel's 400 for a foreground response, input_items paging, compact, and the 404s for unknown ids."""

from __future__ import annotations

import sqlite3

import httpx
import openai
import pytest

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import stored_state_server

    yield from stored_state_server(tmp_path_factory, "stored")


@pytest.fixture
def client(server):
    return server.client()


def test_retrieve_returns_what_create_returned(client):
    created = client.responses.create(model="gpt-4o-mini", input="Name three rivers.", metadata={"k": "v"})
    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert fetched.output_text == created.output_text and fetched.metadata == {"k": "v"}


def test_unknown_and_malformed_ids(client):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.responses.retrieve("resp_0123456789abcdef0069cdf58e00988193ae7bf8faf7d7cbed")
    assert unknown.value.body["message"] == ("Response with id 'resp_0123456789abcdef0069cdf58e00988193ae7bf8faf7d7cbed'"
                                            " not found.")
    assert unknown.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as malformed:
        client.responses.retrieve("msg_123")
    assert malformed.value.body["param"] == "response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.delete("resp_0123456789abcdef0069cdf58e00988193ae7bf8faf7d7cbed")
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_0123456789abcdef0069cdf58e00988193ae7bf8faf7d7cbed")


def test_delete_removes_the_response_and_breaks_the_chain(server, client):
    created = client.responses.create(model="gpt-4o-mini", input="Remember the number 7.")
    raw = httpx.delete(f"{server.api_url}/responses/{created.id}")
    assert raw.status_code == 200
    assert raw.json() == {"id": created.id, "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as chained:
        client.responses.create(model="gpt-4o-mini", input="Which number?", previous_response_id=created.id)
    assert chained.value.body["code"] == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def _referencing(client, item_id: str):
    return client.responses.create(model="gpt-4o-mini", input=[{"type": "item_reference", "id": item_id},
                                                               {"role": "user", "content": "Go on."}])


def test_an_item_reference_brings_back_a_stored_item(client):
    first = client.responses.create(model="gpt-4o-mini", input="Name a river.")
    asked = client.responses.input_items.list(first.id).data[0]
    for item in (first.output[0], asked):
        follow_up = _referencing(client, item.id)
        brought = client.responses.input_items.list(follow_up.id, order="asc").data[0]
        assert brought.model_dump() == item.model_dump()


def test_a_referenced_item_outlives_a_response_that_referenced_it_but_not_its_own(server, client):
    first = client.responses.create(model="gpt-4o-mini", input="Name a mountain.")
    answer = first.output[0].id
    second = _referencing(client, answer)
    assert httpx.delete(f"{server.api_url}/responses/{second.id}").status_code == 200
    third = _referencing(client, answer)  # still the first response's item
    for response in (third, first):  # each response that holds it
        assert httpx.delete(f"{server.api_url}/responses/{response.id}").status_code == 200
    with pytest.raises(openai.NotFoundError) as gone:
        _referencing(client, answer)
    assert gone.value.body["param"] == "input"


def test_a_stored_response_is_one_document_in_the_store(server, client):
    """Its items are found through it (each more document was pages more written on every commit: README "State");
    an item taken from another response keeps a document of its own."""
    path = server.log_path.parent / "state.sqlite3"  # stored_state_server's
    assert path.exists()

    def documents() -> int:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT count(*) FROM docs").fetchone()[0]

    before = documents()
    first = client.responses.create(model="gpt-4o-mini", input="Name a lake.")
    assert documents() == before + 1
    _referencing(client, first.output[0].id)
    assert documents() == before + 3  # the second response and the item it took from the first


def test_store_false_is_not_retrievable(client):
    created = client.responses.create(model="gpt-4o-mini", input="Do not keep this.", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_cancel_of_a_foreground_response_is_refused(client):
    created = client.responses.create(model="gpt-4o-mini", input="Hello")
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.cancel(created.id)
    assert refused.value.body["message"] == "Cannot cancel a synchronous response."
    assert client.responses.retrieve(created.id).status == "completed"


def test_input_items_pages_in_both_orders(client):
    texts = [f"message number {n}" for n in range(7)]
    created = client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": t} for t in texts])
    newest_first = client.responses.input_items.list(created.id)
    assert [item.content[0].text for item in newest_first.data] == texts[::-1]
    assert all(item.id.startswith("msg_") and item.id[4:20] == created.id[5:21] for item in newest_first.data)
    assert newest_first.has_more is False
    page = client.responses.input_items.list(created.id, order="asc", limit=3)
    assert [item.content[0].text for item in page.data] == texts[:3]
    assert page.has_more is True and page.first_id == page.data[0].id and page.last_id == page.data[-1].id
    walked = [item.content[0].text for item in client.responses.input_items.list(created.id, order="asc", limit=2)]
    assert walked == texts  # the SDK's auto-paging follows `after` with last_id
    with pytest.raises(openai.BadRequestError) as bad_limit:
        client.responses.input_items.list(created.id, limit=101)
    assert bad_limit.value.body["param"] == "limit"


def test_input_items_of_a_chain_are_the_turns_own(client):
    first = client.responses.create(model="gpt-4o-mini", input="First turn.")
    second = client.responses.create(model="gpt-4o-mini", input="Second turn.", previous_response_id=first.id)
    items = client.responses.input_items.list(second.id).data
    assert [item.content[0].text for item in items] == ["Second turn."]
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens  # the chain is re-billed


def test_include_controls_reasoning_blobs_on_retrieve(client):
    created = client.responses.create(model="gpt-5-mini", input="Think about 2+2.",
                                      include=["reasoning.encrypted_content"], reasoning={"effort": "low"})
    reasoning = [item for item in created.output if item.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content
    plain = client.responses.retrieve(created.id)
    assert all(item.encrypted_content is None for item in plain.output if item.type == "reasoning")
    included = client.responses.retrieve(created.id, include=["reasoning.encrypted_content"])
    assert [i.encrypted_content for i in included.output if i.type == "reasoning"] == [reasoning[0].encrypted_content]
    with pytest.raises(openai.BadRequestError):
        client.responses.retrieve(created.id, include=["nonsense.field"])  # type: ignore[list-item]


def test_stream_replay_resumes_with_the_original_numbers(client):
    with client.responses.create(model="gpt-4o-mini", input="Tell me a short story.", stream=True) as stream:
        original = [event.model_dump() for event in stream]
    response_id = original[0]["response"]["id"]
    assert [e["sequence_number"] for e in original] == list(range(len(original)))
    cut = len(original) // 2
    with client.responses.retrieve(response_id, stream=True, starting_after=cut) as replay:
        resumed = [event.model_dump() for event in replay]
    assert resumed == original[cut + 1:]
    with client.responses.retrieve(response_id, stream=True) as replay:
        assert [event.model_dump() for event in replay] == original


def test_a_non_streamed_response_can_still_be_streamed_on_retrieve(client):
    created = client.responses.create(model="gpt-4o-mini", input="Say hi.")
    with client.responses.retrieve(created.id, stream=True) as replay:
        events = list(replay)
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == created.output_text
    # The stream's snapshot is the stored response less `billing`, which no streamed snapshot carries.
    assert events[-1].response.model_dump() == {k: v for k, v in created.model_dump().items() if k != "billing"}


def test_compact_keeps_user_messages_and_adds_one_compaction_item(client):
    first = client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
    second = client.responses.create(model="gpt-4o-mini", input="I like owls.", previous_response_id=first.id)
    compacted = client.responses.compact(model="gpt-4o-mini", previous_response_id=second.id,
                                         input="What do you know about me?")
    assert compacted.object == "response.compaction"
    kinds = [item.type for item in compacted.output]
    assert kinds == ["message", "message", "message", "compaction"]
    assert [item.content[0].text for item in compacted.output[:3]] == [
        "My name is Ada.", "I like owls.", "What do you know about me?"]
    compaction = compacted.output[-1]
    assert compaction.id.startswith("cmp_") and compaction.encrypted_content.startswith("gAAAA")
    assert compacted.id.startswith("resp_") and compacted.id[21:23] == "01"  # compactions put 01 where responses 00
    usage = compacted.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens and usage.input_tokens > 0
    raw = client.responses.with_raw_response.compact(model="gpt-4o-mini", input="Summarise me.")
    assert float(raw.headers["x-sentra-cost-usd"]) > 0  # a compaction is billed like a model pass
    follow_up = client.responses.create(model="gpt-4o-mini",
                                        input=[item.model_dump(exclude_none=True) for item in compacted.output]
                                        + [{"role": "user", "content": "And now?"}])
    assert follow_up.status == "completed"


def test_compact_of_nothing_but_instructions(client):
    compacted = client.responses.compact(model="gpt-4o-mini", instructions="Be brief.")  # both sources are optional
    assert [item.type for item in compacted.output] == ["compaction"]


def test_compact_errors(client):
    with pytest.raises(openai.BadRequestError) as bad_input:
        client.responses.compact(model="gpt-4o-mini", input=42)  # type: ignore[arg-type]
    assert bad_input.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as unknown_field:
        client.responses.with_raw_response.compact(model="gpt-4o-mini", input="x", extra_body={"temperature": 1})
    assert "temperature" in unknown_field.value.body["message"]
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.compact(model="gpt-4o-mini", previous_response_id="resp_nope")
    assert unknown.value.body["code"] == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        client.responses.compact(model="no-such-model", input="hi")
