"""POST /v1/chat/completions: validation, generation, usage, cost, and the response or its paced stream.

Wire shapes: shared/reference/openai-wire.md §4 (non-streaming body key order, chunk sequence, tool-call deltas,
usage chunk) and the captures in shared/data/captures.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import _native
from ..tokens import render_functions
from . import chat_request, midstream, prompt_cache, respond, schema_gen, textgen, token_charge, tokensplit
from .chat_request import ChatRequest
from .core import Call, Engine
from .endpoint_models import model_name, resolve_model_of_kind
from .errors import ApiError
from .faults import Fault
from .ids import base62
from .latency import Timing, plan_timing
from .pacing import interleave
from .types import Outcome, Piece, StreamPlan

DEFAULT_ANSWER_CAP = 4096
_DELIVERY_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata", "store", "service_tier",
                              "prompt_cache_key", "prompt_cache_retention", "safety_identifier"})  # the longest natural answer generated when the request sets no maximum


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str
    pieces: list[str]


@dataclass
class Choice:
    index: int
    content: str | None
    pieces: list[str]
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    logprobs: list[dict[str, Any]] | None = None


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/chat/completions", "chat.completions", handle)


def handle(call: Call) -> Outcome:
    from .validation import parse_json_object

    services = call.services
    body = parse_json_object(call.request.body)
    model = resolve_model_of_kind(call, model_name(body), "chat")
    try:
        if model.reasoning:
            chat_request.check_reasoning_model_rules(body)
        req = chat_request.parse_chat_request(body, model.max_output)
    except ApiError:
        # OpenAI's limiter runs before validation: a 400 still costs a request and carries x-ratelimit-* headers
        # (captures chat-bad-request, chat-no-messages).
        respond.admit(call, model, respond.tokens_to_charge(call, 0, lambda: token_charge.chat(body)))
        raise

    prompt = services.tokens.chat_prompt_tokens(
        model,
        req.messages,
        tools=req.raw.get("tools") or None,
        tool_choice=req.raw.get("tool_choice"),
        functions=req.raw.get("functions") or None,
        function_call=req.raw.get("function_call"),
    )
    prompt_tokens = prompt.total
    requested_output = req.max_output if req.max_output is not None else 0
    if prompt_tokens + requested_output > model.context_window:
        raise _context_exceeded(model.context_window, prompt_tokens, req.max_output)

    estimate = req.max_output if req.max_output is not None else model.default_max_output_estimate
    respond.admit(call, model, respond.tokens_to_charge(call, prompt_tokens + estimate * req.n,
                                                        lambda: token_charge.chat(body)))
    fault = call.check_fault(model.id, req.stream)

    encoding = services.tokens.encoding(model.encoding)
    # Everything in the body but the fields that only change delivery or bookkeeping decides the content.
    key = call.content_key("chat", model.id, sorted((k, v) for k, v in req.raw.items() if k not in _DELIVERY_FIELDS))
    try:
        choices = call.generated(
            key, lambda rng: [_generate_choice(i, req, model, encoding, rng, services.fixtures) for i in range(req.n)]
        )
    except schema_gen.SchemaGenerationError as exc:
        # A schema no value can satisfy: OpenAI rejects such schemas up front with invalid_json_schema.
        where = f"response_format '{req.response_format['name']}'" if req.response_format else "function parameters"
        param = "response_format" if req.response_format else "tools"
        raise ApiError(400, f"Invalid schema for {where}: {exc}", param=param, code="invalid_json_schema") from None

    cached = _cached_tokens(call, model, req, encoding, prompt_tokens)
    completion_tokens = sum(c.completion_tokens for c in choices)
    reasoning_tokens = sum(c.reasoning_tokens for c in choices)
    respond.charge_tokens(call, model, prompt_tokens, cached, completion_tokens)
    usage = respond.chat_usage(prompt_tokens, cached, completion_tokens, reasoning_tokens)

    visible = max((len(c.pieces) + sum(len(t.pieces) for t in c.tool_calls) for c in choices), default=0)
    hidden = max((c.reasoning_tokens for c in choices), default=0)
    timing = plan_timing(call.rng, model.latency, prompt_tokens=prompt_tokens - cached, output_tokens=max(visible, 1),
                         hidden_tokens=hidden, time_scale=call.time_scale)
    meta = _Meta(
        id=call.new_id("chatcmpl-", 29),
        created=int(call.wall_started),
        model=model.snapshot,
        service_tier="default" if req.service_tier in (None, "auto", "default") else req.service_tier,
        fingerprint=system_fingerprint(model),
    )
    if req.stream:
        return _stream(call, req, meta, choices, usage, timing, fault)
    payload = {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [_choice_payload(c, req) for c in choices],
        "usage": usage,
        "service_tier": meta.service_tier,
        "system_fingerprint": meta.fingerprint,
    }
    return respond.json_outcome(payload, delay=timing.total)


def _context_exceeded(window: int, prompt_tokens: int, max_output: int | None) -> ApiError:
    if max_output is not None and prompt_tokens <= window:
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested {prompt_tokens + max_output} "
            f"tokens ({prompt_tokens} in the messages, {max_output} in the completion). Please reduce the length of the "
            "messages or completion."
        )
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages resulted in {prompt_tokens} "
            "tokens. Please reduce the length of the messages."
        )
    return ApiError(400, message, param="messages", code="context_length_exceeded")


def system_fingerprint(model) -> str | None:
    """`fp_` + 10 hex, stable per model; the gpt-5 family answers null (captures chat-basic, chat-tools)."""
    return _fingerprint(model.id, model.snapshot)


@functools.lru_cache(maxsize=256)
def _fingerprint(model_id: str, snapshot: str) -> str | None:
    if model_id.startswith("gpt-5"):
        return None
    return "fp_" + hashlib.sha1(snapshot.encode()).hexdigest()[:10]


def _cached_tokens(call: Call, model, req: ChatRequest, encoding, prompt_tokens: int) -> int:
    settings = call.settings.prompt_caching
    if not settings.enable or prompt_tokens < settings.min_tokens:
        return 0
    # The cache compares the prompt as the model reads it: tool definitions first, then the messages in order.
    fmt = model.prompt_format
    tools_text = render_functions(req.tools, fmt.tools.dialect) if req.tools else None
    ids = prompt_cache.prompt_token_ids(encoding.encode_ordinary, req.messages, tools_text, fmt.tokens_per_message,
                                        fmt.reply_priming)
    cache_key = req.raw.get("prompt_cache_key")  # a routing hint: requests with different keys land apart
    scope = f"{call.api_key or 'anonymous'}\x1f{model.id}\x1f{cache_key if isinstance(cache_key, str) else ''}"
    ttl = prompt_cache.EXTENDED_RETENTION_SECONDS if req.raw.get("prompt_cache_retention") == "24h" else None
    return call.services.prompt_cache.cached_tokens(scope, ids, call.services.clock.now(), prompt_tokens=prompt_tokens,
                                                    ttl_seconds=ttl)


# ---- generation ---------------------------------------------------------------------------------------------------


def _generate_choice(index: int, req: ChatRequest, model, encoding, rng: random.Random, fixtures) -> Choice:
    """One sampled answer; each choice draws its own fixture variant and text, as n samples of a model differ."""
    fixture = fixtures.match(model.id, req.last_user_text(), rng.random())
    reasoning = _reasoning_tokens(rng, model, req.max_output)
    budget = (req.max_output if req.max_output is not None else min(model.max_output, DEFAULT_ANSWER_CAP)) - reasoning
    if budget <= 0:
        # The whole budget went to reasoning: OpenAI answers an empty message cut for length (capture pattern).
        return Choice(index, "", [], "length", completion_tokens=reasoning, reasoning_tokens=reasoning)

    tool_names = _tools_to_call(req, fixture)
    if tool_names:
        calls = []
        for name in tool_names:
            tool = next(t for t in req.tools if t["name"] == name)
            if fixture is not None and fixture.tool_call and fixture.tool_call.get("name") == name:
                arguments = orjson.dumps(fixture.tool_call.get("arguments") or {}).decode()
            else:
                arguments = orjson.dumps(schema_gen.arguments_for_tool(tool.get("parameters"), rng)).decode()
            call_id = "call_" + base62(rng, 24)
            calls.append(ToolCall(call_id, name, arguments, tokensplit.split_on_tokens(encoding, arguments)))
        # Each call costs its name, its arguments and a few framing tokens (OpenAI's counts include them).
        tokens = sum(len(encoding.encode(c.name)) + len(encoding.encode(c.arguments)) + 4 for c in calls)
        finish = "function_call" if req.legacy_functions else "tool_calls"
        return Choice(index, None, [], finish, calls, completion_tokens=tokens + reasoning, reasoning_tokens=reasoning)

    # The model does not see max_tokens: it writes its natural answer and the limit cuts it.
    text, cut = _answer_text(req, encoding, rng, fixture, min(model.max_output, DEFAULT_ANSWER_CAP), budget)
    text, stopped = textgen.apply_stop(text, req.stop)
    finish = "length" if cut and not stopped else "stop"
    tokens = len(encoding.encode(text, disallowed_special=()))
    if tokens > budget:
        text = textgen.truncate_to_tokens(encoding, text, budget)
        finish = "length"
        tokens = len(encoding.encode(text, disallowed_special=()))
    pieces = tokensplit.split_on_tokens(encoding, text)
    choice = Choice(index, text, pieces, finish, completion_tokens=tokens + reasoning, reasoning_tokens=reasoning)
    if req.logprobs:
        choice.logprobs = _logprobs(encoding, text, req.top_logprobs, rng)
    return choice


def _answer_text(req: ChatRequest, encoding, rng: random.Random, fixture, cap: int, limit: int) -> tuple[str, bool]:
    """The answer's text, and whether generation already stopped at `limit` tokens."""
    fmt = req.response_format
    if fmt is not None and fmt["type"] == "json_schema":
        return orjson.dumps(schema_gen.instance_for_schema(fmt["schema"], rng)).decode(), False
    if fmt is not None and fmt["type"] == "json_object":
        return textgen.generate_json_object(rng, encoding, cap), False
    if req.answering_tool_result():
        return _tool_result_answer(req, encoding, rng, cap), False
    if fixture is not None and fixture.content is not None:
        return fixture.content, False
    # Text past `limit` would be cut anyway, and a shorter limit yields a prefix of the same answer; with stop
    # sequences the whole answer is needed, since a stop that straddles the limit must still win.
    answer = textgen.generate_answer(rng, cap if req.stop else min(cap, limit), encoding, req.last_user_text())
    return answer.text, answer.finish_reason == "length"


def _tool_result_answer(req: ChatRequest, encoding, rng: random.Random, budget: int) -> str:
    """After a tool result the model answers from it in text, so an agent loop ends as it would against OpenAI."""
    result = chat_request.message_text(req.messages[-1].get("content")).strip()
    if len(result) > 200:
        result = result[:200].rstrip() + "..."
    lead = f"Based on the result ({result}), " if result else "Based on the result, "
    follow = textgen.generate_text(rng, max(budget - 40, 1), encoding, req.last_user_text())
    return lead + follow[:1].lower() + follow[1:]


def _tools_to_call(req: ChatRequest, fixture) -> list[str]:
    """Which tools the simulated model calls. After a tool result it answers in text, so agents never loop."""
    if not req.tools or req.tool_choice == "none" or req.answering_tool_result():
        return []
    if isinstance(req.tool_choice, dict):
        return [req.tool_choice["name"]]
    names = [t["name"] for t in req.tools]
    scores = _relevance(req.last_user_text(), req.tools)
    relevant = [name for name, score in scores if score > 0]
    if fixture is not None and fixture.tool_call and fixture.tool_call.get("name") in names:
        relevant = [fixture.tool_call["name"]] + [name for name in relevant if name != fixture.tool_call["name"]]
    if req.tool_choice == "required" and not relevant:
        relevant = [scores[0][0]]
    if not relevant:
        return []
    if req.parallel_tool_calls and not req.legacy_functions:
        return relevant[:3]
    return relevant[:1]


def _relevance(prompt: str, tools: list[dict[str, Any]]) -> list[tuple[str, int]]:
    words = {w for w in _words(prompt) if len(w) > 2}
    scored = []
    for tool in tools:
        vocabulary = set(_words(tool["name"].replace("_", " "))) | set(_words(tool.get("description") or ""))
        scored.append((tool["name"], len(words & {w for w in vocabulary if len(w) > 2})))
    return sorted(scored, key=lambda item: -item[1])


def _words(text: str) -> list[str]:
    word, out = [], []
    for ch in text.lower():
        if ch.isalnum():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


def _reasoning_tokens(rng: random.Random, model, max_output: int | None) -> int:
    """Reasoning models think in multiples of 64 tokens, capped by the output budget (captures: 128..704)."""
    if not model.reasoning:
        return 0
    tokens = 64 * rng.randint(1, 8)
    return min(tokens, max_output) if max_output is not None else tokens


def _logprobs(encoding, text: str, top: int, rng: random.Random) -> list[dict[str, Any]]:
    entries = []
    for piece, raw in tokensplit.token_pieces_with_bytes(encoding, text):
        logprob = _f32(-abs(rng.expovariate(8.0)))
        alternatives = [{"token": piece, "logprob": logprob, "bytes": raw}]
        floor = logprob
        for word in _ALTERNATIVES[: max(top - 1, 0)]:
            floor = _f32(floor - rng.uniform(0.5, 3.0))
            alternatives.append({"token": word, "logprob": floor, "bytes": list(word.encode())})
        entries.append({"token": piece, "logprob": logprob, "bytes": raw, "top_logprobs": alternatives[:top]})
    return entries


_ALTERNATIVES = [" the", " a", ",", ".", " and", " to", " of", " in", " is", " that", " it", " for", " on", " with",
                 " as", " this", " be", " at", " by", " or"]


def _f32(value: float) -> float:
    """OpenAI's logprobs are float32 values printed with about 8 significant digits."""
    return float(f"{value:.8g}")


def _choice_payload(choice: Choice, req: ChatRequest) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None, "annotations": []}
    if choice.tool_calls:
        if req.legacy_functions:
            first = choice.tool_calls[0]
            message["function_call"] = {"name": first.name, "arguments": first.arguments}
        else:
            message["tool_calls"] = [
                {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
                for t in choice.tool_calls
            ]
    logprobs = {"content": choice.logprobs, "refusal": None} if choice.logprobs is not None else None
    return {"index": choice.index, "message": message, "logprobs": logprobs, "finish_reason": choice.finish_reason}


# ---- streaming ----------------------------------------------------------------------------------------------------


@dataclass
class _Meta:
    id: str
    created: int
    model: str
    service_tier: str
    fingerprint: str | None


class _ChunkWriter:
    """Builds chat.completion.chunk events in OpenAI's key order, framing per-token deltas natively."""

    def __init__(self, meta: _Meta, include_usage: bool, obfuscation_rng: random.Random | None) -> None:
        self.meta = meta
        self.include_usage = include_usage
        self.obfuscation_rng = obfuscation_rng
        self.head = (
            '{"id":' + orjson.dumps(meta.id).decode() + ',"object":"chat.completion.chunk","created":' + str(meta.created)
            + ',"model":' + orjson.dumps(meta.model).decode() + ',"service_tier":' + orjson.dumps(meta.service_tier).decode()
            + ',"system_fingerprint":' + orjson.dumps(meta.fingerprint).decode() + ',"choices":'
        )
        self.usage_tail = ',"usage":null' if include_usage else ""
        self._templates: dict[tuple[int, int | None], Any] = {}

    def obfuscation(self) -> str | None:
        """Random padding OpenAI adds to every chunk since 2025-08 (0-15 base62 characters)."""
        if self.obfuscation_rng is None:
            return None
        return base62(self.obfuscation_rng, self.obfuscation_rng.randint(0, 15))

    def event(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None, final_usage: bool = False) -> bytes:
        obj = orjson.dumps(choices).decode()
        text = self.head + obj
        if final_usage:
            text += ',"usage":' + orjson.dumps(usage).decode()
        else:
            text += self.usage_tail
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

        def frame(text: str) -> bytes:
            return template.frame_text(text, self.obfuscation())

        return frame


def _stream(call: Call, req: ChatRequest, meta: _Meta, choices: list[Choice], usage: dict[str, Any], timing: Timing,
            fault: Fault | None) -> Outcome:
    writer = _ChunkWriter(meta, req.include_usage, random.Random(call.rng.random()) if req.include_obfuscation else None)
    pieces: list[Piece] = []
    times = (timing.ttft,) + timing.token_times

    for choice in choices:
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

    pieces.extend(interleave([_delta_pieces(writer, req, c) for c in choices], times))
    end = timing.total
    for choice in choices:
        pieces.append(Piece(end, raw=writer.event([{"index": choice.index, "delta": {}, "finish_reason": choice.finish_reason}])))
    if req.include_usage:
        pieces.append(Piece(end, raw=writer.event([], usage=usage, final_usage=True)))
    pieces.append(Piece(end, raw=_native.DONE))

    plan = StreamPlan(pieces, paced=call.time_scale > 0)
    if fault is not None and fault.at_chunk is not None:
        midstream.strike(call, plan, fault)
    headers = {"content-type": "text/event-stream; charset=utf-8"}
    return Outcome(200, headers, stream=plan)


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
        for text, entry in zip(choice.pieces, _group_logprobs(choice)):
            chunk = {"index": choice.index, "delta": {"content": text},
                     "logprobs": {"content": entry, "refusal": None}, "finish_reason": None}
            pieces.append(Piece(0.0, raw=writer.event([chunk])))
        return pieces
    frame = writer.delta_frame(choice.index, None)
    return [Piece(0.0, text=text, frame=frame) for text in choice.pieces]


def _group_logprobs(choice: Choice) -> list[list[dict[str, Any]]]:
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
