"""A chat completion as OpenAI streams it: the role chunk, token deltas, tool-call deltas, finish chunks, the usage
chunk and `data: [DONE]`, each due at its deadline (shared/reference/openai-wire.md §4.3).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import orjson

from .... import _native
from ...core import Call
from ...ids import padding_drawer
from ...realism import midstream
from ...realism.faults import Fault
from ...realism.latency import Timing
from ...realism.pacing import deadlines_for, interleave
from ...types import Outcome, Piece, StreamPlan
from . import audio as chat_audio
from .generate import Choice
from .request import ChatRequest


@dataclass
class Meta:
    id: str
    created: int
    model: str
    service_tier: str
    fingerprint: str | None


class _ChunkWriter:
    """Builds chat.completion.chunk events in OpenAI's key order, framing per-token deltas natively."""

    def __init__(self, meta: Meta, include_usage: bool, obfuscation_rng: random.Random | None) -> None:
        self.meta = meta
        self.include_usage = include_usage
        self.head = (
            '{"id":' + orjson.dumps(meta.id).decode() + ',"object":"chat.completion.chunk","created":' + str(meta.created)
            + ',"model":' + orjson.dumps(meta.model).decode() + ',"service_tier":' + orjson.dumps(meta.service_tier).decode()
            + ',"system_fingerprint":' + orjson.dumps(meta.fingerprint).decode() + ',"choices":'
        )
        self.usage_tail = ',"usage":null' if include_usage else ""
        self._templates: dict[tuple[int, int | None], Any] = {}
        self._padding = None if obfuscation_rng is None else padding_drawer(obfuscation_rng, 0, 15)

    def obfuscation(self) -> str | None:
        """Random padding OpenAI adds to every chunk since 2025-08 (0-15 base62 characters)."""
        return None if self._padding is None else self._padding()

    def event(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None, final_usage: bool = False,
              extra: dict[str, Any] | None = None) -> bytes:
        obj = orjson.dumps(choices).decode()
        text = self.head + obj
        if final_usage:
            text += ',"usage":' + orjson.dumps(usage).decode()
        else:
            text += self.usage_tail
        for key, value in (extra or {}).items():
            text += "," + orjson.dumps(key).decode() + ":" + orjson.dumps(value).decode()
        obf = self.obfuscation()
        if obf is not None:
            text += ',"obfuscation":' + orjson.dumps(obf).decode()
        return _native.frame((text + "}").encode())

    def delta_frame(self, choice_index: int, tool_index: int | None):
        """A framer for one choice's content deltas (tool_index None) or one tool call's argument deltas."""
        key = (choice_index, tool_index)
        template = self._templates.get(key)
        if template is None:
            if tool_index is None:
                head = self.head + '[{"index":' + str(choice_index) + ',"delta":{"content":'
                tail = '},"finish_reason":null}]' + self.usage_tail
            else:
                head = (self.head + '[{"index":' + str(choice_index) + ',"delta":{"tool_calls":[{"index":' + str(tool_index)
                        + ',"function":{"arguments":')
                tail = '}}]},"finish_reason":null}]' + self.usage_tail
            template = _native.ChunkTemplate(head, tail)
            self._templates[key] = template
        frame_text = template.frame_text
        padding = self._padding
        if padding is None:
            return frame_text  # called with the text alone: no obfuscation field

        def frame(text: str) -> bytes:
            return frame_text(text, padding())

        return frame


def stream_outcome(call: Call, req: ChatRequest, meta: Meta, choices: list[Choice], usage: dict[str, Any], timing: Timing,
            fault: Fault | None, *, moderation: dict[str, Any] | None = None,
            spoken: list[dict[str, Any] | None] | None = None) -> Outcome:
    """`spoken`: each choice's message.audio (None for a text choice), streamed as delta.audio (chat/audio.py)."""
    writer = _ChunkWriter(meta, req.include_usage, random.Random(call.rng.random()) if req.include_obfuscation else None)
    pieces: list[Piece] = []
    times = (timing.ttft,) + timing.token_times
    spoken = spoken or [None] * len(choices)
    texts = [c for c, audio in zip(choices, spoken) if audio is None]

    for choice in texts:
        delta: dict[str, Any] = {"role": "assistant", "content": "" if not choice.tool_calls else None}
        if choice.tool_calls:
            first = choice.tool_calls[0]
            if req.legacy_functions:
                delta["function_call"] = {"name": first.name, "arguments": ""}
            else:
                delta["tool_calls"] = [{"index": 0, "id": first.id, "type": "function",
                                        "function": {"name": first.name, "arguments": ""}}]
        delta["refusal"] = None
        pieces.append(Piece(times[0], raw=writer.event([{"index": choice.index, "delta": delta, "finish_reason": None}])))

    if len(texts) == 1 and not texts[0].tool_calls and texts[0].logprobs is None:
        deltas = _dated_text_pieces(writer, texts[0], times)
    else:
        deltas = interleave([_delta_pieces(writer, req, c) for c in texts], times)
    if len(texts) < len(choices):  # spoken choices time their own deltas: merge them in by deadline
        for choice, audio in zip(choices, spoken):
            if audio is not None:
                deltas.extend(chat_audio.stream_pieces(writer, choice, audio, times))
        deltas.sort(key=lambda piece: piece.due)
    pieces.extend(deltas)
    end = timing.total
    for choice in choices:
        pieces.append(Piece(end, raw=writer.event([{"index": choice.index, "delta": {}, "finish_reason": choice.finish_reason}])))
    if moderation is not None:  # "Present on the moderation chunk" (ChatCompletionChunk.moderation)
        pieces.append(Piece(end, raw=writer.event([], extra={"moderation": moderation})))
    if req.include_usage:
        pieces.append(Piece(end, raw=writer.event([], usage=usage, final_usage=True)))
    pieces.append(Piece(end, raw=_native.DONE))

    plan = StreamPlan(pieces, paced=call.time_scale > 0)
    if fault is not None and fault.at_chunk is not None:
        midstream.strike(call, plan, fault)
    headers = {"content-type": "text/event-stream; charset=utf-8"}
    return Outcome(200, headers, stream=plan)


def _dated_text_pieces(writer: _ChunkWriter, choice: Choice, times: tuple[float, ...]) -> list[Piece]:
    """interleave(...) of one plain text choice (pacing.deadlines_for's rule), each Piece made once, dated as it is
    made, with positional arguments (one Piece per token of every stream)."""
    texts = choice.pieces
    frame = writer.delta_frame(choice.index, None)
    return list(map(Piece, deadlines_for(times, len(texts)), repeat(None), texts, repeat(frame)))


def _delta_pieces(writer: _ChunkWriter, req: ChatRequest, choice: Choice) -> list[Piece]:
    pieces: list[Piece] = []
    if choice.tool_calls:
        for tool_index, tool in enumerate(choice.tool_calls):
            if tool_index > 0 and not req.legacy_functions:
                header = {"tool_calls": [{"index": tool_index, "id": tool.id, "type": "function",
                                          "function": {"name": tool.name, "arguments": ""}}]}
                pieces.append(Piece(0.0, raw=writer.event([{"index": choice.index, "delta": header, "finish_reason": None}])))
            if req.legacy_functions:
                for fragment in tool.pieces:
                    delta = {"function_call": {"arguments": fragment}}
                    pieces.append(Piece(0.0, raw=writer.event([{"index": choice.index, "delta": delta, "finish_reason": None}])))
            else:
                frame = writer.delta_frame(choice.index, tool_index)
                pieces.extend(Piece(0.0, text=fragment, frame=frame) for fragment in tool.pieces)
            if req.legacy_functions:
                break  # the legacy form carries one function call
        return pieces
    if choice.logprobs is not None:
        for text, entry in zip(choice.pieces, group_logprobs(choice)):
            chunk = {"index": choice.index, "delta": {"content": text},
                     "logprobs": {"content": entry, "refusal": None}, "finish_reason": None}
            pieces.append(Piece(0.0, raw=writer.event([chunk])))
        return pieces
    frame = writer.delta_frame(choice.index, None)
    return [Piece(0.0, text=text, frame=frame) for text in choice.pieces]


def group_logprobs(choice: Choice) -> list[list[dict[str, Any]]]:
    """Logprob entries per streamed piece: entries are per token, and a piece may hold several tokens' bytes."""
    entries = list(choice.logprobs or [])
    grouped: list[list[dict[str, Any]]] = []
    cursor = 0
    for piece in choice.pieces:
        size = len(piece.encode())
        taken: list[dict[str, Any]] = []
        consumed = 0
        while cursor < len(entries) and consumed < size:
            consumed += len(entries[cursor]["bytes"])
            taken.append(entries[cursor])
            cursor += 1
        grouped.append(taken)
    if cursor < len(entries) and grouped:
        grouped[-1].extend(entries[cursor:])
    return grouped
