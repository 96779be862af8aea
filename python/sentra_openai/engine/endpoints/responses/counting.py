"""usage.input_tokens of a Responses request: the chat counting rules (tokens/counter.py) applied to the input as the
model reads it, plus the Responses API's own items and settings, with the constants of config/responses.yaml.

The input becomes chat messages (instructions as the first developer/system message, message items in order, their
input_text/input_image parts as chat parts); what chat has no message for is added on top: function tools (the chat
rendering + `tools_overhead`, without chat's preamble), function_call items and their outputs, reasoning items sent
back, text.format json_schema and input files.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from ....config import config_dir
from ....tokens import render_functions
from ...realism import prompt_cache
from .request import ResponsesRequest

_CONFIG = config_dir() / "responses.yaml"
_FILE_BYTES_PER_TOKEN = 4  # an input file the simulator cannot read counts a token per 4 bytes (an estimate)


@functools.lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    """config/responses.yaml, read once per process."""
    with open(_CONFIG, "rb") as handle:
        return yaml.safe_load(handle)


def rule(name: str) -> Any:
    return settings()["counting"][name]


@dataclass(frozen=True)
class InputCount:
    total: int
    messages: list[dict[str, Any]]  # the chat messages the input became (generation and the prompt cache use them)


def chat_messages(instructions: str | None, items: list[dict[str, Any]], *, developer: bool) -> list[dict[str, Any]]:
    """The input as chat messages: message items, function calls as assistant tool calls, outputs as tool messages.
    Reasoning items and built-in calls carry no chat message (they are counted on their own)."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "developer" if developer else "system", "content": instructions})
    for item in items:
        kind = item.get("type")
        if kind == "message":
            messages.append({"role": item["role"], "content": _chat_content(item.get("content"))})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last is not None and last.get("role") == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output_text(item.get("output"))})
    return messages


def output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(p.get("text", "") for p in output if isinstance(p, dict))
    return ""


def _chat_content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "refusal":
            parts.append({"type": "refusal", "refusal": part.get("refusal") or ""})
        elif kind == "input_image":
            url = part.get("image_url") or ""
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": part.get("detail") or "auto"}})
    return parts


def count_input(counter, model, req: ResponsesRequest, items: list[dict[str, Any]],
                reasoning_tokens_of: Callable[[dict[str, Any]], int | None], day: str | None = None) -> InputCount:
    """Input tokens of `items` (the whole chain, references resolved) under `req`'s instructions, tools and format.
    `reasoning_tokens_of(item)` gives a reasoning item's tokens when the simulator knows them (its own blob or a
    stored item); otherwise the blob's length decides. `day` (ISO, the simulator's models.as_of day) selects the
    early prompt of config/responses.yaml (counting.early_prompt) for days before its `until`."""
    fmt = model.prompt_format
    dialect = fmt.tools.dialect
    harmony = dialect == "harmony"
    items = after_last_compaction(items)
    messages = input_messages(model, req, items)
    plain = [m for m in messages if not m.get("tool_calls") and m.get("role") != "tool"]
    total = counter.chat_prompt_tokens(model, plain).total
    encoding = model.encoding
    calls = rule("function_calls")[dialect]
    names = {item.get("call_id"): item.get("name") or "" for item in items if item.get("type") == "function_call"}
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            total += _call_part(counter, encoding, calls["call_frame"], calls["call_text"], item["name"],
                                item["arguments"])
        elif kind == "function_call_output":
            total += _call_part(counter, encoding, calls["output_frame"], calls["output_text"],
                                names.get(item.get("call_id"), ""), output_text(item.get("output")))
        elif kind == "reasoning":
            total += reasoning_item_tokens(item, reasoning_tokens_of(item))
        elif kind == "compaction":
            blob = item.get("encrypted_content") or ""
            total += max(round((len(blob) - rule("compaction_chars_offset")) * rule("compaction_tokens_per_char")), 0)
        elif kind == "message" and isinstance(item.get("content"), list):
            total += sum(_file_tokens(counter, encoding, p) for p in item["content"] if p.get("type") == "input_file")
    if req.functions:
        total += counter.count_text(encoding, render_functions(req.functions, dialect)) + rule("tools_overhead")
        if harmony and req.instructions:
            total += rule("harmony_instructions_with_tools")
        total += counter.tool_choice_tokens(model, tool_choice_as_read(req))
    if isinstance(req.text_format, dict) and req.text_format.get("type") == "json_object":
        total += rule("json_object_format")[dialect]
    early = early_prompt(day)
    if early is not None:
        total += _early_prompt_tokens(counter, model, req, early, "developer" if harmony else "system")
    # The schema is rendered into the prompt as on chat (tokens/response_format_render.py, one rule for both APIs).
    if req.text_format.get("type") == "json_schema":  # the only format that adds to the prompt
        total += counter.response_format_tokens(model, req.text_format,
                                                in_developer_message=bool(req.instructions or req.functions))
    # A model whose Responses prompt ends with another reply priming than its chat format's (config/responses.yaml
    # counting.reply_priming).
    total += (rule("reply_priming") or {}).get(model.id, fmt.reply_priming) - fmt.reply_priming
    return InputCount(max(total, 1), messages)


def input_messages(model, req: ResponsesRequest, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat messages the model reads for `items` (from the last compaction on) under `req`'s instructions."""
    harmony = model.prompt_format.tools.dialect == "harmony"
    return chat_messages(req.instructions, after_last_compaction(items), developer=harmony)


def tool_choice_as_read(req: ResponsesRequest) -> Any:
    """The tool_choice the prompt carries (chat's rule prices it, tokens/counter.py tool_choice_tokens): "required"
    with one function tool and no built-in one forces that function, as a named choice does
    (config/responses.yaml counting.required_one_tool_is_named)."""
    choice = req.tool_choice
    if choice == "required" and len(req.functions) == 1 and not req.builtins and rule("required_one_tool_is_named"):
        return {"type": "function", "name": req.functions[0].get("name", "")}
    return choice


def _call_part(counter, encoding: str, frame: int, template: str, name: str, body: str) -> int:
    """A function call or its output: the frame, the header text naming the function, the arguments or output."""
    return frame + counter.count_text(encoding, template.replace("{name}", name)) + counter.count_text(encoding, body)


def early_prompt(day: str | None) -> dict[str, Any] | None:
    """The early prompt's rules when `day` is before their `until` day, else None."""
    early = rule("early_prompt")
    return early if day is not None and day < str(early["until"]) else None


def prompt_period(day: str | None) -> str:
    """The name of the rules the prompt of `day` is counted by: two days of one period count every request alike
    (the capture replay starts one server per period)."""
    return "early_prompt" if early_prompt(day) is not None else "current"


def _early_prompt_tokens(counter, model, req: ResponsesRequest, early: dict[str, Any], role: str) -> int:
    """What the early prompt adds: its own system message; with function tools, their message's frame and, when they
    may be called in parallel, the multi_tool_use namespace in it."""
    fmt = model.prompt_format
    encoding = model.encoding
    frame = fmt.tokens_per_message + counter.count_text(encoding, role)
    total = frame + counter.count_text(encoding, early["system_message"])
    if req.functions and early["tools_message"]:
        total += frame
    if req.functions and req.parallel_tool_calls:
        total += counter.count_text(encoding, early["parallel_tools_namespace"])
    return total


def after_last_compaction(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A compaction item stands for everything before it: the model reads it and what follows."""
    for index in range(len(items) - 1, -1, -1):
        if items[index].get("type") == "compaction":
            return items[index:]
    return items


def reasoning_item_tokens(item: dict[str, Any], known_reasoning_tokens: int | None) -> int:
    blob = item.get("encrypted_content")
    if isinstance(blob, str) and blob:
        return max(round((len(blob) - rule("reasoning_chars_offset")) * rule("reasoning_tokens_per_char")), 0)
    return known_reasoning_tokens or 0


def blob_length_for(reasoning_tokens: int) -> int:
    """The encrypted_content length that bills as a reasoning item of `reasoning_tokens` (the inverse of
    reasoning_item_tokens), so the simulator's own blobs and OpenAI's follow one rule."""
    billed = reasoning_tokens * rule("reasoning_tokens_per_reasoning_token")
    return round(billed / rule("reasoning_tokens_per_char") + rule("reasoning_chars_offset"))


def _file_tokens(counter, encoding: str, part: dict[str, Any]) -> int:
    """A file's text is what the model reads: a UTF-8 file counts its text, anything else a token per 4 bytes."""
    data = part.get("file_data")
    if not isinstance(data, str):
        return 0
    payload = data.split(",", 1)[1] if data.startswith("data:") and "," in data else data
    try:
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return 0
    if raw.startswith(b"%PDF"):
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", raw)) or 1
        return pages * rule("pdf_tokens_per_page")
    try:
        return counter.count_text(encoding, raw.decode("utf-8"))
    except UnicodeDecodeError:
        return -(-len(raw) // _FILE_BYTES_PER_TOKEN)


def cache_token_ids(counter, model, req: ResponsesRequest, messages: list[dict[str, Any]]) -> list[int]:
    """The token sequence the prompt cache compares (tools first, then the messages), as chat builds it."""
    fmt = model.prompt_format
    tools_text = render_functions(req.functions, fmt.tools.dialect) if req.functions else None
    encoding = counter.encoding(model.encoding)
    return prompt_cache.prompt_token_ids(encoding.encode_ordinary, messages, tools_text, fmt.tokens_per_message,
                                         fmt.reply_priming)
