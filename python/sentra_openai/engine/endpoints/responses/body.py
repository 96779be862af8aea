"""The Response object in the wire's key order (shared/reference/responses-api.md §1.2: the SDK's 2025-08 live
snapshot, with the keys of real 2026 bodies placed beside their neighbours), and usage."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from .request import ResponsesRequest


@dataclass
class Meta:
    id: str
    created_at: int
    model: str  # the dated snapshot the response echoes
    reasoning_model: bool


def usage(input_tokens: int, cached_tokens: int, output_tokens: int, reasoning_tokens: int) -> dict[str, Any]:
    """`output_tokens` includes the reasoning tokens; cache_write_tokens is always 0 (the reference's advice)."""
    return {
        "input_tokens": input_tokens,
        # Key order of the raw 2026-07 streams (capture phase_streamed_on_part_start-0).
        "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": cached_tokens},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def echo_tools(req: ResponsesRequest) -> list[dict[str, Any]]:
    tools = []
    for tool in req.tools:
        if tool.get("type") == "function":
            tools.append({"type": "function", "description": tool.get("description"), "name": tool["name"],
                          "parameters": tool.get("parameters"), "strict": tool.get("strict") is not False})
        else:
            tools.append(tool)
    return tools


def reasoning_echo(req: ResponsesRequest, meta: Meta) -> dict[str, Any]:
    """The `reasoning` block: effort and summary on every model (null on models that do not reason); reasoning models
    add the effective `context` and `mode`, in the wire's key order context, effort, mode, summary (raw 2026-07
    streams, config/responses.yaml reasoning_shape)."""
    if not meta.reasoning_model:
        return {"effort": None, "summary": None}
    # A summary of "auto" is echoed as the kind the model gives: "detailed" (capture reasoning_summary_auto-0).
    summary = "detailed" if req.summary == "auto" else req.summary
    return {"context": effective_context(req, meta.model), "effort": req.effort, "mode": req.reasoning_mode or
            _shape()["mode_default"], "summary": summary}


def effective_context(req: ResponsesRequest, model: str) -> str:
    """An explicit current_turn / all_turns is kept; omitted or "auto" is the model family's default."""
    if req.reasoning_context in ("current_turn", "all_turns"):
        return req.reasoning_context
    return _default_context(model)


@functools.lru_cache(maxsize=256)  # per model snapshot: a catalog's worth
def _default_context(model: str) -> str:
    shape = _shape()
    if any(model.startswith(p) for p in shape["context_all_turns_models"]):
        return "all_turns"
    return shape["context_default"]


def tool_usage(items: list[dict[str, Any]],
               image_tokens: Callable[[dict[str, Any]], tuple[int, int, int]]) -> dict[str, Any]:
    """What the built-in tools used: image generation's tokens (`image_tokens(item)` gives one call's text input,
    image input and image output tokens) and the web searches made (one request per web_search_call)."""
    text_in = image_in = image_out = 0
    for item in items:
        if item.get("type") == "image_generation_call":
            text, pictures_in, pictures_out = image_tokens(item)
            text_in, image_in, image_out = text_in + text, image_in + pictures_in, image_out + pictures_out
    searches = sum(1 for item in items if item.get("type") == "web_search_call")
    return {
        "image_gen": {"input_tokens": text_in + image_in,
                      "input_tokens_details": {"image_tokens": image_in, "text_tokens": text_in},
                      "output_tokens": image_out, "output_tokens_details": {"image_tokens": image_out, "text_tokens": 0},
                      "total_tokens": text_in + image_in + image_out},
        "web_search": {"num_requests": searches},
    }


def _shape() -> dict[str, Any]:
    from .counting import settings  # the one reader of config/responses.yaml

    return settings()["reasoning_shape"]


def response_object(meta: Meta, req: ResponsesRequest, *, status: str, output: list[dict[str, Any]],
                    usage_body: dict[str, Any] | None, completed_at: int | None = None,
                    incomplete_reason: str | None = None, error: dict[str, Any] | None = None,
                    tool_usage_body: dict[str, Any] | None = None, streamed: bool = False,
                    moderation: dict[str, Any] | None = None) -> dict[str, Any]:
    """`tool_usage_body`: the tool_usage block (reasoning models only, config/responses.yaml reasoning_shape).
    `moderation`: the moderated response's results (moderated.py); null when not asked, on every model (captures:
    gpt-4.1 conversation_id_auto-2 of 2026-05-01, gpt-5 moderation-0, gpt-5.5, gpt-5.6-sol), after `model`.
    `streamed`: a snapshot inside a stream event, which has no `billing` (every raw stream capture, 2025-03 ..
    2026-07) and echoes service_tier "auto" until the response is done (phase_streamed_on_part_start-0)."""
    body: dict[str, Any] = {
        "id": meta.id,
        "object": "response",
        "created_at": meta.created_at,
        "status": status,
        "background": req.background,
    }
    if not streamed:
        body["billing"] = {"payer": "developer"}
    body["completed_at"] = completed_at
    if req.conversation is not None:
        body["conversation"] = {"id": req.conversation}
    tier = "default" if req.service_tier in ("auto", "default") else req.service_tier
    if streamed and (req.raw.get("service_tier") or "auto") == "auto" and status in ("queued", "in_progress"):
        tier = "auto"
    # Key order of the raw 2026 streams (capture phase_streamed_on_part_start-0): frequency_penalty after error,
    # presence_penalty after parallel_tool_calls, tool_usage between tool_choice and tools.
    body.update({
        "error": error,
        "frequency_penalty": 0.0,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "model": meta.model,
        "moderation": moderation,
        "output": output,
        "parallel_tool_calls": req.parallel_tool_calls,
        "presence_penalty": 0.0,
        "previous_response_id": req.previous_response_id,
        "prompt_cache_key": req.raw.get("prompt_cache_key"),
        "prompt_cache_retention": req.raw.get("prompt_cache_retention"),
        "reasoning": reasoning_echo(req, meta),
        "safety_identifier": req.raw.get("safety_identifier"),
        "service_tier": tier,
        "store": req.store,
        "temperature": req.temperature,
        "text": {"format": req.text_format, "verbosity": req.verbosity},
        "tool_choice": req.tool_choice,
    })
    if meta.reasoning_model and tool_usage_body is not None:
        body["tool_usage"] = tool_usage_body
    body.update({
        "tools": echo_tools(req),
        "top_logprobs": req.top_logprobs,
        "top_p": req.top_p,
        "truncation": req.truncation,
        "usage": usage_body,
        "user": req.raw.get("user"),
        "metadata": req.metadata,
    })
    return body
