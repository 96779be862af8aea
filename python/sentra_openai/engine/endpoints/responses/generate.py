"""What the simulated model answers on /v1/responses, built on chat's generator (fixtures, the schema-valid generator
for tools and structured output, the agent loop that answers in text after a tool result): the Responses request
becomes a ChatRequest, chat's Choice becomes output items.

`plan_output` is a pure function of the request and a seeded RNG (cached by content); ids are added afterwards by
`build_items`, from the call's unique id stream.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field
from typing import Any

from ...content import textgen, tokensplit
from ..chat import generate as chat_generate
from ..chat.request import ChatRequest
from . import builtin_tools, counting
from .request import ResponsesRequest

_SUMMARY_LEADS = ("Considering", "Clarifying", "Weighing", "Exploring", "Outlining", "Checking")


@dataclass
class TextPart:
    kind: str  # "output_text" | "refusal"
    text: str
    pieces: list[str]
    annotations: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] | None = None


@dataclass
class PlannedItem:
    """An output item without its id: `body` in the wire's key order (id first is added later), plus what a stream
    needs (text pieces, argument pieces, summary pieces)."""

    type: str
    body: dict[str, Any]
    parts: list[TextPart] = field(default_factory=list)  # message
    argument_pieces: list[str] = field(default_factory=list)  # function_call
    summary_pieces: list[list[str]] = field(default_factory=list)  # reasoning: one list per summary part


@dataclass
class Planned:
    items: list[PlannedItem]
    output_tokens: int
    reasoning_tokens: int
    incomplete: bool
    builtin: str | None = None  # the built-in tool family used, for billing
    visible_pieces: int = 0


def chat_request_for(req: ResponsesRequest, messages: list[dict[str, Any]], functions: list[dict[str, Any]],
                     tool_choice: Any) -> ChatRequest:
    fmt = req.text_format if req.text_format["type"] != "text" else None
    return ChatRequest(
        model_name=req.model_name, messages=messages, n=1, max_output=req.max_output_tokens,
        max_output_param="max_output_tokens" if req.max_output_tokens is not None else None, stop=[], seed=None,
        logprobs=req.includes("message.output_text.logprobs"), top_logprobs=req.top_logprobs, stream=req.stream,
        include_usage=False, include_obfuscation=req.include_obfuscation, tools=functions, tool_choice=tool_choice,
        parallel_tool_calls=req.parallel_tool_calls, legacy_functions=False, response_format=fmt,
        service_tier=req.service_tier, raw={"verbosity": req.verbosity},  # chat's generator reads the length asked
    )


def function_choice(req: ResponsesRequest) -> tuple[list[dict[str, Any]], Any]:
    """The function tools the model may call and chat's form of tool_choice."""
    choice = req.tool_choice
    functions = req.functions
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = {t.get("name") for t in choice["tools"] if isinstance(t, dict) and t.get("type") == "function"}
        functions = [f for f in functions if f["name"] in allowed]
        return functions, choice["mode"]
    if isinstance(choice, dict) and choice.get("type") == "function":
        return functions, {"name": choice["name"]}
    if isinstance(choice, dict):  # a built-in or MCP tool is forced: no function this turn
        return functions, "none"
    if choice == "required" and not functions:
        return functions, "none"
    return functions, choice


def plan_output(req: ResponsesRequest, messages: list[dict[str, Any]], model, encoding, rng: random.Random,
                fixtures, input_items: list[dict[str, Any]] | None = None) -> Planned:
    """`input_items`: the whole input (chain first), for an MCP approval answered at its end."""
    functions, choice = function_choice(req)
    chat_req = chat_request_for(req, messages, functions, choice)
    items: list[PlannedItem] = []
    used = builtin_tools.answer_approval(input_items or req.items, chat_req.last_user_text(), rng, encoding)
    builtin = None if used is not None else builtin_tools.choose(
        req.builtins, req.tool_choice, chat_req.last_user_text(), chat_req.answering_tool_result())
    if req.max_tool_calls is not None and builtin is not None and _builtin_calls_so_far(req) >= req.max_tool_calls:
        builtin = None
    if builtin is not None:
        used = builtin_tools.use(builtin, chat_req.last_user_text(), rng, encoding, req.include)
    if used is not None:
        chat_req.tool_choice = "none"  # the built-in answered this turn; the model now writes its answer
    refusal = _refusal(chat_req)
    if refusal is not None and used is None:
        reasoning_tokens, _ = _scaled_reasoning(req, chat_generate.draw_reasoning_tokens(rng, model, req.max_output_tokens), 0)
        if model.reasoning and req.effort != "none":
            items.append(_reasoning_item(req, rng, encoding, chat_req.last_user_text(), reasoning_tokens))
        part = TextPart("refusal", refusal, tokensplit.split_on_tokens(encoding, refusal))
        items.append(PlannedItem("message", {"type": "message", "status": "completed", "content": [],
                                             "role": "assistant"}, parts=[part]))
        tokens = len(tokensplit.token_ids(encoding, refusal)) + reasoning_tokens  # encoded once, by its pieces
        return Planned(items, tokens, reasoning_tokens, False, None, len(part.pieces))
    choice_out = chat_generate.generate_choice(0, chat_req, model, encoding, rng, fixtures)
    reasoning_tokens, cut_short = _scaled_reasoning(req, choice_out.reasoning_tokens, choice_out.completion_tokens)
    if cut_short:  # reasoning comes first: what is left of max_output_tokens bounds the visible answer
        _cut_answer(choice_out, encoding, max((req.max_output_tokens or 0) - reasoning_tokens, 0))
    output_tokens = choice_out.completion_tokens - choice_out.reasoning_tokens + reasoning_tokens
    if model.reasoning and req.effort != "none":
        items.append(_reasoning_item(req, rng, encoding, chat_req.last_user_text(), reasoning_tokens))
    if used is not None:
        items.extend(PlannedItem(i["type"], i) for i in used.items)
        output_tokens += 12 * len(used.items)  # the call the model writes (query, code, prompt): a few tokens each
    if used is not None and used.ends_turn:
        return Planned(items, output_tokens, reasoning_tokens, False, used.kind)

    incomplete = choice_out.finish_reason == "length" or cut_short
    if choice_out.tool_calls:
        for call in choice_out.tool_calls:
            body = {"type": "function_call", "status": "completed", "arguments": call.arguments, "name": call.name}
            items.append(PlannedItem("function_call", body, argument_pieces=call.pieces))
    elif choice_out.content is not None and (choice_out.content or not incomplete or not model.reasoning):
        text = choice_out.content
        pieces = choice_out.pieces
        annotations: list[dict[str, Any]] = []
        if used is not None and used.finding and text:
            text = f"{used.finding} {text[:1].lower()}{text[1:]}"
            pieces = tokensplit.split_on_tokens(encoding, text)
            output_tokens += len(encoding.encode_ordinary(used.finding)) + 1
            annotations = builtin_tools.cite(text, used)
        part = TextPart("output_text", text, pieces, annotations, choice_out.logprobs if used is None else None)
        status = "incomplete" if incomplete else "completed"
        message: dict[str, Any] = {"type": "message", "status": status, "content": []}
        if any(model.id.startswith(p) for p in counting.settings()["message_phase_models"]):
            message["phase"] = "final_answer"
        message["role"] = "assistant"
        items.append(PlannedItem("message", message, parts=[part]))
    visible = sum(len(p.pieces) for i in items for p in i.parts) + sum(len(i.argument_pieces) for i in items)
    return Planned(items, output_tokens, reasoning_tokens, incomplete, used.kind if used and used.items else None, visible)


def default_effort(model) -> str | None:
    """The effort a reasoning model uses when the request names none (config/responses.yaml reasoning_effort)."""
    return _default_effort_of(model.id) if model.reasoning else None


@functools.lru_cache(maxsize=256)  # per model id: a catalog's worth
def _default_effort_of(model_id: str) -> str:
    rules = counting.settings()["reasoning_effort"]
    return "high" if any(model_id.startswith(p) for p in rules["default_high_models"]) else rules["default"]


def _scaled_reasoning(req: ResponsesRequest, drawn: int, completion_tokens: int) -> tuple[int, bool]:
    """Chat's reasoning draw (the medium effort) scaled by the request's effort, in 64-token steps, within
    max_output_tokens; and whether that limit cut the reasoning short (the response is then incomplete)."""
    if drawn == 0:
        return 0, False
    factor = counting.settings()["reasoning_effort"]["token_multipliers"].get(req.effort or "medium", 1)
    scaled = 0 if factor == 0 else max(64, round(drawn * factor / 64) * 64)
    if req.max_output_tokens is not None and scaled + completion_tokens - drawn > req.max_output_tokens:
        return min(scaled, req.max_output_tokens), True
    return scaled, False


def _cut_answer(choice, encoding, budget: int) -> None:
    """Cuts chat's answer to `budget` visible tokens: a shorter text, or nothing (tool calls are not half-sent)."""
    visible = choice.completion_tokens - choice.reasoning_tokens
    if choice.tool_calls or budget <= 0 or choice.content is None:
        choice.tool_calls, choice.content, choice.pieces = [], "" if budget <= 0 else choice.content, []
        choice.completion_tokens = choice.reasoning_tokens
        return
    text = textgen.truncate_to_tokens(encoding, choice.content, min(budget, visible))
    choice.content, choice.pieces = text, tokensplit.split_on_tokens(encoding, text)
    choice.completion_tokens = choice.reasoning_tokens + len(tokensplit.token_ids(encoding, text))  # encoded once
    choice.logprobs = None


def _refusal(chat_req: ChatRequest) -> str | None:
    """The refusal text when the last user message asks for what the model refuses (config/responses.yaml)."""
    if chat_req.answering_tool_result():
        return None
    rules = counting.settings()["refusals"]
    return rules["text"] if re.search(rules["match"], chat_req.last_user_text()) else None


def _builtin_calls_so_far(req: ResponsesRequest) -> int:
    calls = ("web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call", "mcp_call")
    return sum(1 for item in req.items if item.get("type") in calls)


def _reasoning_item(req: ResponsesRequest, rng: random.Random, encoding, prompt: str, reasoning_tokens: int) -> PlannedItem:
    summaries: list[list[str]] = []
    if req.summary and reasoning_tokens:
        for _ in range(1 if req.summary == "concise" else rng.randint(1, 2)):
            topic = " ".join(textgen.generate_text(rng, 5, encoding, prompt).split()[:3]).rstrip(".,;:").lower()
            body = textgen.generate_text(rng, 40 if req.summary == "concise" else 80, encoding, prompt)
            text = f"**{rng.choice(_SUMMARY_LEADS)} {topic}**\n\n{body}"
            summaries.append(tokensplit.split_on_tokens(encoding, text))
    summary = [{"type": "summary_text", "text": "".join(p)} for p in summaries]
    return PlannedItem("reasoning", {"type": "reasoning", "summary": summary}, summary_pieces=summaries)


def build_items(planned: Planned, ids, *, logprobs: bool, encrypted: Any = None) -> list[dict[str, Any]]:
    """The final output items, in the real key order, with fresh ids (and call ids) from `ids`.
    `encrypted(reasoning_item_id)` returns a reasoning item's encrypted_content when the client included it."""
    out = []
    for planned_item in planned.items:
        body = planned_item.body  # cached content: never changed, only copied at the top
        kind = planned_item.type
        if kind == "message":
            # `content` keeps its place in the body's key order.
            item = {"id": ids.new("msg_"), **body, "content": [_part_body(p, logprobs) for p in planned_item.parts]}
        elif kind == "function_call":
            item = {"id": ids.new("fc_"), "type": "function_call", "status": body["status"],
                    "arguments": body["arguments"], "call_id": ids.call_id(), "name": body["name"]}
        elif kind == "reasoning":
            # The 2026 item: an empty `content` before the blob and the summary (config/responses.yaml
            # reasoning_shape; capture phase_streamed_on_part_start-0).
            item = {"id": ids.new("rs_"), "type": "reasoning", "content": []}
            if encrypted is not None:
                item["encrypted_content"] = encrypted(item["id"])
            item["summary"] = body["summary"]
        else:
            item = {"id": ids.new(builtin_tools.id_prefix(kind)), **body}
        out.append(item)
    return out


def _part_body(part: TextPart, logprobs: bool) -> dict[str, Any]:
    if part.kind == "refusal":
        return {"type": "refusal", "refusal": part.text}
    entries = [as_responses_logprob(e) for e in part.logprobs] if (logprobs and part.logprobs) else []
    return {"type": "output_text", "annotations": part.annotations, "logprobs": entries, "text": part.text}


def as_responses_logprob(entry: dict[str, Any]) -> dict[str, Any]:
    """Chat's logprob entry in the Responses shape (the spec's LogProb: token, logprob, bytes, top_logprobs)."""
    return {"token": entry["token"], "bytes": entry["bytes"], "logprob": entry["logprob"],
            "top_logprobs": [{"token": t["token"], "bytes": t["bytes"], "logprob": t["logprob"]}
                             for t in entry.get("top_logprobs", [])]}
