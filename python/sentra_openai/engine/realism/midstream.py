"""Injected mid-stream failures: OpenAI's error event, or the connection cut, after a given number of events."""

from __future__ import annotations

import orjson

from ... import _native
from .. import errors
from ..core import Call
from ..types import Piece, StreamPlan
from .faults import Fault


def strike(call: Call, plan: StreamPlan, fault: Fault) -> None:
    """Ends `plan` after `fault.at_chunk` events, the connection lost there; with `as_event`, first sends the error event a failing OpenAI
    stream carries (`data: {"error": {...}}`, openai-wire.md §2.6), which the SDK raises as APIError."""
    assert fault.at_chunk is not None
    pieces = plan.pieces
    position = min(fault.at_chunk, len(pieces))
    if fault.as_event:
        at = pieces[position - 1].due if position else 0.0
        pieces.insert(position, Piece(at, raw=_native.frame(orjson.dumps(errors.server_error().envelope()))))
        plan.cut_after = position + 1
    else:
        cut(plan, position)
    call.record.error_type = "midstream_" + ("event" if fault.as_event else "cut")


def cut(plan: StreamPlan, position: int) -> None:
    """The connection is lost after `position` events; one past the end loses nothing (the stream is complete)."""
    plan.cut_after = position
    plan.connection_lost = position < len(plan.pieces)
