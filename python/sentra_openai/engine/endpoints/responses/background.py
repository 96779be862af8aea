"""Background mode on the simulated timeline, and the replay of stored stream events.

No thread runs a background response: the create stores the finished response with its planned timeline (the
wall-clock times at which it starts and completes, and each stream event's due time), and every reader computes what
is visible at `services.wall_clock()` — so any worker of any host shows the same state, and a worker's death loses
nothing. A cancel records its instant (atomically); what was visible then stays, with status `cancelled`.

Shapes: shared/reference/responses-api.md §1.3 (background streams: created (queued) → queued → in_progress → …, no
`obfuscation`) and §1.4 (polling goes queued → in_progress → completed, `usage` null until completed; a cancelled
response has usage null).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ...types import Piece, StreamPlan

TERMINAL = ("completed", "incomplete", "failed", "cancelled")
FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


@dataclass
class Timeline:
    """A background response's plan, in seconds after the create (already time-scaled): when it turns in_progress,
    when it is done, and optionally each stream event's offset (one per stored event)."""

    starts_in: float
    completes_in: float
    event_offsets: list[float] | None = None

    def absolute(self, now: float) -> dict[str, Any]:
        return {
            "starts_at": now + self.starts_in,
            "completes_at": now + max(self.completes_in, self.starts_in),
            "event_due": None if self.event_offsets is None else [now + offset for offset in self.event_offsets],
        }


def queued_view(response: dict[str, Any]) -> dict[str, Any]:
    """What a background create returns at once: status queued, nothing produced yet."""
    return _in_flight(response, "queued", [])


def _in_flight(response: dict[str, Any], status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    view = dict(response)
    view["status"] = status
    view["output"] = output
    view["usage"] = None
    if view.get("moderation") is not None:  # the answer is not moderated before it is written (moderated.py)
        view["moderation"] = None
    if "completed_at" in view:
        view["completed_at"] = None
    if status in ("queued", "in_progress", "cancelled"):
        view["incomplete_details"] = None
        view["error"] = None
    return view


def visible(doc: dict[str, Any], now: float) -> dict[str, Any]:
    """The stored response as it looks at `now` (epoch seconds)."""
    response = doc["response"]
    timeline = doc.get("timeline")
    if not timeline:
        return response
    cancelled_at = doc.get("_cancelled_at")
    at = now if cancelled_at is None else min(now, cancelled_at)
    if cancelled_at is None and at >= timeline["completes_at"]:
        return response
    if at < timeline["starts_at"]:
        status, output = "queued", []
    else:
        status, output = "in_progress", _output_so_far(doc, at)
    if cancelled_at is not None and now >= cancelled_at:
        status = "cancelled"
    return _in_flight(response, status, output)


def is_done(doc: dict[str, Any], now: float) -> bool:
    timeline = doc.get("timeline")
    return (not timeline or doc.get("_cancelled_at") is not None or now >= timeline["completes_at"])


def _output_so_far(doc: dict[str, Any], at: float) -> list[dict[str, Any]]:
    """Output items whose `output_item.done` event is due by `at` (none when the events' times are unknown)."""
    events, due = doc.get("events"), (doc.get("timeline") or {}).get("event_due")
    if not events or not due:
        return []
    return [event["item"] for event, when in zip(events, due)
            if when <= at and event.get("type") == "response.output_item.done"]


def background_events(events: list[dict[str, Any]], offsets: list[float] | None = None
                      ) -> tuple[list[dict[str, Any]], list[float] | None]:
    """A normal stream rewritten as a background stream: response.created carries status queued, response.queued
    follows it, `obfuscation` is dropped, sequence numbers run from 0 again. `offsets` (one per event) gain the
    queued event's (the created event's offset)."""
    out: list[dict[str, Any]] = []
    new_offsets: list[float] | None = None if offsets is None else []
    for index, event in enumerate(events):
        event = {key: value for key, value in event.items() if key != "obfuscation"}
        if event.get("type") == "response.created":
            event["response"] = queued_view(event["response"])
            out.append(event)
            queued = {"type": "response.queued", "response": event["response"], "sequence_number": 0}
            out.append(queued)
            if new_offsets is not None and offsets is not None:
                new_offsets += [offsets[index], offsets[index]]
            continue
        if event.get("type") in ("response.in_progress",) and "response" in event:
            event["response"] = {**event["response"], "status": "in_progress"}
        out.append(event)
        if new_offsets is not None and offsets is not None:
            new_offsets.append(offsets[index])
    for number, event in enumerate(out):
        event["sequence_number"] = number
    return out, new_offsets


def synthetic_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The event sequence of a stored response that was not streamed when created: lifecycle events around each
    output item's added/done pair (and, for messages, its parts with the text in one delta), numbered from 0.
    Stream snapshots have no `billing` (every raw stream capture)."""
    response = {key: value for key, value in response.items() if key != "billing"}
    started = _in_flight(response, "in_progress", [])
    events: list[dict[str, Any]] = [{"type": "response.created", "response": started},
                                    {"type": "response.in_progress", "response": started}]
    for index, item in enumerate(response.get("output") or []):
        if item.get("type") == "message":
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": {**item, "status": "in_progress", "content": []}})
            for part_index, part in enumerate(item.get("content") or []):
                base = {"item_id": item.get("id"), "output_index": index, "content_index": part_index}
                empty = {**part, "text": ""} if part.get("type") == "output_text" else {**part, "refusal": ""}
                events.append({"type": "response.content_part.added", **base, "part": empty})
                if part.get("type") == "output_text":
                    events.append({"type": "response.output_text.delta", **base, "delta": part.get("text", ""),
                                   "logprobs": []})
                    events.append({"type": "response.output_text.done", **base, "text": part.get("text", ""),
                                   "logprobs": []})
                else:
                    events.append({"type": "response.refusal.delta", **base, "delta": part.get("refusal", "")})
                    events.append({"type": "response.refusal.done", **base, "refusal": part.get("refusal", "")})
                events.append({"type": "response.content_part.done", **base, "part": part})
        else:
            events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    final = {"completed": "response.completed", "incomplete": "response.incomplete",
             "failed": "response.failed"}.get(str(response.get("status")), "response.completed")
    events.append({"type": final, "response": response})
    # `type` first, then the other keys in alphabetical order, as the raw streams send them (stream.py).
    return [{"type": event["type"], **dict(sorted((k, v) for k, v in {**event, "sequence_number": number}.items()
                                                  if k != "type"))}
            for number, event in enumerate(events)]


def frame(event: dict[str, Any]) -> bytes:
    """SSE framing of the Responses API: `event: <type>` then `data: <compact JSON>` (reference §1.3)."""
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def replay_plan(doc: dict[str, Any], events: list[dict[str, Any]], starting_after: int | None, now: float
                ) -> StreamPlan:
    """The stored events after `starting_after`, each sent when it is due (at once when its time has passed).
    A cancelled background response's stream ends with what was due at the cancel."""
    timeline = doc.get("timeline") or {}
    due = timeline.get("event_due")
    cancelled_at = doc.get("_cancelled_at")
    pieces: list[Piece] = []
    for index, event in enumerate(events):
        if starting_after is not None and event.get("sequence_number", index) <= starting_after:
            continue
        when = due[index] if due and index < len(due) else None
        if when is None and timeline and event.get("type") in FINAL_EVENTS:
            when = timeline.get("completes_at")
        if cancelled_at is not None and when is not None and when > cancelled_at:
            break
        pieces.append(Piece(max(0.0, (when or now) - now), raw=frame(event)))
    return StreamPlan(pieces, paced=any(piece.due > 0 for piece in pieces))
