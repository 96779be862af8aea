"""A response as OpenAI streams it (shared/reference/responses-api.md §1.3): `event: <type>` + `data: <json>` frames,
`sequence_number` from 0 across every event, the canonical sequence per output item, `obfuscation` on deltas, no
`[DONE]`; each event due at its deadline of the latency plan, as chat streams are (a StreamPlan of raw Pieces).

Every event is framed when planned: a paced stream that falls behind sends due events together in one write but
never merges two events into one, so the sequence numbers stay consecutive.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ... import errors
from ...core import Call
from ...ids import padding_drawer
from ...realism import midstream
from ...realism.faults import Fault
from ...realism.latency import Timing
from ...types import Piece, StreamPlan
from ..chat import stream as chat_stream
from .generate import Planned, as_responses_logprob

Reissue = Callable[[dict[str, Any], bool], dict[str, Any]]
DELTA_TYPES = frozenset({"response.output_text.delta", "response.function_call_arguments.delta",
                         "response.reasoning_summary_text.delta", "response.refusal.delta"})


def frame(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class _Events:
    """Numbers events in order and stamps each with its deadline."""

    def __init__(self, obfuscation_rng: random.Random | None) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        # 1-15 base62 characters on every delta (raw streams, 2025-08 on)
        self.padding = None if obfuscation_rng is None else padding_drawer(obfuscation_rng, 1, 15)

    def add(self, due: float, kind: str, **fields: Any) -> None:
        fields["sequence_number"] = len(self.events)
        if kind in DELTA_TYPES and self.padding is not None:
            fields["obfuscation"] = self.padding()
        # `type` first, then the other keys in alphabetical order, as the raw streams send them
        # (capture phase_streamed_on_part_start, 2026-07: {"type", "content_index", "delta", "item_id", ...}).
        event: dict[str, Any] = {"type": kind, **{key: fields[key] for key in sorted(fields)}}
        self.events.append((due, event))


def event_list(call: Call, planned: Planned, items: list[dict[str, Any]], start: dict[str, Any], final: dict[str, Any],
               timing: Timing, include_obfuscation: bool, reissue: Reissue | None = None
               ) -> list[tuple[float, dict[str, Any]]]:
    """(deadline, event) for the whole stream: lifecycle, every item's events, the terminal event.
    `reissue(item, added)`: a reasoning item with its encrypted_content encrypted anew for its added / done event
    (the real stream never repeats a blob)."""
    out = _Events(random.Random(call.rng.random()) if include_obfuscation else None)
    deadlines = _deadlines(timing)
    out.add(0.0, "response.created", response=start)
    out.add(0.0, "response.in_progress", response=start)
    for index, (plan_item, item) in enumerate(zip(planned.items, items)):
        _item_events(out, index, plan_item, item, deadlines, timing.ttft, reissue)
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete",
                "failed": "response.failed"}[final["status"]]
    out.add(timing.total, terminal, response=final)
    return out.events


def _deadlines(timing: Timing) -> Iterator[float]:
    yield timing.ttft
    yield from timing.token_times
    while True:
        yield timing.total


def _item_events(out: _Events, index: int, plan_item, item: dict[str, Any], deadlines: Iterator[float], ttft: float,
                 reissue: Reissue | None) -> None:
    kind = item["type"]
    at = ttft if not out.events else max(out.events[-1][0], 0.0)
    if kind == "message":
        added = {**item, "status": "in_progress", "content": []}
        out.add(at, "response.output_item.added", output_index=index, item=added)
        for part_index, (part, body) in enumerate(zip(plan_item.parts, item["content"])):
            empty = {**body, "text": ""} if body["type"] == "output_text" else {**body, "refusal": ""}
            if body["type"] == "output_text":
                empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            out.add(at, "response.content_part.added", item_id=item["id"], output_index=index,
                    content_index=part_index, part=empty)
            delta_type = "response.output_text.delta" if part.kind == "output_text" else "response.refusal.delta"
            # Each delta carries the logprobs of its own tokens when they were included (as chat's chunks do).
            grouped = (chat_stream.group_logprobs(part) if body.get("logprobs") and part.logprobs
                       else [[] for _ in part.pieces])
            for piece, entries in zip(part.pieces, grouped):
                at = next(deadlines)
                if part.kind == "output_text":
                    out.add(at, delta_type, item_id=item["id"], output_index=index, content_index=part_index,
                            delta=piece, logprobs=[as_responses_logprob(e) for e in entries])
                else:
                    out.add(at, delta_type, item_id=item["id"], output_index=index, content_index=part_index,
                            delta=piece)
            if part.kind == "output_text":
                for annotation_index, annotation in enumerate(body["annotations"]):
                    out.add(at, "response.output_text.annotation.added", item_id=item["id"], output_index=index,
                            content_index=part_index, annotation_index=annotation_index, annotation=annotation)
                out.add(at, "response.output_text.done", item_id=item["id"], output_index=index,
                        content_index=part_index, text=body["text"], logprobs=body["logprobs"])
            else:
                out.add(at, "response.refusal.done", item_id=item["id"], output_index=index, content_index=part_index,
                        refusal=body["refusal"])
            out.add(at, "response.content_part.done", item_id=item["id"], output_index=index, content_index=part_index,
                    part=body)
        out.add(at, "response.output_item.done", output_index=index, item=item)
    elif kind == "function_call":
        out.add(at, "response.output_item.added", output_index=index,
                item={**item, "status": "in_progress", "arguments": ""})
        for piece in plan_item.argument_pieces:
            at = next(deadlines)
            out.add(at, "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece)
        # The real wire has no `name` here although the spec requires it (§1.3 "Spec vs wire mismatch").
        out.add(at, "response.function_call_arguments.done", item_id=item["id"], output_index=index,
                arguments=item["arguments"])
        out.add(at, "response.output_item.done", output_index=index, item=item)
    elif kind == "reasoning":
        added = {**(reissue(item, True) if reissue else item), "summary": []}
        out.add(at, "response.output_item.added", output_index=index, item=added)
        for summary_index, pieces in enumerate(plan_item.summary_pieces):
            text = "".join(pieces)
            out.add(at, "response.reasoning_summary_part.added", item_id=item["id"], output_index=index,
                    summary_index=summary_index, part={"type": "summary_text", "text": ""})
            for piece in pieces:
                out.add(at, "response.reasoning_summary_text.delta", item_id=item["id"], output_index=index,
                        summary_index=summary_index, delta=piece)
            out.add(at, "response.reasoning_summary_text.done", item_id=item["id"], output_index=index,
                    summary_index=summary_index, text=text)
            out.add(at, "response.reasoning_summary_part.done", item_id=item["id"], output_index=index,
                    summary_index=summary_index, part={"type": "summary_text", "text": text})
        out.add(at, "response.output_item.done", output_index=index, item=reissue(item, False) if reissue else item)
    else:
        _builtin_events(out, index, item, at, max(at, ttft))


_BUILTIN_PHASES = {
    "web_search_call": ("response.web_search_call", ("in_progress", "searching", "completed")),
    "file_search_call": ("response.file_search_call", ("in_progress", "searching", "completed")),
    "code_interpreter_call": ("response.code_interpreter_call", ("in_progress", "interpreting", "completed")),
    "image_generation_call": ("response.image_generation_call", ("in_progress", "generating", "completed")),
    "mcp_call": ("response.mcp_call", ("in_progress", "completed")),
    "mcp_list_tools": ("response.mcp_list_tools", ("in_progress", "completed")),
}


def _builtin_events(out: _Events, index: int, item: dict[str, Any], at: float, done_at: float) -> None:
    """The tool's phases: it starts at `at` and is done by `done_at` (the answer's first token, which waits for it)."""
    in_progress = {**item, "status": "in_progress"} if "status" in item else item
    if item["type"] == "image_generation_call":
        in_progress = {**in_progress, "result": None}
    out.add(at, "response.output_item.added", output_index=index, item=in_progress)
    prefix, phases = _BUILTIN_PHASES.get(item["type"], (None, ()))
    for phase in phases:
        if prefix is None:
            break
        if item["type"] == "code_interpreter_call" and phase == "interpreting":
            out.add(at, "response.code_interpreter_call_code.delta", output_index=index, item_id=item["id"],
                    delta=item["code"] or "")
            out.add(at, "response.code_interpreter_call_code.done", output_index=index, item_id=item["id"],
                    code=item["code"] or "")
        if item["type"] == "mcp_call" and phase == "completed":
            out.add(at, "response.mcp_call_arguments.delta", output_index=index, item_id=item["id"],
                    delta=item["arguments"])
            out.add(at, "response.mcp_call_arguments.done", output_index=index, item_id=item["id"],
                    arguments=item["arguments"])
        out.add(done_at if phase == phases[-1] else at, f"{prefix}.{phase}", output_index=index, item_id=item["id"])
    out.add(done_at, "response.output_item.done", output_index=index, item=item)


def plan(call: Call, events: list[tuple[float, dict[str, Any]]], fault: Fault | None) -> StreamPlan:
    pieces = [Piece(due, raw=frame(event)) for due, event in events]
    stream = StreamPlan(pieces, paced=call.time_scale > 0)
    if fault is not None and fault.at_chunk is not None:
        _strike(call, stream, fault, events[0][1]["response"] if events else {})
    return stream


def _strike(call: Call, stream: StreamPlan, fault: Fault, started: dict[str, Any]) -> None:
    """Ends the stream after `fault.at_chunk` events; with `as_event` first the nested `error` event production
    sends (§1.5: only the nested shape makes the SDK raise APIError), with the flat fields of the spec beside it,
    then `response.failed` carrying the response with status failed and its error (for clients that read that)."""
    pieces = stream.pieces
    position = min(fault.at_chunk or 0, len(pieces))
    if fault.as_event:
        at = pieces[position - 1].due if position else 0.0
        error = errors.server_error()
        event = {"type": "error", "sequence_number": position, "code": "server_error", "message": error.message,
                 "param": None, "error": {"type": error.type, "code": "server_error", "message": error.message,
                                          "param": None}}
        failed = {"type": "response.failed", "sequence_number": position + 1,
                  "response": {**started, "status": "failed",
                               "error": {"code": "server_error", "message": error.message}}}
        pieces[position:position] = [Piece(at, raw=frame(event)), Piece(at, raw=frame(failed))]
        stream.cut_after = position + 2
    else:
        midstream.cut(stream, position)
    call.record.error_type = "midstream_" + ("event" if fault.as_event else "cut")
