"""The Response object in the wire's key order (shared/reference/responses-api.md §1.2: the SDK's 2025-08 live
snapshot, with the keys of real 2026 bodies placed beside their neighbours), and usage."""

from __future__ import annotations

from dataclasses import dataclass
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
        "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
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


def response_object(meta: Meta, req: ResponsesRequest, *, status: str, output: list[dict[str, Any]],
                    usage_body: dict[str, Any] | None, completed_at: int | None = None,
                    incomplete_reason: str | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    # A summary of "auto" is echoed as the kind the model gives: "detailed" (capture reasoning_summary_auto-0).
    summary = "detailed" if req.summary == "auto" else req.summary
    reasoning = ({"effort": req.effort, "summary": summary} if meta.reasoning_model
                 else {"effort": None, "summary": None})
    body: dict[str, Any] = {
        "id": meta.id,
        "object": "response",
        "created_at": meta.created_at,
        "status": status,
        "background": req.background,
        "billing": {"payer": "developer"},
        "completed_at": completed_at,
    }
    if req.conversation is not None:
        body["conversation"] = {"id": req.conversation}
    body.update({
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "model": meta.model,
        "output": output,
        "parallel_tool_calls": req.parallel_tool_calls,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "previous_response_id": req.previous_response_id,
        "prompt_cache_key": req.raw.get("prompt_cache_key"),
        "prompt_cache_retention": req.raw.get("prompt_cache_retention"),
        "reasoning": reasoning,
        "safety_identifier": req.raw.get("safety_identifier"),
        "service_tier": "default" if req.service_tier in ("auto", "default") else req.service_tier,
        "store": req.store,
        "temperature": req.temperature,
        "text": {"format": req.text_format, "verbosity": req.verbosity},
        "tool_choice": req.tool_choice,
        "tools": echo_tools(req),
        "top_logprobs": req.top_logprobs,
        "top_p": req.top_p,
        "truncation": req.truncation,
        "usage": usage_body,
        "user": req.raw.get("user"),
        "metadata": req.metadata,
    })
    return body
