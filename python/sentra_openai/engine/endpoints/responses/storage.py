"""The create route's state hooks, in one place: the chain of `previous_response_id`, items sent back by id, the
conversation's history, and saving the response. They call the state-store developer's `stored` and
`conversations` modules (/tmp/team/STORED_API.md) when those exist; until then a minimal version on the state
store (`call.services.state`, collection `responses`) keeps chains working.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from ...core import Call
from ...errors import ApiError

# The state-store developer's modules (engine/endpoints/responses/stored.py, engine/endpoints/conversations), when
# present: an ImportError inside them must not pass for their absence.
_stored = importlib.import_module(f"{__package__}.stored") if importlib.util.find_spec(f"{__package__}.stored") else None
_conversations = (importlib.import_module("sentra_openai.engine.endpoints.conversations")
                  if importlib.util.find_spec("sentra_openai.engine.endpoints.conversations") else None)


def previous_not_found(response_id: str) -> ApiError:
    """OpenAI's 400 for an unknown previous_response_id (responses-api.md §1.5)."""
    return ApiError(400, f"Previous response with id '{response_id}' not found.", param="previous_response_id",
                    code="previous_response_not_found")


def item_not_found(item_id: str) -> ApiError:
    """404 for an item sent back by id that was never stored (its response had store: false; §1.5)."""
    return ApiError(404, f"Item with id '{item_id}' not found. Items are not persisted when `store` is set to false. "
                         "Try again with `store` set to true, or remove this item from your input.", param="input")


def chain_items(call: Call, previous_response_id: str) -> list[dict[str, Any]]:
    """Every item of the chain that ends at `previous_response_id`, oldest first (inputs, then outputs, per turn)."""
    if _stored is not None:
        return _stored.chain_items(call, previous_response_id)
    turns = []
    current: str | None = previous_response_id
    while current:
        doc = call.services.state.get("responses", current)
        if doc is None:
            raise previous_not_found(previous_response_id)
        turns.append(doc)
        current = doc["response"].get("previous_response_id")
    items: list[dict[str, Any]] = []
    for doc in reversed(turns):
        items.extend(doc.get("input_items") or [])
        items.extend(doc["response"].get("output") or [])
    return items


def load_response(call: Call, response_id: str) -> dict[str, Any] | None:
    if _stored is not None:
        return _stored.load_response(call, response_id)
    doc = call.services.state.get("responses", response_id)
    return doc["response"] if doc else None


def find_item(call: Call, item_id: str) -> dict[str, Any] | None:
    if _stored is not None:
        return _stored.find_item(call, item_id)
    return call.services.state.get("items", item_id)


def conversation_items(call: Call, conversation_id: str) -> list[dict[str, Any]]:
    if _conversations is not None:
        return _conversations.conversation_items(call, conversation_id)
    raise ApiError(404, f"Conversation with id '{conversation_id}' not found.", param="conversation")


def normalize_input(call: Call, request_input: Any, response_id: str) -> list[dict[str, Any]]:
    """The request's `input` as stored item resources (ids sharing the response's prefix)."""
    if _stored is not None:
        return _stored.normalize_input(call, request_input, response_id)
    if isinstance(request_input, str):
        return [{"type": "message", "role": "user", "content": request_input}]
    return list(request_input or [])


def save(call: Call, response: dict[str, Any], input_items: list[dict[str, Any]], events: list[dict[str, Any]] | None,
         timeline: Any = None, also: list[tuple[str, str, dict[str, Any], str | None]] = ()) -> None:
    """`also`: more documents, (collection, id, doc, parent) each, written in the same transaction."""
    if not response.get("store"):
        return
    if _stored is not None:
        _stored.save_response(call, response, input_items, events=events, timeline=timeline, also=also)
        return
    state = call.services.state
    now = call.services.wall_clock()
    for collection, id, doc, parent in also:
        state.put(collection, id, doc, parent=parent, created_at=now)
    state.put("responses", response["id"], {"response": response, "input_items": input_items, "events": events or []},
              created_at=now)
    for item in [*input_items, *response.get("output", [])]:
        if isinstance(item.get("id"), str):
            state.put("items", item["id"], item, created_at=now)


def append_to_conversation(call: Call, conversation_id: str, input_items: list[dict[str, Any]],
                           output: list[dict[str, Any]]) -> None:
    if _conversations is not None:
        _conversations.append_to_conversation(call, conversation_id, input_items, output)


def timeline(starts_in: float, completes_in: float, offsets: list[float] | None) -> Any:
    if _stored is not None and hasattr(_stored, "Timeline"):
        return _stored.Timeline(starts_in=starts_in, completes_in=completes_in, event_offsets=offsets)
    return None


def queued_view(response: dict[str, Any]) -> dict[str, Any]:
    if _stored is not None:
        return _stored.queued_view(response)
    return {**response, "status": "queued", "output": [], "usage": None, "completed_at": None}


def background_events(events: list[tuple[float, dict[str, Any]]]) -> list[tuple[float, dict[str, Any]]]:
    """(deadline, event) of a stream rewritten as a background stream (created queued, then queued, ...)."""
    if _stored is None:
        return events
    rewritten, offsets = _stored.background_events([e for _, e in events], [due for due, _ in events])
    return list(zip(offsets, rewritten))


def cancel_watch(call: Call, response_id: str, every: float) -> Callable[[], bool]:
    """Whether the background response being streamed was cancelled (by any request of any worker: the state store
    is shared), read at most once per `every` seconds of wall time so that a stream stays cheap."""
    state, clock = call.services.state, call.services.wall_clock
    seen = {"read_at": float("-inf"), "cancelled": False}

    def cancelled() -> bool:
        now = clock()
        if seen["cancelled"] or now - seen["read_at"] < every:
            return seen["cancelled"]
        seen["read_at"] = now
        # The small flag the cancel route writes (stored.CANCELS), not the response with all its events.
        seen["cancelled"] = state.get("response_cancels", response_id) is not None
        return seen["cancelled"]

    return cancelled
