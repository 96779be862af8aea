"""Stored chat completions: `store: true` keeps a completion (with its `metadata` and input messages) in the shared
state store; GET /v1/chat/completions lists them (filters `model`, `metadata[key]=value`, `after`, `limit`, `order`),
GET / POST (metadata) / DELETE /v1/chat/completions/{id}, and GET /v1/chat/completions/{id}/messages.

Shapes: the spec's ChatCompletionList, ChatCompletionDeleted, ChatCompletionMessageList and the stored object of its
"Get chat completion" example (request_id, seed, sampling parameters, tools, metadata, response_format next to the
completion's own fields). Collections: `chat_completions` and `chat_completion_messages` (parent: the completion).
"""

from __future__ import annotations

import re
from typing import Any

from ... import errors, respond
from ...core import Call, Engine
from ...errors import ApiError
from ...types import Outcome
from ...validation import parse_json_object
from ..paging import list_page, page_query

COMPLETIONS = "chat_completions"
MESSAGES = "chat_completion_messages"
PREFIX = "/v1/chat/completions/"
METADATA_MAX_KEYS = 16  # the spec's Metadata: 16 pairs, keys up to 64 characters, values up to 512
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512
_METADATA_QUERY = re.compile(r"^metadata\[(.+)\]$")
# Echoed on the stored object with the API's defaults when the request left them out (the spec's example).
_ECHOED_DEFAULTS = {"seed": None, "top_p": 1.0, "temperature": 1.0, "presence_penalty": 0.0,
                    "frequency_penalty": 0.0, "tool_choice": None, "tools": None, "response_format": None}


def register(engine: Engine) -> None:
    engine.route("GET", "/v1/chat/completions", "chat.completions.list", list_completions)
    engine.route("GET", PREFIX + "{id}", "chat.completions.retrieve", retrieve)
    engine.route("POST", PREFIX + "{id}", "chat.completions.update", update)
    engine.route("DELETE", PREFIX + "{id}", "chat.completions.delete", delete)
    engine.route("GET", PREFIX + "{id}/messages", "chat.completions.messages", list_messages)


# ---- the write from the chat pipeline -----------------------------------------------------------------------------


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """The spec's Metadata rules with OpenAI's messages (too many properties: the Responses API's 400 wording)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.invalid_type(param, "an object", value)
    if len(value) > METADATA_MAX_KEYS:
        raise ApiError(400, f"Invalid '{param}': too many properties. Expected an object with at most "
                       f"{METADATA_MAX_KEYS} properties, but got an object with {len(value)} properties instead.",
                       param=param, code="object_above_max_properties")
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY:
            raise ApiError(400, f"Invalid '{param}': metadata keys must be at most {METADATA_MAX_KEY} characters, "
                           f"but got a key with {len(key)} characters.", param=param, code="invalid_value")
        if not isinstance(item, str):
            raise errors.invalid_type(f"{param}.{key}", "a string", item)
        if len(item) > METADATA_MAX_VALUE:
            raise errors.string_too_long(f"{param}.{key}", METADATA_MAX_VALUE, len(item))
    return dict(value)


def save(call: Call, payload: dict[str, Any], raw: dict[str, Any]) -> None:
    """Keeps a completion created with `store: true`: the object GET returns and its input messages."""
    metadata = check_metadata(raw.get("metadata"))
    stored = dict(payload)
    stored["request_id"] = call.request_id
    for name, default in _ECHOED_DEFAULTS.items():
        stored[name] = raw.get(name, default)
    stored["input_user"] = raw.get("user")
    stored["metadata"] = metadata
    created = call.services.wall_clock()
    state = call.services.state
    doc = {"completion": stored, "_model_asked": raw.get("model")}
    state.put(COMPLETIONS, payload["id"], doc, created_at=created)
    for index, message in enumerate(raw.get("messages") or []):
        item = _stored_message(f"{payload['id']}-{index}", message)
        state.put(MESSAGES, item["id"], item, parent=payload["id"], created_at=created)


def _stored_message(message_id: str, message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    parts = None
    if isinstance(content, list):  # content parts: kept as parts, and their text as the content
        parts = [p for p in content if isinstance(p, dict) and p.get("type") in ("text", "image_url")]
        content = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
    item: dict[str, Any] = {"id": message_id, "role": message.get("role"), "content": content,
                            "name": message.get("name"), "content_parts": parts}
    for extra in ("tool_calls", "tool_call_id", "function_call", "refusal", "audio"):
        if message.get(extra) is not None:
            item[extra] = message[extra]
    return item


# ---- the routes ---------------------------------------------------------------------------------------------------


def list_completions(call: Call) -> Outcome:
    query = page_query(call, default_order="asc")
    models = call.request.query_values("model")
    wanted_model = models[-1] if models else None
    wanted_metadata = {}
    for name, value in call.request.query:
        match = _METADATA_QUERY.match(name)
        if match:
            wanted_metadata[match.group(1)] = value

    def matches(doc: dict[str, Any]) -> bool:
        completion = doc["completion"]
        if wanted_model and wanted_model not in (completion.get("model"), doc.get("_model_asked")):
            return False
        metadata = completion.get("metadata") or {}
        return all(metadata.get(key) == value for key, value in wanted_metadata.items())

    state = call.services.state
    docs, has_more = state.list(COMPLETIONS, order=query.order, after=query.after, limit=query.limit, where=matches)
    return respond.json_outcome(list_page([doc["completion"] for doc in docs], has_more))


def retrieve(call: Call) -> Outcome:
    return respond.json_outcome(_load(call, _completion_id(call))["completion"])


def update(call: Call) -> Outcome:
    completion_id = _completion_id(call)
    body = parse_json_object(call.request.body)
    for name in body:
        if name != "metadata":
            raise errors.unrecognized_argument(name)
    if "metadata" not in body:
        raise errors.missing_parameter("metadata")
    metadata = check_metadata(body["metadata"])

    def change(doc: dict[str, Any]) -> dict[str, Any]:
        doc["completion"]["metadata"] = metadata  # the update replaces the whole map
        return doc

    doc = call.services.state.update(COMPLETIONS, completion_id, change)
    if doc is None:
        raise _not_found(completion_id)
    return respond.json_outcome(doc["completion"])


def delete(call: Call) -> Outcome:
    completion_id = _completion_id(call)
    state = call.services.state
    if not state.delete(COMPLETIONS, completion_id):
        raise _not_found(completion_id)
    state.delete_children(MESSAGES, completion_id)
    return respond.json_outcome({"object": "chat.completion.deleted", "id": completion_id, "deleted": True})


def list_messages(call: Call) -> Outcome:
    completion_id = call.request.path[len(PREFIX):].split("/", 1)[0]
    _load(call, completion_id)
    query = page_query(call, default_order="asc")
    state = call.services.state
    docs, has_more = state.list(MESSAGES, parent=completion_id, order=query.order, after=query.after,
                                limit=query.limit)
    return respond.json_outcome(list_page(docs, has_more))


def _completion_id(call: Call) -> str:
    return call.request.path[len(PREFIX):]


def _load(call: Call, completion_id: str) -> dict[str, Any]:
    doc = call.services.state.get(COMPLETIONS, completion_id)
    if doc is None:
        raise _not_found(completion_id)
    return doc


def _not_found(completion_id: str) -> ApiError:
    # Wording modelled on the Responses API's "Response with id '…' not found." -- unconfirmed for this route.
    return ApiError(404, f"Chat completion with id '{completion_id}' not found.", param=None, code=None)
