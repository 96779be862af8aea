"""POST /v1/chat/completions: the pipeline (validate, count, admit, generate, bill, time) and the JSON response;
generation is in chat_generate.py, the stream in chat_stream.py.

Wire shapes: shared/reference/openai-wire.md §4 (non-streaming body key order, chunk sequence, tool-call deltas,
usage chunk) and the captures in shared/data/captures.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from ....tokens import PromptCount, render_functions
from ... import replay_shape, respond, service_tiers
from ...core import Call, Engine
from ...errors import ApiError
from ...memo import BoundedMemo
from ...model_resolution import model_name, resolve_model_of_kind
from ...native_random import NativeRandom
from ...realism import prompt_cache, token_charge
from ...realism.latency import plan_timing
from ...schema import generate as schema_gen
from ...types import Outcome
from ...validation import parse_json_object
from . import audio as chat_audio
from . import field_rules, moderated, stored
from . import generate as chat_generate
from . import request as chat_request
from . import stream as chat_stream
from .generate import Choice
from .request import ChatRequest

# Body fields that change how an answer is delivered or billed, not what it says (left out of the content key).
_DELIVERY_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata", "store", "service_tier",
                              "prompt_cache_key", "prompt_cache_retention", "safety_identifier"})
# ... and `verbosity`, which changes the answer's length, not what it draws (see handle).
_NOT_CONTENT_FIELDS = _DELIVERY_FIELDS | {"verbosity"}


# Content keys by (seed, model, body bytes), of which they are a pure function: a load test repeats its bodies, and
# sorting and hashing the fields cost about a tenth of a cached request's engine time (README "Benchmarks").
_CONTENT_KEYS_SIZE = 2048
_CONTENT_KEYS: BoundedMemo[tuple[int, str, bytes], str] = BoundedMemo(_CONTENT_KEYS_SIZE)
_CONTENT_KEY_MAX_BODY = 4096  # larger bodies are not kept (memory), and their parsing dwarfs the key anyway
# Prompt counts by (model, body bytes), kept the same way: the count is a pure function of both (and immutable).
_PROMPT_COUNTS: BoundedMemo[tuple[str, bytes], tuple[Any, Any, PromptCount]] = BoundedMemo(_CONTENT_KEYS_SIZE)


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/chat/completions", "chat.completions", handle)
    stored.register(engine)


def handle(call: Call) -> Outcome:
    services = call.services
    body = parse_json_object(call.request.body)
    model = resolve_model_of_kind(call, model_name(body), "chat")
    try:
        if model.reasoning:
            chat_request.check_reasoning_model_rules(body)
        req = chat_request.parse_chat_request(body, model.max_output)
        stored.check_metadata(body.get("metadata"))
        hears_audio = field_rules.check(model, body, services.catalog)
        tier = service_tiers.served_tier(model, req.service_tier)
    except ApiError:
        # OpenAI's limiter runs before validation: a 400 still costs a request and carries x-ratelimit-* headers
        # (captures chat-bad-request, chat-no-messages).
        respond.admit(call, model, 0, lambda: token_charge.chat(body))
        raise

    prompt = _prompt_count(call, model, req)
    prompt_audio = chat_audio.prompt_audio_tokens(body) if hears_audio else 0  # parts checked by field_rules
    prompt_tokens = prompt.total + prompt_audio
    requested_output = req.max_output if req.max_output is not None else 0
    if prompt_tokens + requested_output > model.context_window:
        raise _context_exceeded(model.context_window, prompt_tokens, req.max_output)

    estimate = req.max_output if req.max_output is not None else model.default_max_output_estimate
    respond.admit(call, model, prompt_tokens + estimate * req.n, lambda: token_charge.chat(body))
    fault = call.check_fault(model.id, req.stream)

    encoding = services.tokens.encoding(model.encoding)
    # Everything in the body but the fields that only change delivery or bookkeeping decides the content.
    key = _content_key(call, model.id, req)
    # `verbosity` changes the answer's length, not what it draws: the RNG is seeded without it (low shorter, high
    # longer than the same prompt's medium answer); the content cache still tells them apart.
    verbosity = chat_generate.verbosity_of(req)
    try:
        choices = call.generated(
            f"{key}:{verbosity}", lambda _: [chat_generate.generate_choice(i, req, model, encoding, rng, services.fixtures)
                                            for rng in [NativeRandom(key)] for i in range(req.n)]
        )
    except schema_gen.SchemaGenerationError as exc:
        # A schema no value can satisfy: OpenAI rejects such schemas up front with invalid_json_schema.
        where = f"response_format '{req.response_format['name']}'" if req.response_format else "function parameters"
        param = "response_format" if req.response_format else "tools"
        raise ApiError(400, f"Invalid schema for {where}: {exc}", param=param, code="invalid_json_schema") from None

    moderation = None
    if req.raw.get("moderation") is not None:
        moderation, choices = moderated.moderate(call, req, choices)

    cached = cached_prefix_tokens(call, model, req, encoding, prompt_tokens)
    completion_tokens = sum(c.completion_tokens for c in choices)
    reasoning_tokens = sum(c.reasoning_tokens for c in choices)
    prices = service_tiers.tier_prices(model, tier) or respond.text_prices(model)
    respond.charge_tokens(call, model, prompt_tokens, cached, completion_tokens, prices)
    completion_audio = chat_audio.audio_tokens_of(choices)
    chat_audio.bill_audio(call, model, prompt_tokens, cached, completion_tokens, prompt_audio, completion_audio)
    usage = respond.chat_usage(prompt_tokens, cached, completion_tokens, reasoning_tokens)
    if model.audio_token_prices is not None:
        chat_audio.add_usage_details(usage, prompt_audio, completion_audio)

    visible = max((len(c.pieces) + sum(len(t.pieces) for t in c.tool_calls) + (c.audio.tokens if c.audio else 0)
                   for c in choices), default=0)
    hidden = max((c.reasoning_tokens for c in choices), default=0)
    timing = plan_timing(call.rng, model.latency, prompt_tokens=prompt_tokens - cached, output_tokens=max(visible, 1),
                         hidden_tokens=hidden, time_scale=call.time_scale)
    meta = chat_stream.Meta(
        id=call.new_id("chatcmpl-", 29),
        created=int(call.wall_started),
        model=model.snapshot,
        service_tier=tier,
        fingerprint=system_fingerprint(model),
    )
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
    spoken = chat_audio.speak(call, choices, meta.created)
    chat_audio.attach(payload["choices"], spoken)
    if moderation is not None:
        payload["moderation"] = moderation
    if req.raw.get("store") is True:  # a streamed completion is stored whole, as the non-streamed one
        stored.save(call, payload, req.raw)
    if req.stream:
        return chat_stream.stream_outcome(call, req, meta, choices, usage, timing, fault, moderation=moderation,
                                          spoken=spoken)
    # The front may replay this answer (engine/replay.py) only if it left no trace: nothing stored, moderated (its
    # results carry ids), spoken (audio ids and expiry) or recorded in the prompt cache.
    if (req.raw.get("store") is not True and moderation is None and not any(spoken)
            and not caching_engaged(call, req, prompt_tokens)):
        call.replayable = True
        call.created_at = meta.created
        if call.made_content and call.via_front and replay_shape.in_class(model, req):
            # The front may compose this answer for a new prompt (replay_shape.py): what that needs, known here.
            call.shape = replay_shape.Shape(model, req, key, model.encoding, chat_generate.answer_cap(model),
                                            chat_generate.output_budget(req, model), prompt_tokens, prices)
    return respond.json_outcome(payload, delay=timing.total)


def _prompt_count(call: Call, model, req: ChatRequest) -> PromptCount:
    """usage.prompt_tokens of the request's messages, tools and response format (tokens/counter.py's rules)."""
    body = call.request.body
    tokens = call.services.tokens
    memo = (model.id, body) if type(body) is bytes and len(body) <= _CONTENT_KEY_MAX_BODY else None
    if memo is not None:
        kept = _PROMPT_COUNTS.get(memo)
        if kept is not None and kept[0] is model and kept[1] is tokens:  # the same catalog entry and counter
            return kept[2]
    prompt = tokens.chat_prompt_tokens(
        model,
        req.messages,
        tools=req.raw.get("tools") or None,
        tool_choice=req.raw.get("tool_choice"),
        functions=req.raw.get("functions") or None,
        function_call=req.raw.get("function_call"),
        response_format=req.raw.get("response_format"),
    )
    if memo is not None:
        _PROMPT_COUNTS.put(memo, (model, tokens, prompt))
    return prompt


def _content_key(call: Call, model_id: str, req: ChatRequest) -> str:
    """Everything in the body but the fields that only change delivery or bookkeeping decides the content."""
    body = call.request.body
    memo = (call.settings.seed, model_id, body) if type(body) is bytes and len(body) <= _CONTENT_KEY_MAX_BODY else None
    key = _CONTENT_KEYS.get(memo) if memo is not None else None
    if key is None:
        key = call.content_key(*content_parts(model_id, req.raw))
        if memo is not None:
            _CONTENT_KEYS.put(memo, key)
    return key


def content_parts(model_id: str, raw: dict[str, Any]) -> tuple[Any, ...]:
    """What the content key hashes (Call.content_key): the model and the body's content fields."""
    return "chat", model_id, sorted([(k, v) for k, v in raw.items() if k not in _NOT_CONTENT_FIELDS])


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


def caching_engaged(call: Call, req: ChatRequest, prompt_tokens: int) -> bool:
    """Whether the prompt cache sees this prompt (and records its prefixes)."""
    settings = call.settings.prompt_caching
    return settings.enable and prompt_tokens >= settings.min_tokens and not field_rules.caching_disabled(req.raw)


def cached_prefix_tokens(call: Call, model, req: ChatRequest, encoding, prompt_tokens: int) -> int:
    if not caching_engaged(call, req, prompt_tokens):
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
