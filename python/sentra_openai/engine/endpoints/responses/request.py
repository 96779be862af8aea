"""Validation of POST /v1/responses bodies into a ResponsesRequest, with OpenAI's 400 messages.

Field rules: shared/reference/responses-api.md §1.1 (the spec's CreateResponse) and the captures of
shared/data/captures-responses (the temperature 400 of model_http_error, the reasoning-item 400 of
thinking_with_modified_history-1). Chat's pieces are reused: its function checks, strict-schema check and the
reasoning models' sampling rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ... import errors
from ...errors import ApiError
from ...validation import Fields, check_metadata
from ..chat import request as chat_request

KNOWN_FIELDS = frozenset(
    ["model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_tool_calls", "text", "reasoning", "include", "max_output_tokens", "temperature", "top_p", "top_logprobs", "metadata", "store", "background", "stream", "stream_options", "previous_response_id", "conversation", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "safety_identifier", "service_tier", "truncation", "user", "context_management", "prompt", "moderation", "access_programs", "background_options", "image", "personality"]
)  # the spec's CreateResponse and TokenCountsBody, and what openai-python 3.57 sends beyond them (accepted, unused)
INCLUDABLE = [
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url", "code_interpreter_call.outputs",
    "reasoning.encrypted_content", "message.output_text.logprobs",
]
BUILTIN_TOOLS = {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11",
                 "file_search", "code_interpreter", "image_generation", "mcp"}
# The built-ins a tool_choice may force (the spec's ToolChoiceTypes, less the computer-use tools not simulated).
HOSTED_TOOL_CHOICES = ["file_search", "web_search_preview", "web_search_preview_2025_03_11", "image_generation",
                       "code_interpreter"]
ROLES = ["user", "assistant", "system", "developer"]
INPUT_PART_TYPES = ["input_text", "input_image", "input_file", "output_text", "refusal"]
ITEM_TYPES = ["message", "function_call", "function_call_output", "reasoning", "item_reference", "web_search_call",
              "file_search_call", "code_interpreter_call", "image_generation_call", "mcp_call", "mcp_list_tools",
              "mcp_approval_request", "mcp_approval_response", "compaction"]
EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh"]
_CHECKED_ONLY: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("temperature", "number", {"minimum": 0, "maximum": 2}),
    ("top_p", "number", {"minimum": 0, "maximum": 1}),
    ("top_logprobs", "integer", {"minimum": 0, "maximum": 20}),
    ("metadata", "obj", {}),
    ("user", "string", {}),
    ("prompt_cache_key", "string", {}),
    ("parallel_tool_calls", "boolean", {}),
)
_CHECKED_ONLY_NAMES = frozenset(name for name, _, _ in _CHECKED_ONLY)


@dataclass
class ResponsesRequest:
    model_name: str
    items: list[dict[str, Any]]  # the input as items, each with its `type`
    instructions: str | None
    tools: list[dict[str, Any]]  # every tool as sent
    functions: list[dict[str, Any]]  # function tools in chat's definition form {name, description, parameters, strict}
    builtins: list[dict[str, Any]]  # built-in tools as sent
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    max_tool_calls: int | None
    text_format: dict[str, Any]  # {"type": "text"} | {"type": "json_object"} | flat json_schema
    verbosity: str
    effort: str | None
    summary: str | None
    include: list[str]
    max_output_tokens: int | None
    temperature: float
    top_p: float
    top_logprobs: int
    metadata: dict[str, Any]
    store: bool
    background: bool
    stream: bool
    include_obfuscation: bool
    previous_response_id: str | None
    conversation: str | None
    service_tier: str
    truncation: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    reasoning_context: str | None = None  # as asked: auto | current_turn | all_turns (body.effective_context)
    reasoning_mode: str | None = None  # as asked: standard | pro

    def includes(self, name: str) -> bool:
        return name in self.include


def check_reasoning_model_rules(body: dict[str, Any], effort: str | None) -> None:
    """Reasoning models take only the default sampling values, as on chat, except with reasoning effort `none`
    (capture gpt_5_6_reasoning_off_keeps_sampling_params: temperature passes with effort none)."""
    if effort == "none":
        return
    sampling: dict[str, Any] = {k: body[k] for k in ("temperature", "top_p") if k in body}
    chat_request.check_reasoning_model_rules(sampling)


def parse_responses_request(body: dict[str, Any], max_output_limit: int, *, reasoning_model: bool,
                            counting_only: bool = False) -> ResponsesRequest:
    """`counting_only`: the input_tokens route, whose body requires nothing (the spec's TokenCountsBody)."""
    f = Fields(body)
    f.reject_unknown_parameters(KNOWN_FIELDS)
    if not _CHECKED_ONLY_NAMES.isdisjoint(body):  # most requests set none of them
        for name, kind, bounds in _CHECKED_ONLY:
            if name in body:
                getattr(f, kind)(name, **bounds)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items = [{"type": "message", "role": "user", "content": raw_input}]
    elif isinstance(raw_input, list):
        items = [_check_item(item, index) for index, item in enumerate(raw_input)]
    elif raw_input is None:
        items = []
    else:
        raise errors.invalid_type("input", "one of a string or array of objects", raw_input)
    # Most requests set few fields: an absent one takes its default without a typed read (`x if name in body`).
    instructions = f.string("instructions") if "instructions" in body else None
    _check_reasoning_sequence(items)

    tools, functions, builtins = _parse_tools(f) if "tools" in body else ([], [], [])
    tool_choice = _parse_tool_choice(body.get("tool_choice"), functions, builtins)
    # The spec sets no minimum: 0 allows no built-in call.
    max_tool_calls = f.integer("max_tool_calls", minimum=0) if "max_tool_calls" in body else None
    text_format, verbosity = _parse_text(f.obj("text") if "text" in body else None, items, instructions)
    effort, summary, context, mode = _parse_reasoning(f.obj("reasoning") if "reasoning" in body else None,
                                                      reasoning_model)
    include = (f.array("include") if "include" in body else None) or []
    for index, entry in enumerate(include):
        if entry not in INCLUDABLE:
            raise errors.invalid_value(f"include[{index}]", entry, INCLUDABLE)
    max_output = f.integer("max_output_tokens") if "max_output_tokens" in body else None
    if max_output is not None and max_output < 16:
        raise errors.below_minimum("max_output_tokens", 16, max_output)
    if max_output is not None and max_output > max_output_limit:
        raise ApiError(400, f"max_output_tokens is too large: {max_output}. This model supports at most "
                            f"{max_output_limit} output tokens, whereas you provided {max_output}.",
                       param="max_output_tokens", code="invalid_value")
    stream = bool(f.boolean("stream", False)) if "stream" in body else False
    stream_options = f.obj("stream_options") if "stream_options" in body else None
    if stream_options is not None and not stream:
        raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       param="stream_options")
    include_obfuscation = (stream_options is None
                           or bool(Fields(stream_options, "stream_options").boolean("include_obfuscation", True)))
    store = bool(f.boolean("store", True)) if "store" in body else True
    background = bool(f.boolean("background", False)) if "background" in body else False
    if background and not store:
        raise ApiError(400, "Background mode requires 'store' to be true.", param="background")
    previous = f.string("previous_response_id") if "previous_response_id" in body else None
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = Fields(conversation, "conversation").string("id", required=True)
    elif conversation is not None and not isinstance(conversation, str):
        raise errors.invalid_type("conversation", "one of a string or object", conversation)
    if previous is not None and conversation is not None:
        raise ApiError(400, "Mutually exclusive parameters: Ensure you are only providing one of: "
                            "'previous_response_id' or 'conversation'.", param=None, code="mutually_exclusive_parameters")
    if previous is None and conversation is None and not items and not counting_only:
        raise errors.missing_parameter("input")
    safety = f.string("safety_identifier") if "safety_identifier" in body else None
    if safety is not None and len(safety) > 64:
        raise errors.string_too_long("safety_identifier", 64, len(safety))
    tier = (f.string("service_tier", choices=["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"])
            if "service_tier" in body else None) or "auto"
    truncation = (f.string("truncation", choices=["auto", "disabled"]) if "truncation" in body else None) or "disabled"
    metadata = check_metadata(body["metadata"]) if "metadata" in body else {}
    return ResponsesRequest(
        model_name=body.get("model") or "",
        items=items,
        instructions=instructions,
        tools=tools,
        functions=functions,
        builtins=builtins,
        tool_choice=tool_choice,
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        max_tool_calls=max_tool_calls,
        text_format=text_format,
        verbosity=verbosity,
        effort=effort,
        summary=summary,
        include=list(include),
        max_output_tokens=max_output,
        temperature=float(body["temperature"]) if body.get("temperature") is not None else 1.0,
        top_p=float(body["top_p"]) if body.get("top_p") is not None else 1.0,
        top_logprobs=int(body.get("top_logprobs") or 0),
        metadata=metadata,
        store=store,
        background=background,
        stream=stream,
        include_obfuscation=include_obfuscation,
        previous_response_id=previous,
        conversation=conversation,
        service_tier=tier,
        truncation=truncation,
        raw=body,
        reasoning_context=context,
        reasoning_mode=mode,
    )


def _parse_text(text: dict[str, Any] | None, items: list[dict[str, Any]],
                instructions: str | None) -> tuple[dict[str, Any], str]:
    """text.format (chat's response_format, flat) and text.verbosity."""
    if not text:  # most requests send none: the defaults without reading an empty object
        return {"type": "text"}, "medium"
    t = Fields(text, "text")
    t.reject_unknown_parameters({"format", "verbosity"})
    text_format = _parse_format(t.obj("format"), items, instructions)
    return text_format, t.string("verbosity", choices=["low", "medium", "high"]) or "medium"


def _parse_reasoning(reasoning: dict[str, Any] | None,
                     reasoning_model: bool) -> tuple[str | None, str | None, str | None, str | None]:
    """reasoning's effort, summary, context and mode, as asked (None when not)."""
    if not reasoning:
        return None, None, None, None
    r = Fields(reasoning, "reasoning")
    r.reject_unknown_parameters({"effort", "summary", "generate_summary", "context", "mode"})
    effort = r.string("effort", choices=EFFORTS)
    summary = r.string("summary", choices=["auto", "concise", "detailed"])
    summary = summary or r.string("generate_summary", choices=["auto", "concise", "detailed"])
    context = r.string("context", choices=["auto", "current_turn", "all_turns"])  # the spec's Reasoning
    mode = r.string("mode", choices=["standard", "pro"])  # the spec's ReasoningModeEnum
    # Only an effort is refused on other models; a summary request passes (capture reasoning_generate_summary-0,
    # computer-use-preview with generate_summary "concise": 200).
    if not reasoning_model and effort not in (None, "none"):
        raise errors.unsupported_parameter("reasoning.effort")
    return effort, summary, context, mode


def _check_item(item: Any, index: int) -> dict[str, Any]:
    path = f"input[{index}]"
    if not isinstance(item, dict):
        raise errors.invalid_type(path, "an object", item)
    kind = item.get("type")
    if kind is None:
        if "role" not in item:
            raise errors.missing_parameter(f"{path}.role")
        item = {"type": "message", **item}
        kind = "message"
    if kind not in ITEM_TYPES:
        raise errors.invalid_value(f"{path}.type", kind, ITEM_TYPES)
    i = Fields(item, path)
    if "id" in item:
        i.string("id")  # an item's id is a string (the spec's items), whatever the type
    if kind == "message":
        role = item.get("role")
        if role is None:
            raise errors.missing_parameter(f"{path}.role")
        if role not in ROLES:
            raise errors.invalid_value(f"{path}.role", role, ROLES)
        content = item.get("content")
        if "content" not in item:
            raise errors.missing_parameter(f"{path}.content")
        if isinstance(content, list):
            for part_index, part in enumerate(content):
                _check_part(part, f"{path}.content[{part_index}]")
        elif not isinstance(content, str):
            raise errors.invalid_type(f"{path}.content", "one of a string or array of objects", content)
    elif kind == "function_call":
        i.string("call_id", required=True)
        i.string("name", required=True)
        i.string("arguments", required=True)
    elif kind == "function_call_output":
        i.string("call_id", required=True)
        output = item.get("output")
        if not isinstance(output, (str, list)):
            raise errors.invalid_type(f"{path}.output", "one of a string or array of objects", output)
    elif kind == "item_reference":
        i.string("id", required=True)
    elif kind == "reasoning":
        i.array("summary", required=True)
        i.string("encrypted_content")
    return item


def _check_part(part: Any, path: str) -> None:
    if not isinstance(part, dict):
        raise errors.invalid_type(path, "an object", part)
    kind = part.get("type")
    if kind is None:
        raise errors.missing_parameter(f"{path}.type")
    if kind not in INPUT_PART_TYPES:
        raise errors.invalid_value(f"{path}.type", kind, INPUT_PART_TYPES)
    p = Fields(part, path)
    if kind in ("input_text", "output_text"):
        p.string("text", required=True)
    elif kind == "refusal":
        p.string("refusal", required=True)
    elif kind == "input_image":
        if part.get("image_url") is None and part.get("file_id") is None:
            raise errors.missing_parameter(f"{path}.image_url")
        p.string("image_url")
        p.string("detail", choices=["auto", "low", "high"])
    elif kind == "input_file":
        if all(part.get(k) is None for k in ("file_id", "file_data", "file_url")):
            raise errors.missing_parameter(f"{path}.file_data")
        p.string("file_data")
        p.string("filename")


def _check_reasoning_sequence(items: list[dict[str, Any]]) -> None:
    """A reasoning item must be followed by the item it led to (capture thinking_with_modified_history-1)."""
    for index, item in enumerate(items):
        if item.get("type") != "reasoning":
            continue
        # What follows must be the output item the reasoning led to, echoed back with its id (an assistant message
        # rewritten without its id no longer is).
        following = items[index + 1] if index + 1 < len(items) else None
        if following is None or following.get("type") in ("reasoning", "function_call_output", "item_reference") or (
                following.get("type") == "message" and (following.get("role") != "assistant" or not following.get("id"))):
            raise ApiError(400, f"Item '{item.get('id')}' of type 'reasoning' was provided without its required "
                                "following item.", param="input")


def _parse_tools(f: Fields) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    tools = f.array("tools", max_length=128) or []
    functions: list[dict[str, Any]] = []
    builtins: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        path = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise errors.invalid_type(path, "an object", tool)
        kind = Fields(tool, path).string("type", required=True)
        if kind == "function":
            if isinstance(tool.get("function"), dict):  # the chat shape sent to the wrong endpoint
                raise errors.missing_parameter(f"{path}.name")
            definition = chat_request.check_function(tool, path)
            definition["strict"] = tool.get("strict") is not False  # Responses functions are strict unless told
            functions.append(definition)
        elif kind in BUILTIN_TOOLS:
            if kind == "mcp":
                Fields(tool, path).string("server_label", required=True)
            builtins.append(tool)
        else:
            raise errors.invalid_value(f"{path}.type", kind, ["function", *sorted(BUILTIN_TOOLS)])
    return tools, functions, builtins


def _parse_tool_choice(choice: Any, functions: list[dict[str, Any]], builtins: list[dict[str, Any]]) -> str | dict[str, Any]:
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise errors.invalid_value("tool_choice", choice, ["none", "auto", "required"])
        if choice == "required" and not functions and not builtins:
            raise ApiError(400, "Tool choice 'required' must be specified with 'tools' parameter.", param="tool_choice")
        return choice
    if not isinstance(choice, dict):
        raise errors.invalid_type("tool_choice", "one of a string or object", choice)
    kind = Fields(choice, "tool_choice").string("type", required=True)
    names = {t["name"] for t in functions}
    if kind == "function":
        name = Fields(choice, "tool_choice").string("name", required=True)
        if name not in names:
            raise ApiError(400, "Tool choice 'function' not found in 'tools' parameter.", param="tool_choice")
        return {"type": "function", "name": name}
    if kind == "allowed_tools":
        c = Fields(choice, "tool_choice")
        mode = c.string("mode", required=True, choices=["auto", "required"])
        allowed = c.array("tools", required=True) or []
        return {"type": "allowed_tools", "mode": mode, "tools": allowed}
    if kind == "mcp":
        Fields(choice, "tool_choice").string("server_label", required=True)
        return dict(choice)
    if kind in HOSTED_TOOL_CHOICES:
        if not any(t["type"].startswith(kind.split("_20")[0]) for t in builtins):
            raise ApiError(400, f"Tool choice '{kind}' not found in 'tools' parameter.", param="tool_choice")
        return {"type": kind}
    raise errors.invalid_value("tool_choice.type", kind, ["function", "allowed_tools", "mcp", *HOSTED_TOOL_CHOICES])


def _parse_format(fmt: dict[str, Any] | None, items: list[dict[str, Any]], instructions: str | None) -> dict[str, Any]:
    if fmt is None:
        return {"type": "text"}
    r = Fields(fmt, "text.format")
    kind = r.string("type", required=True, choices=["text", "json_object", "json_schema"])
    if kind == "text":
        return {"type": "text"}
    if kind == "json_object":
        texts = [instructions or ""] + [item_text(item) for item in items]
        if not any("json" in text.lower() for text in texts):
            raise ApiError(400, "Response input messages must contain the word 'json' in some form to use 'text.format' "
                                "of type 'json_object'.", param="input")
        return {"type": "json_object"}
    name = r.string("name", required=True) or ""
    if not chat_request.FUNCTION_NAME.match(name):
        raise ApiError(400, "Invalid 'text.format.name': string does not match pattern. Expected a string that matches "
                            "the pattern '^[a-zA-Z0-9_-]+$'.", param="text.format.name", code="invalid_value")
    schema = r.obj("schema", required=True) or {}
    description = r.string("description")
    strict = bool(r.boolean("strict", False))
    if strict:
        try:
            chat_request.check_strict_schema(schema, name)
        except ApiError as exc:
            raise ApiError(400, exc.message.replace("response_format", "text.format"), param="text.format.schema",
                           code="invalid_json_schema") from None
    # Echoed as real bodies show it: description null when not given (captures native_output-0/1).
    return {"type": "json_schema", "description": description, "name": name, "schema": schema, "strict": strict}


def item_text(item: dict[str, Any]) -> str:
    """The text a message item carries (its text parts joined)."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or p.get("refusal") or "" for p in content if isinstance(p, dict))
    return ""
