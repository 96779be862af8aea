"""Stored responses: GET / DELETE /v1/responses/{id}, POST /v1/responses/{id}/cancel, GET
/v1/responses/{id}/input_items; and what the create side calls to store a response, follow a previous_response_id
chain and find an item sent back by id (/tmp/team/STORED_API.md).

Routes and shapes: shared/reference/responses-api.md §1.4; errors §1.5. Messages the reference does not quote
(404 for an unknown id, 400 for an id without the `resp` prefix, 400 for cancelling a foreground response) follow
vLLM's and SGLang's OpenAI-compatible servers, which copy OpenAI's wording.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ....state.sqlite import SqliteStore
from ... import errors, respond
from ...core import Call, Engine
from ...errors import ApiError
from ...types import Outcome
from ..paging import list_page, page_query
from .background import Timeline, background_events, is_done, queued_view, replay_plan, synthetic_events, visible

__all__ = [
    "Timeline", "background_events", "chain_items", "find_item", "item_not_found", "load_response",
    "normalize_input", "queued_view", "register", "save_response",
]

RESPONSES = "responses"
# Stored items by id (item_reference), parent = their response: only those whose id does not carry their response's
# prefix (a client's own ids, items taken from other responses). An item made for a response is found in the
# response's document, by the 16-hex prefix their ids share (`find_item`): one row per stored response instead of
# one per item, each row in SQLite another page or two written per commit (README "State").
ITEMS = "items"
PREFIX_SCAN = 8  # responses with one prefix searched for an item at most (the prefix is 64 random bits: one, really)
CANCELS = "response_cancels"  # response id -> {"cancelled_at"}: what a background stream in progress watches
INCLUDABLE = [
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url", "code_interpreter_call.outputs",
    "reasoning.encrypted_content", "message.output_text.logprobs",
]
ITEM_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs",
                 "web_search_call": "ws", "file_search_call": "fs", "code_interpreter_call": "ci",
                 "image_generation_call": "ig", "compaction": "cmp"}


def register(engine: Engine) -> None:
    engine.route("GET", "/v1/responses/", "responses.retrieve", retrieve_response, prefix=True)
    engine.route("DELETE", "/v1/responses/", "responses.delete", delete_response, prefix=True)
    engine.route("POST", "/v1/responses/{id}/cancel", "responses.cancel", cancel_response)
    engine.route("GET", "/v1/responses/{id}/input_items", "responses.input_items", list_input_items)


# ---- what the create side calls ------------------------------------------------------------------------------------


def item_id(call: Call, kind: str, response_id: str | None) -> str:
    """An item id of the real form: the response's 16-hex prefix, `00`, the creation time in hex, 24 random hex
    (reference §1.6)."""
    prefix = ITEM_PREFIXES.get(kind, "item")
    shared = (_prefix(response_id) if response_id else None) or f"{call.id_rng.getrandbits(64):016x}"
    created = int(call.services.wall_clock())
    return f"{prefix}_{shared}00{created:08x}{call.id_rng.getrandbits(96):024x}"


def normalize_input(call: Call, request_input: Any, response_id: str | None) -> list[dict[str, Any]]:
    """The request's `input` as the item resources input_items lists: a string becomes a user message; message
    content strings become input_text (output_text for the assistant) parts; every item gets an id."""
    if request_input is None:
        return []
    raw = [{"role": "user", "content": request_input}] if isinstance(request_input, str) else list(request_input)
    items = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        if entry.get("type") == "item_reference":
            found = find_item(call, entry.get("id", ""))
            items.append(found if found is not None else dict(entry))
            continue
        kind = entry.get("type") or "message"  # an easy input message has a role and no type
        if kind == "message":
            items.append(_message_item(call, entry, response_id))
        else:
            item = dict(entry)
            item.setdefault("id", item_id(call, kind, response_id))
            items.append({"id": item.pop("id"), "type": kind, **{k: v for k, v in item.items() if k != "type"}})
    return items


def _message_item(call: Call, entry: dict[str, Any], response_id: str | None) -> dict[str, Any]:
    role = entry.get("role", "user")
    content = entry.get("content")
    if isinstance(content, str):
        part_type = "output_text" if role == "assistant" else "input_text"
        part: dict[str, Any] = {"type": part_type, "text": content}
        if part_type == "output_text":
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": content}
        content = [part]
    return {"id": entry.get("id") or item_id(call, "message", response_id), "type": "message",
            "status": entry.get("status", "completed"), "content": content or [], "role": role}


def save_response(call: Call, response: dict[str, Any], items: list[dict[str, Any]], *,
                  events: list[dict[str, Any]] | None = None, timeline: Timeline | None = None,
                  also: Iterable[tuple[str, str, dict[str, Any], str | None]] = ()) -> None:
    """Stores a finished response (a no-op for store: false) with its input items, its stream events (for replay),
    for background mode its timeline, and the documents `also` gives (collection, id, doc, parent), all in one
    write. Readers in any worker see it as soon as this returns."""
    if response.get("store") is False:
        return
    store = call.services.state
    now = call.services.wall_clock()
    rid = response["id"]
    if response.get("background") and events and not any(e.get("type") == "response.queued" for e in events):
        # A background response's stream (replayed by GET ?stream=true) has the background form, however it was made.
        offsets = timeline.event_offsets if timeline is not None else None
        events, offsets = background_events(events, offsets)
        if timeline is not None:
            timeline = Timeline(timeline.starts_in, timeline.completes_in, offsets)
    doc = {"response": response, "input_items": items, "events": events,
           "timeline": timeline.absolute(now) if timeline is not None else None,
           "_background": bool(response.get("background")), "_cancelled_at": None}
    prefix = _prefix(rid)
    entries = [(ITEMS, item["id"], item, rid) for item in [*items, *(response.get("output") or [])]
               if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
               and (prefix is None or _prefix(item["id"]) != prefix)]
    row = (RESPONSES, rid, doc, None)
    store.put_many([*also, *entries, row], created_at=now)  # one write: all visible at once
    if not also and not entries and isinstance(store, SqliteStore):
        call.stored_row = row  # the front may write it for a replay (engine/replay.py), into this host's file


def _prefix(id_: str) -> str | None:
    """The 16 hex after an id's kind (`resp_`, `msg_` ...) that a response shares with its items (ids.py)."""
    kind, sep, rest = id_.partition("_")
    shared = rest[:16]
    if not sep or not kind or len(shared) != 16 or shared.strip("0123456789abcdef"):
        return None
    return shared


def load_response(call: Call, response_id: str) -> dict[str, Any] | None:
    """The stored response as GET shows it now (background: by its timeline), or None."""
    doc = call.services.state.get(RESPONSES, response_id)
    return None if doc is None else visible(doc, call.services.wall_clock())


def chain_items(call: Call, previous_response_id: str) -> list[dict[str, Any]]:
    """The items of a previous_response_id chain, oldest first: each response's input items, then its output."""
    store = call.services.state
    chain: list[dict[str, Any]] = []
    current: str | None = previous_response_id
    seen: set[str] = set()
    while current and current not in seen:
        seen.add(current)
        doc = store.get(RESPONSES, current)
        if doc is None:
            if current == previous_response_id:
                raise previous_response_not_found(previous_response_id)
            break  # an older link was deleted or expired: the chain starts here
        chain.append(doc)
        current = doc["response"].get("previous_response_id")
    items: list[dict[str, Any]] = []
    now = call.services.wall_clock()
    for doc in reversed(chain):
        items.extend(doc.get("input_items") or [])
        items.extend(visible(doc, now).get("output") or [])
    return items


def find_item(call: Call, item_id_: str) -> dict[str, Any] | None:
    """An item of a stored response by its id (for item_reference), or None: its own document, or else the item of
    that id in a stored response whose ids share its prefix (save_response)."""
    if not item_id_:
        return None
    store = call.services.state
    found = store.get(ITEMS, item_id_)
    prefix = _prefix(item_id_)
    if found is not None or prefix is None:
        return found
    docs = store.with_id_prefix(RESPONSES, f"resp_{prefix}", limit=PREFIX_SCAN)
    for doc in docs:
        for item in [*(doc.get("input_items") or []), *(doc["response"].get("output") or [])]:
            if isinstance(item, dict) and item.get("id") == item_id_:
                return item
    return None


def previous_response_not_found(response_id: str) -> ApiError:
    # reference §1.5 [3P maximhq/bifrost#2441]
    return ApiError(400, f"Previous response with id '{response_id}' not found.", param="previous_response_id",
                    code="previous_response_not_found")


def item_not_found(item_id_: str) -> ApiError:
    """An item sent back by id that no stored response has (e.g. from a store: false response), reference §1.5."""
    return ApiError(404, f"Item with id '{item_id_}' not found. Items are not persisted when `store` is set to "
                         "false. Try again with `store` set to true, or remove this item from your input.",
                    param="input")


def response_not_found(response_id: str) -> ApiError:
    return ApiError(404, f"Response with id '{response_id}' not found.")


# ---- routes --------------------------------------------------------------------------------------------------------


def _response_id(call: Call, position: int = -1) -> str:
    response_id = call.request.path.rstrip("/").split("/")[position]
    if not response_id.startswith("resp"):
        raise ApiError(400, f"Invalid 'response_id': '{response_id}'. Expected an ID that begins with 'resp'.",
                       param="response_id")
    return response_id


def _stored(call: Call, response_id: str) -> dict[str, Any]:
    doc = call.services.state.get(RESPONSES, response_id)
    if doc is None:
        raise response_not_found(response_id)
    return doc


def _includes(call: Call) -> set[str]:
    values = call.request.query_values("include[]") + call.request.query_values("include")
    for value in values:
        if value not in INCLUDABLE:
            raise errors.invalid_value("include", value, INCLUDABLE)
    return set(values)


def _shown(response: dict[str, Any], include: set[str]) -> dict[str, Any]:
    """The response with what `include` does not ask for left out: reasoning items' encrypted_content, output text
    logprobs (each request says what it wants included; the create's include does not carry over)."""
    output = []
    for item in response.get("output") or []:
        if item.get("type") == "reasoning" and "reasoning.encrypted_content" not in include and "encrypted_content" in item:
            item = {k: v for k, v in item.items() if k != "encrypted_content"}
        elif item.get("type") == "message" and "message.output_text.logprobs" not in include:
            parts = [{**part, "logprobs": []} if part.get("type") == "output_text" and part.get("logprobs") else part
                     for part in item.get("content") or []]
            item = {**item, "content": parts}
        output.append(item)
    return {**response, "output": output}


def _flag(call: Call, name: str) -> bool:
    values = call.request.query_values(name)
    if not values:
        return False
    value = values[-1].lower()
    if value not in ("true", "false", "1", "0"):
        raise errors.invalid_type(name, "a boolean", values[-1])
    return value in ("true", "1")


def retrieve_response(call: Call) -> Outcome:
    response_id = _response_id(call)
    include = _includes(call)
    stream = _flag(call, "stream")
    starting_after = None
    raw = call.request.query_values("starting_after")
    if raw:
        try:
            starting_after = int(raw[-1])
        except ValueError:
            raise errors.invalid_type("starting_after", "an integer", raw[-1]) from None
    doc = _stored(call, response_id)
    now = call.services.wall_clock()
    if not stream:
        return respond.json_outcome(_shown(visible(doc, now), include))
    events = doc.get("events") or synthetic_events(doc["response"])
    if not _flag(call, "include_obfuscation") and call.request.query_values("include_obfuscation"):
        events = [{k: v for k, v in event.items() if k != "obfuscation"} for event in events]
    plan = replay_plan(doc, events, starting_after, now)
    headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
    return Outcome(200, headers, b"", stream=plan)


def delete_response(call: Call) -> Outcome:
    response_id = _response_id(call)
    store = call.services.state
    if not store.delete(RESPONSES, response_id):
        raise response_not_found(response_id)
    store.delete_children(ITEMS, response_id)
    store.delete(CANCELS, response_id)
    # reference §1.4 [SPEC example]
    return respond.json_outcome({"id": response_id, "object": "response", "deleted": True})


def cancel_response(call: Call) -> Outcome:
    response_id = _response_id(call, -2)
    doc = _stored(call, response_id)
    if not doc.get("_background"):
        raise ApiError(400, "Cannot cancel a synchronous response.")
    now = call.services.wall_clock()

    def cancel(current: dict[str, Any]) -> dict[str, Any] | None:
        if is_done(current, now):
            return None  # finished (or cancelled) already: nothing changes
        return {**current, "_cancelled_at": now}

    updated = call.services.state.update(RESPONSES, response_id, cancel)
    if updated is None:
        raise response_not_found(response_id)
    if updated.get("_cancelled_at") == now:
        # A small flag beside the response, which a stream being sent reads without loading its events.
        call.services.state.put(CANCELS, response_id, {"cancelled_at": now}, created_at=now)
    shown = visible(updated, now)
    if shown.get("status") in ("completed", "incomplete", "failed"):
        # A response that finished cannot be cancelled: OpenAI's 400 "Cannot cancel a completed response." (real
        # api.openai.com error relayed in BerriAI/litellm#39617, 2026-09); cancelling twice returns the cancelled one.
        raise ApiError(400, f"Cannot cancel a {shown['status']} response.")
    return respond.json_outcome(_shown(shown, set()))


def list_input_items(call: Call) -> Outcome:
    response_id = _response_id(call, -2)
    query = page_query(call, includable=INCLUDABLE)
    doc = _stored(call, response_id)
    items = list(doc.get("input_items") or [])
    if query.order == "desc":
        items.reverse()
    if query.after is not None:
        ids = [item.get("id") for item in items]
        items = items[ids.index(query.after) + 1:] if query.after in ids else []
    page = items[:query.limit]
    return respond.json_outcome(list_page(page, len(items) > query.limit))
