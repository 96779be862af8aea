"""POST /v1/responses and POST /v1/responses/input_tokens: the pipeline of chat (validate, count, admit, generate,
bill, time) on the Responses wire format, with the state hooks (previous_response_id, item references,
conversations, store, background) of storage.py.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from typing import Any

from .... import costing
from ....tokens.image_size import DEFAULT_IMAGE_SIZE, image_dimensions
from ... import respond, service_tiers
from ...content.image_codec import ImageFacts
from ...core import Call
from ...errors import ApiError
from ...memo import BoundedMemo
from ...model_resolution import model_name, resolve_model_of_kind
from ...native_random import NativeRandom
from ...realism import token_charge
from ...realism.latency import Timing, plan_timing
from ...retirement import as_of_day
from ...schema import generate as schema_gen
from ...types import Outcome
from ...validation import parse_json_object
from .. import gpt_image
from ..chat import field_rules
from ..chat import pipeline as chat_pipeline
from . import body as wire
from . import builtin_tools, counting, generate, ids, moderated, storage, stream, tool_fees
from .request import ResponsesRequest, check_reasoning_model_rules, parse_responses_request

# Fields that change how an answer is delivered, billed or kept, not what it says (left out of the content key).
_DELIVERY_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata", "store", "service_tier",
                              "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "background",
                              "previous_response_id", "conversation", "input", "include", "truncation"})
_REASONING_COLLECTION = "response_reasoning_tokens"  # rs_ id -> {"reasoning_tokens": n}, for chains without blobs

# Content keys by (seed, model, body bytes), as chat keeps its own (chat/pipeline.py): a pure function of them when
# the input is the body's own items (no chain, conversation, item reference or truncation, which read the store).
_CONTENT_KEYS_SIZE = 2048
_CONTENT_KEYS: BoundedMemo[tuple[int, str, bytes], str] = BoundedMemo(_CONTENT_KEYS_SIZE)
_CONTENT_KEY_MAX_BODY = 4096  # larger bodies are not kept (memory), and their parsing dwarfs the key anyway
# Input token totals by (model, body bytes, day), per token counter (an engine's counting rules), on the same terms:
# counting walks every item and renders the prompt, about a tenth of a repeated request's engine time.
_INPUT_COUNTS: weakref.WeakKeyDictionary[Any, BoundedMemo[tuple[str, bytes, str | None], tuple[Any, int]]] = (
    weakref.WeakKeyDictionary())


def observed_charge(body: dict[str, Any]) -> int:
    """OpenAI's up-front character estimate (realism/token_charge.py), over the input read as chat messages."""
    raw = body.get("input")
    items = [{"content": raw}] if isinstance(raw, str) else [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []
    instructions = body.get("instructions")
    messages = ([{"content": instructions}] if isinstance(instructions, str) else []) + items
    return token_charge.chat({"messages": messages})


class Prepared:
    """A validated request with its whole input (chain or conversation history first) and its count."""

    def __init__(self, call: Call, body: dict[str, Any], *, counting_only: bool = False) -> None:
        self.body = body
        # The input_tokens body may leave the model out: it is then counted as the configured fallback model's.
        if not counting_only and body.get("model") in (None, ""):
            # Unlike chat's bare sentence, the Responses API names the parameter (an api.openai.com body of 2025-12
            # quoted in mattermost-plugin-agents#476).
            raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
        name = model_name(body) if not counting_only or "model" in body else call.settings.models.fallback
        self.model = resolve_model_of_kind(call, name, "chat", surface="responses")
        try:
            self.req: ResponsesRequest = parse_responses_request(body, self.model.max_output,
                                                                 reasoning_model=self.model.reasoning,
                                                                 counting_only=counting_only)
            if self.model.reasoning:
                check_reasoning_model_rules(body, self.req.effort)
                if self.req.effort is not None:
                    field_rules.check_reasoning_effort(self.model, self.req.effort, "reasoning.effort")
            field_rules.check_verbosity(self.model, self.req.verbosity, "text.verbosity")
            if body.get("moderation") is not None:
                moderated.check(body, call.services.catalog)
            # From here on the request's tier is the one it is served at, which the response reports.
            self.req.service_tier = service_tiers.served_tier(self.model, self.req.service_tier)
        except ApiError:
            # As on chat, the limiter runs before validation: a 400 still costs a request.
            respond.admit(call, self.model, 0, lambda: observed_charge(body))
            raise
        req = self.req
        if req.effort is None:
            req.effort = generate.default_effort(self.model)
        history: list[dict[str, Any]] = []
        if req.previous_response_id:
            history = storage.chain_items(call, req.previous_response_id)
        elif req.conversation:
            history = storage.conversation_items(call, req.conversation)
        self.items = history + [_resolve(call, item) for item in req.items]
        # The input is the body's own items (no chain, conversation or item reference read from the store, nothing
        # truncated yet): what is derived from it is a pure function of the body bytes, worth keeping (see below).
        self.input_from_body = (req.previous_response_id is None and req.conversation is None
                                and all(resolved is sent for resolved, sent in zip(self.items, req.items))
                                and len(self.items) == len(req.items))
        self.count = self._count(call)

    def _count(self, call: Call) -> counting.InputCount:
        counter, day = call.services.tokens, as_of_day(call.settings)
        body = call.request.body
        # Reasoning items may be counted from the store (_known_reasoning_tokens): never kept.
        memo = ((self.model.id, body, day) if self.input_from_body and type(body) is bytes
                and len(body) <= _CONTENT_KEY_MAX_BODY and all(i.get("type") != "reasoning" for i in self.items)
                else None)
        counts = _INPUT_COUNTS.get(counter) if memo is not None else None
        if memo is not None and counts is None:
            counts = _INPUT_COUNTS[counter] = BoundedMemo(_CONTENT_KEYS_SIZE)
        kept = counts.get(memo) if counts is not None else None
        if kept is not None and kept[0] is self.model:  # the same catalog entry, not only the same name
            return _KeptCount(kept[1], self.model, self.req, self.items)
        count = counting.count_input(counter, self.model, self.req, self.items,
                                     lambda item: _known_reasoning_tokens(call, item), day=day)
        if counts is not None:
            counts.put(memo, (self.model, count.total))
        return count

    def truncate_to(self, call: Call, budget: int) -> None:
        """truncation "auto": drops items from the beginning of the conversation until the input fits (the spec's
        description), keeping at least the last item."""
        while self.count.total > budget and len(self.items) > 1:
            self.items = self.items[1:]
            while len(self.items) > 1 and self.items[0].get("type") == "function_call_output":
                self.items = self.items[1:]  # an output without its call would be refused
            self.input_from_body = False
            self.count = self._count(call)


class _KeptCount:
    """A memoised input count (counting.InputCount's fields): its chat messages are rebuilt only when asked, by a
    generation (a content cache miss) or the prompt cache (long prompts), not on every repeated request."""

    def __init__(self, total: int, model, req: ResponsesRequest, items: list[dict[str, Any]]) -> None:
        self.total = total
        self._messages_of = (model, req, items)

    @functools.cached_property
    def messages(self) -> list[dict[str, Any]]:
        return counting.input_messages(*self._messages_of)


def _resolve(call: Call, item: dict[str, Any]) -> dict[str, Any]:
    """An item_reference becomes the stored item; a reasoning item sent back by id alone must have been stored."""
    if item.get("type") == "item_reference":
        found = storage.find_item(call, item["id"])
        if found is None:
            raise storage.item_not_found(item["id"])
        return found
    unstored = item.get("type") == "reasoning" and not item.get("encrypted_content") and isinstance(item.get("id"), str)
    if unstored and storage.find_item(call, item["id"]) is None:
        raise storage.item_not_found(item["id"])
    return item


def _known_reasoning_tokens(call: Call, item: dict[str, Any]) -> int | None:
    blob = item.get("encrypted_content")
    if isinstance(blob, str) and blob:
        return ids.reasoning_tokens_in(call.settings.seed, blob, item.get("id"))
    doc = call.services.state.get(_REASONING_COLLECTION, item["id"]) if isinstance(item.get("id"), str) else None
    return doc["reasoning_tokens"] if doc else None


def handle_create(call: Call) -> Outcome:
    services = call.services
    prepared = Prepared(call, parse_json_object(call.request.body))
    model, req, count = prepared.model, prepared.req, prepared.count
    requested = req.max_output_tokens or 0
    if req.truncation == "auto":
        prepared.truncate_to(call, model.context_window - requested)
        count = prepared.count
    input_tokens = count.total
    if input_tokens + requested > model.context_window:
        raise ApiError(400, "Your input exceeds the context window of this model. Please adjust your input and try "
                            "again.", param="input", code="context_length_exceeded")
    estimate = req.max_output_tokens if req.max_output_tokens is not None else model.default_max_output_estimate
    respond.admit(call, model, input_tokens + estimate, lambda: observed_charge(prepared.body))
    fault = call.check_fault(model.id, req.stream)

    encoding = services.tokens.encoding(model.encoding)
    # text.verbosity changes the answer's length, not what it draws: the RNG is seeded without it, so that one prompt
    # answers shorter at low and longer at high (the content cache still tells the three apart).
    seed_key = _content_key(call, model.id, prepared)
    try:
        planned = call.generated(f"{seed_key}:{req.verbosity}",
                                 lambda _: generate.plan_output(req, count.messages, model, encoding,
                                                                NativeRandom(seed_key), services.fixtures,
                                                                prepared.items))
    except schema_gen.SchemaGenerationError as exc:
        param = "text.format.schema" if req.text_format["type"] == "json_schema" else "tools"
        raise ApiError(400, f"Invalid schema: {exc}", param=param, code="invalid_json_schema") from None

    cached = _cached_tokens(call, prepared, encoding, input_tokens)
    respond.charge_tokens(call, model, input_tokens, cached, planned.output_tokens,
                          service_tiers.tier_prices(model, req.service_tier))

    timing = plan_timing(call.rng, model.latency, prompt_tokens=input_tokens - cached,
                         output_tokens=max(planned.visible_pieces, 1), hidden_tokens=planned.reasoning_tokens,
                         time_scale=call.time_scale)
    if planned.builtin is not None and call.time_scale > 0:  # the tool works before the answer starts
        timing = _delayed(timing, builtin_tools.seconds_per_call(planned.builtin) * call.time_scale)
    # A background response waits in the queue first (config/responses.yaml background.queued_seconds).
    queued = counting.settings()["background"]["queued_seconds"] * call.time_scale if req.background else 0.0
    created_at = int(services.wall_clock())
    response_ids = ids.ResponseIds(call.id_rng, created_at)
    meta = wire.Meta(id=response_ids.new("resp_"), created_at=created_at, model=model.snapshot,
                     reasoning_model=model.reasoning)
    encrypted = reissue = None
    if req.includes("reasoning.encrypted_content"):
        length = counting.blob_length_for(planned.reasoning_tokens)
        encrypted = lambda item_id: ids.encrypted_reasoning(call.settings.seed, planned.reasoning_tokens, length,
                                                             call.id_rng)
        reissue = lambda item, added: _reissued(call, item, planned.reasoning_tokens, length, added)
    output = generate.build_items(planned, response_ids, logprobs=req.includes("message.output_text.logprobs"),
                                  encrypted=encrypted)
    status = "incomplete" if planned.incomplete else "completed"
    reason = "max_output_tokens" if planned.incomplete else None
    moderation = None
    if req.raw.get("moderation") is not None:
        moderation, blocked = moderated.moderate(call, req.raw["moderation"], req.instructions, prepared.items, output)
        if blocked:  # the answer is withheld (moderated.py: assumed shape)
            planned, output = _withheld(planned, output)
            status, reason = "incomplete", "content_filter"
    usage = wire.usage(input_tokens, cached, planned.output_tokens, planned.reasoning_tokens)
    # tool_usage is shown by reasoning models only (body.response_object); a built-in tool's fee reads it too.
    tool_usage = (wire.tool_usage(output, lambda item: _image_gen_tokens(call, req, prepared.items, item))
                  if model.reasoning or planned.builtin is not None else None)
    done = dict(status=status, output=output, usage_body=usage, completed_at=created_at + max(int(queued + timing.total), 0),
                incomplete_reason=reason, moderation=moderation, tool_usage_body=tool_usage)
    if planned.builtin is not None:
        _add_fee(call, req, model, planned.builtin, done["tool_usage_body"]["image_gen"])
    final = wire.response_object(meta, req, **done)
    # Streamed and background responses keep their events (GET ?stream=true replays them); the real API refuses to
    # replay a foreground non-streamed response, so its events are not even built.
    events = []
    if req.stream or req.background:
        start = wire.response_object(meta, req, status="in_progress", output=[], usage_body=None,
                                     tool_usage_body=wire.tool_usage([], lambda item: (0, 0, 0)), streamed=True)
        streamed_final = wire.response_object(meta, req, **done, streamed=True)
        events = stream.event_list(call, planned, output, start, streamed_final, timing, req.include_obfuscation,
                                   reissue)
    if req.background:  # everything after response.created waits for the queue
        events = [(due if index == 0 else due + queued, event) for index, (due, event) in enumerate(events)]
    if req.background and req.stream:
        events = storage.background_events(events)
    _keep(call, req, final, planned, events, timing, queued)
    if req.stream:
        plan = stream.plan(call, events, fault)
        if req.background:  # a cancel from another request or worker ends the stream (background.cancel_watch)
            plan.interrupt = storage.cancel_watch(call, final["id"],
                                                  counting.settings()["background"]["cancel_check_seconds"])
        return Outcome(200, {"content-type": "text/event-stream; charset=utf-8"}, stream=plan)
    if req.background:
        return respond.json_outcome(storage.queued_view(final))
    if _leaves_no_trace(call, prepared, planned, moderation, encrypted, input_tokens):
        call.replayable = True  # the front may answer a repeat itself (engine/replay.py)
        call.created_at = created_at
        call.response_ids = response_ids
    return respond.json_outcome(final, delay=timing.total)


# Input items that neither read nor write the state store (a reasoning item sent by id is looked up there).
_PURE_ITEM_TYPES = frozenset({"message", "function_call", "function_call_output"})


def _leaves_no_trace(call: Call, prepared: Prepared, planned, moderation, encrypted, input_tokens: int) -> bool:
    """Whether this answer is a pure function of the request bytes and the config, as the front's replay needs:
    nothing read from the store (no chain, conversation or item reference) and nothing stored but the response's own
    row, which the front can write in a replay's place (on this host's SQLite file); no prompt cache entry, no
    built-in tool, moderation or encrypted reasoning (whose blobs are random and signed)."""
    req = prepared.req
    return ((not req.store or call.stored_row is not None) and not req.background and not req.stream
            and req.previous_response_id is None and req.conversation is None and prepared.input_from_body
            and all(item.get("type", "message") in _PURE_ITEM_TYPES for item in prepared.items)
            and moderation is None and planned.builtin is None and encrypted is None
            and _uncacheable(call, input_tokens))


def _uncacheable(call: Call, input_tokens: int) -> bool:
    """Prompt caching is off, or this input is below its minimum length: the cache neither answers nor records it."""
    caching = call.settings.prompt_caching
    return not caching.enable or input_tokens < caching.min_tokens


def _cached_tokens(call: Call, prepared: Prepared, encoding, input_tokens: int) -> int:
    """The prompt cache's hit under chat's rules (chat_pipeline.cached_prefix_tokens), which cache no prompt below
    their minimum length: a shorter one needs no chat request built for them."""
    if _uncacheable(call, input_tokens):
        return 0
    req = prepared.req
    functions, _ = generate.function_choice(req)
    cache_req = generate.chat_request_for(req, prepared.count.messages, functions, "auto")
    # Chat's cache rules read these fields (key, retention, options) and the parts' prompt_cache_breakpoint marks.
    cache_req.raw = {k: req.raw[k] for k in ("prompt_cache_key", "prompt_cache_retention", "prompt_cache_options")
                     if k in req.raw}
    cache_req.raw["messages"] = [i for i in prepared.items if i.get("type") == "message"]
    return chat_pipeline.cached_prefix_tokens(call, prepared.model, cache_req, encoding, input_tokens)


def _content_key(call: Call, model_id: str, prepared: Prepared) -> str:
    """Everything in the body but the fields that only change delivery or bookkeeping, and the whole input (chain or
    conversation history first), decides the content."""
    req, body = prepared.req, call.request.body
    memo = ((call.settings.seed, model_id, body)
            if prepared.input_from_body and type(body) is bytes and len(body) <= _CONTENT_KEY_MAX_BODY else None)
    key = _CONTENT_KEYS.get(memo) if memo is not None else None
    if key is None:
        content = sorted((k, v) for k, v in ((k, _without_verbosity(v) if k == "text" else v)
                                             for k, v in req.raw.items() if k not in _DELIVERY_FIELDS) if v != {})
        key = call.content_key("responses", model_id, content, prepared.items, req.include)
        if memo is not None:
            _CONTENT_KEYS.put(memo, key)
    return key


def _withheld(planned, output: list[dict[str, Any]]):
    """A blocked answer keeps only its reasoning items (the planned ones too, so that a stream matches)."""
    kept = [i for i, item in enumerate(output) if item["type"] == "reasoning"]
    return (dataclasses.replace(planned, items=[planned.items[i] for i in kept]), [output[i] for i in kept])


def _without_verbosity(text: Any) -> Any:
    return {k: v for k, v in text.items() if k != "verbosity"} if isinstance(text, dict) else text


def _keep(call: Call, req: ResponsesRequest, final: dict[str, Any], planned, events, timing, queued: float) -> None:
    """Store the response (and its reasoning items' token counts), and append the turn to its conversation."""
    wanted = req.store or req.conversation
    input_items = storage.normalize_input(call, req.raw.get("input"), final["id"]) if wanted else []
    if req.store:
        # Written with the response (one transaction), under the store's TTL (state.ttl_seconds).
        reasoning = [(_REASONING_COLLECTION, item["id"], {"reasoning_tokens": planned.reasoning_tokens}, None)
                     for item in final["output"] if item["type"] == "reasoning"]
        line = (storage.timeline(queued, queued + timing.total, [due for due, _ in events] or None)
                if req.background else None)
        storage.save(call, final, input_items, [e for _, e in events] or None, line, also=reasoning)
    if req.conversation:
        storage.append_to_conversation(call, req.conversation, input_items, final["output"])


def _reissued(call: Call, item: dict[str, Any], reasoning_tokens: int, length: int, added: bool) -> dict[str, Any]:
    """A streamed reasoning item as its output_item.added (`added`) or .done event shows it: the blob is encrypted
    anew at each event, shorter at `added`, before any reasoning (config/responses.yaml reasoning_shape)."""
    if "encrypted_content" not in item:
        return item
    if added:
        length = counting.blob_length_for(0) + counting.settings()["reasoning_shape"]["added_blob_extra_chars"]
        reasoning_tokens = 0
    return {**item, "encrypted_content": ids.encrypted_reasoning(call.settings.seed, reasoning_tokens, length,
                                                                 call.id_rng)}


def _image_gen_tokens(call: Call, req: ResponsesRequest, items: list[dict[str, Any]],
                      item: dict[str, Any]) -> tuple[int, int, int]:
    """One image_generation call's text input tokens (its prompt), image input tokens (the images of the last user
    message, which the tool edits from, under the image model's own rule: gpt_image.input_image_tokens, as
    /v1/images/edits bills them) and image output tokens (the catalog's table of the tool's image model)."""
    tool = next((t for t in req.builtins if t.get("type") == "image_generation"), None)
    image_model = tool_fees.image_model(tool, call.services.catalog)
    prompt_tokens = call.services.tokens.count_text("o200k_base", item.get("revised_prompt") or "")
    if image_model is None:
        return prompt_tokens, 0, 0
    fidelity = (tool or {}).get("input_fidelity") or "low"
    image_in = sum(gpt_image.input_image_tokens(image_model, facts, fidelity) for facts in _last_user_images(items))
    table = image_model.image_output_tokens or {}
    by_size = table.get(item.get("quality") if item.get("quality") in table else "medium") or {}
    return prompt_tokens, image_in, int(by_size.get(item.get("size") or "1024x1024", by_size.get("1024x1024", 0)))


def _last_user_images(items: list[dict[str, Any]]) -> list[ImageFacts]:
    """The sizes of the input_image parts of the last user message (an http(s) URL is never fetched: the default
    size, as chat counts it)."""
    last = next((i for i in reversed(items) if i.get("type", "message") == "message" and i.get("role") == "user"), None)
    content = last.get("content") if last else None
    facts = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("type") == "input_image":
            url = part.get("image_url")
            width, height = (image_dimensions(url) if isinstance(url, str) else None) or DEFAULT_IMAGE_SIZE
            facts.append(ImageFacts("png", width, height, "RGB"))
    return facts


def _delayed(timing: Timing, seconds: float) -> Timing:
    return Timing(timing.ttft + seconds, tuple(t + seconds for t in timing.token_times), timing.total + seconds)


def _add_fee(call: Call, req: ResponsesRequest, model, kind: str, image_usage: dict[str, Any]) -> None:
    """The built-in tool's fee on top of the tokens (tool_fees.py; config/responses.yaml builtin_tools)."""
    tool = next((t for t in req.builtins if builtin_tools.family(t["type"]) == kind), None)
    record = call.record
    record.cost_picodollars += tool_fees.fee_picodollars(kind, tool, model, image_usage, call.services.catalog,
                                                         as_of_day(call.settings))
    record.cost_usd = costing.format_usd(record.cost_picodollars)


def handle_input_tokens(call: Call) -> Outcome:
    """What a create with this body would bill as input (usage.input_tokens), without generating."""
    prepared = Prepared(call, parse_json_object(call.request.body), counting_only=True)
    respond.admit(call, prepared.model, 0, lambda: observed_charge(prepared.body))
    return respond.json_outcome({"object": "response.input_tokens", "input_tokens": prepared.count.total})
