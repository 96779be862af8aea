"""Conversations: POST /v1/conversations, GET / POST (update) / DELETE /v1/conversations/{id}, and its items (list,
create, retrieve, delete); plus what a response with `conversation` calls to read and extend one
(/tmp/team/STORED_API.md).

Shapes: the spec's ConversationResource, DeletedConversationResource, ConversationItemList, CreateConversationBody
(at most 20 items at a time), UpdateConversationBody (shared/data/openapi) and the SDK (deleting an item returns the
conversation). Ids: `conv_` + the creation time in hex + 40 hex, as real conversation ids look. Not-found
messages follow the wording of OpenAI's other 404s for stored objects ("… with id '…' not found.").
"""

from __future__ import annotations

from typing import Any

from .. import errors, respond
from ..core import Call, Engine
from ..errors import ApiError
from ..types import Outcome
from ..validation import check_metadata, parse_json_object
from .paging import list_page, page_query
from .responses import request as response_request
from .responses import stored

CONVERSATIONS = "conversations"
ITEMS = "conversation_items"  # id "<conversation id>/<item id>", parent = the conversation
MAX_ITEMS_PER_CALL = 20
INCLUDABLE = stored.INCLUDABLE


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/conversations", "conversations.create", create_conversation)
    engine.route("GET", "/v1/conversations/", "conversations.retrieve", retrieve_conversation, prefix=True)
    engine.route("POST", "/v1/conversations/", "conversations.update", update_conversation, prefix=True)
    engine.route("DELETE", "/v1/conversations/", "conversations.delete", delete_conversation, prefix=True)
    engine.route("GET", "/v1/conversations/{id}/items", "conversations.items.list", list_items)
    engine.route("POST", "/v1/conversations/{id}/items", "conversations.items.create", create_items)
    engine.route("GET", "/v1/conversations/{id}/items/{item}", "conversations.items.retrieve", retrieve_item)
    engine.route("DELETE", "/v1/conversations/{id}/items/{item}", "conversations.items.delete", delete_item)


# ---- what a response with `conversation` calls ---------------------------------------------------------------------


def conversation_items(call: Call, conversation_id: str) -> list[dict[str, Any]]:
    """Every item of the conversation, oldest first (the context a response in it sees). 404 when unknown."""
    _conversation(call, conversation_id)
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page, more = call.services.state.list(ITEMS, parent=conversation_id, order="asc", after=after, limit=100)
        items.extend(entry["item"] for entry in page)
        if not more:
            return items
        after = page[-1]["key"]


def append_to_conversation(call: Call, conversation_id: str, input_items: list[dict[str, Any]],
                           output_items: list[dict[str, Any]]) -> None:
    """Adds a response's input items, then its output items, to the conversation. 404 when unknown."""
    _conversation(call, conversation_id)
    _store_items(call, conversation_id, [*input_items, *output_items])


# ---- helpers -------------------------------------------------------------------------------------------------------


def not_found(conversation_id: str) -> ApiError:
    return ApiError(404, f"Conversation with id '{conversation_id}' not found.")


def _conversation(call: Call, conversation_id: str) -> dict[str, Any]:
    doc = call.services.state.get(CONVERSATIONS, conversation_id)
    if doc is None:
        raise not_found(conversation_id)
    return doc


def _segments(call: Call) -> list[str]:
    return call.request.path.rstrip("/").split("/")


def _conversation_id(call: Call) -> str:
    conversation_id = _segments(call)[3]
    if not conversation_id.startswith("conv"):
        raise ApiError(400, f"Invalid 'conversation_id': '{conversation_id}'. Expected an ID that begins with 'conv'.",
                       param="conversation_id")
    return conversation_id


def _new_conversation_id(call: Call) -> str:
    return f"conv_{int(call.services.wall_clock()):08x}{call.id_rng.getrandbits(160):040x}"


def _check_items(raw: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise errors.invalid_type(param, "an array", raw)
    if len(raw) > MAX_ITEMS_PER_CALL:
        raise errors.array_too_long(param, MAX_ITEMS_PER_CALL, len(raw))
    for index, item in enumerate(raw):
        try:
            # The same item rules as a create's `input` (the responses package's checker), named after `items`.
            response_request._check_item(item, index)
        except ApiError as exc:
            exc.message = exc.message.replace(f"input[{index}]", f"{param}[{index}]")
            exc.param = exc.param.replace(f"input[{index}]", f"{param}[{index}]", 1) if exc.param else exc.param
            raise
    return raw


def _store_items(call: Call, conversation_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    normalized = stored.normalize_input(call, items, None)
    keys = [f"{conversation_id}/{item['id']}" for item in normalized]
    call.services.state.put_many([(ITEMS, key, {"key": key, "item": item}, conversation_id)
                                  for key, item in zip(keys, normalized)], created_at=call.services.wall_clock())
    return normalized


def _body(call: Call) -> dict[str, Any]:
    return parse_json_object(call.request.body) if call.request.body.strip() else {}


def _known(body: dict[str, Any], names: set[str]) -> None:
    for name in body:
        if name not in names:
            raise errors.unrecognized_argument(name)


# ---- routes --------------------------------------------------------------------------------------------------------


def create_conversation(call: Call) -> Outcome:
    body = _body(call)
    _known(body, {"items", "metadata"})
    metadata = check_metadata(body.get("metadata"))
    items = _check_items(body["items"], "items") if body.get("items") is not None else []
    now = call.services.wall_clock()
    conversation_id = _new_conversation_id(call)
    conversation = {"id": conversation_id, "object": "conversation", "created_at": int(now), "metadata": metadata}
    call.services.state.put(CONVERSATIONS, conversation_id, conversation, created_at=now)
    _store_items(call, conversation_id, items)
    return respond.json_outcome(conversation)


def retrieve_conversation(call: Call) -> Outcome:
    return respond.json_outcome(_conversation(call, _conversation_id(call)))


def update_conversation(call: Call) -> Outcome:
    conversation_id = _conversation_id(call)
    body = _body(call)
    _known(body, {"metadata"})
    if "metadata" not in body:
        raise errors.missing_parameter("metadata")
    metadata = check_metadata(body["metadata"])
    updated = call.services.state.update(CONVERSATIONS, conversation_id, lambda doc: {**doc, "metadata": metadata})
    if updated is None:
        raise not_found(conversation_id)
    return respond.json_outcome(updated)


def delete_conversation(call: Call) -> Outcome:
    conversation_id = _conversation_id(call)
    if not call.services.state.delete(CONVERSATIONS, conversation_id):
        raise not_found(conversation_id)
    call.services.state.delete_children(ITEMS, conversation_id)
    return respond.json_outcome({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


def list_items(call: Call) -> Outcome:
    conversation_id = _conversation_id(call)
    query = page_query(call, includable=INCLUDABLE)
    _conversation(call, conversation_id)
    after = f"{conversation_id}/{query.after}" if query.after else None
    page, more = call.services.state.list(ITEMS, parent=conversation_id, order=query.order, after=after,
                                          limit=query.limit)
    return respond.json_outcome(list_page([entry["item"] for entry in page], more))


def create_items(call: Call) -> Outcome:
    conversation_id = _conversation_id(call)
    page_query(call, includable=INCLUDABLE)  # validates include[]
    body = _body(call)
    _known(body, {"items"})
    if "items" not in body:
        raise errors.missing_parameter("items")
    items = _check_items(body["items"], "items")
    _conversation(call, conversation_id)
    return respond.json_outcome(list_page(_store_items(call, conversation_id, items), False))


def retrieve_item(call: Call) -> Outcome:
    conversation_id = _conversation_id(call)
    item_id = _segments(call)[5]
    _conversation(call, conversation_id)
    entry = call.services.state.get(ITEMS, f"{conversation_id}/{item_id}")
    if entry is None:
        raise ApiError(404, f"Item with id '{item_id}' not found.")
    return respond.json_outcome(entry["item"])


def delete_item(call: Call) -> Outcome:
    conversation_id = _conversation_id(call)
    item_id = _segments(call)[5]
    conversation = _conversation(call, conversation_id)
    if not call.services.state.delete(ITEMS, f"{conversation_id}/{item_id}"):
        raise ApiError(404, f"Item with id '{item_id}' not found.")
    return respond.json_outcome(conversation)
