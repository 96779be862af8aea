"""Validation of POST /v1/chat/completions bodies into a ChatRequest, with OpenAI's 400 messages.

Field rules: the official OpenAPI spec's CreateChatCompletionRequest (shared/data/openapi/openapi.yaml); messages and
order of checks: shared/reference/openai-wire.md §2.1 and the captures (a reasoning model reports an unsupported
`max_tokens` before any other problem of the body).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ... import errors
from ...errors import ApiError
from ...schema.nesting import MAX_STRICT_NESTING, object_nesting, value_depth
from ...validation import Fields

# Levels of JSON nesting beyond which any schema is refused: far deeper than real schemas, well within what the
# recursive schema walks can take (Python's default recursion limit is 1000 frames).
MAX_SCHEMA_DEPTH = 200

KNOWN_FIELDS = frozenset(
    """model messages n max_tokens max_completion_tokens temperature top_p frequency_penalty presence_penalty stop seed
    logprobs top_logprobs logit_bias stream stream_options tools tool_choice parallel_tool_calls functions function_call
    response_format user metadata store service_tier reasoning_effort verbosity modalities audio prediction
    web_search_options prompt_cache_key prompt_cache_retention safety_identifier moderation prompt_cache_options""".split()
)
ROLES = ["developer", "system", "user", "assistant", "tool", "function"]
PART_TYPES = {"text", "image_url", "input_audio", "file", "refusal"}
FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Fields whose values the simulator does not use but must type- and range-check: (name, Fields method, bounds).
_CHECKED_ONLY = (
    ("temperature", "number", {"minimum": 0, "maximum": 2}),
    ("top_p", "number", {"minimum": 0, "maximum": 1}),
    ("frequency_penalty", "number", {"minimum": -2, "maximum": 2}),
    ("presence_penalty", "number", {"minimum": -2, "maximum": 2}),
    ("logit_bias", "obj", {}),
    ("metadata", "obj", {}),
    ("store", "boolean", {}),
    ("user", "string", {}),
    ("reasoning_effort", "string", {"choices": ["none", "minimal", "low", "medium", "high", "xhigh", "max"]}),
    ("parallel_tool_calls", "boolean", {}),
)
_CHECKED_ONLY_NAMES = frozenset(name for name, _, _ in _CHECKED_ONLY)
_SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}


@dataclass
class ChatRequest:
    model_name: str
    messages: list[dict[str, Any]]
    n: int
    max_output: int | None  # max_completion_tokens or max_tokens
    max_output_param: str | None
    stop: list[str]
    seed: int | None
    logprobs: bool
    top_logprobs: int
    stream: bool
    include_usage: bool
    include_obfuscation: bool
    tools: list[dict[str, Any]]  # function definitions: {name, description?, parameters?, strict?}
    tool_choice: str | dict[str, Any]  # "none" | "auto" | "required" | {"name": ...}
    parallel_tool_calls: bool
    legacy_functions: bool  # the deprecated functions/function_call form
    response_format: dict[str, Any] | None
    service_tier: str | None
    raw: dict[str, Any]

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message.get("content"))
        return ""

    def answering_tool_result(self) -> bool:
        return bool(self.messages) and self.messages[-1].get("role") in ("tool", "function")


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    return ""


def check_reasoning_model_rules(body: dict[str, Any]) -> None:
    """o-series and gpt-5 reject max_tokens and non-default sampling (openai-wire.md §2.1, captured)."""
    if body.get("max_tokens") is not None:
        raise errors.unsupported_parameter("max_tokens", "Use 'max_completion_tokens' instead.")
    for name, default in _SAMPLING_DEFAULTS.items():
        value = body.get(name)
        if value is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value != default:
            raise errors.unsupported_value(
                name, f"'{name}' does not support {value} with this model. Only the default ({_num(default)}) value is supported."
            )
    if body.get("logprobs"):
        raise errors.unsupported_parameter("logprobs")


def parse_chat_request(body: dict[str, Any], max_output_limit: int) -> ChatRequest:
    f = Fields(body)
    f.reject_unknown(KNOWN_FIELDS)
    model_name = body["model"]  # checked by model_resolution.model_name before
    messages = f.array("messages", required=True, min_length=1)
    assert messages is not None
    # Most requests set few fields: an absent one takes its default without a typed read (`x if name in body`).
    n = f.integer("n", 1, minimum=1, maximum=128) if "n" in body else 1
    max_tokens = f.integer("max_tokens", minimum=1) if "max_tokens" in body else None
    max_completion = f.integer("max_completion_tokens", minimum=1) if "max_completion_tokens" in body else None
    if not _CHECKED_ONLY_NAMES.isdisjoint(body):
        for name, kind, bounds in _CHECKED_ONLY:
            if name in body:
                getattr(f, kind)(name, **bounds)
    stop = (f.string_or_array("stop", max_items=4) if "stop" in body else None) or []
    seed = f.integer("seed") if "seed" in body else None
    logprobs = bool(f.boolean("logprobs", False)) if "logprobs" in body else False
    top_logprobs = f.integer("top_logprobs", 0, minimum=0, maximum=20) if "top_logprobs" in body else 0
    if body.get("top_logprobs") is not None and not logprobs:
        raise ApiError(400, "Invalid value for 'top_logprobs': logprobs must be set to true if top_logprobs is specified.",
                       param="top_logprobs", code="invalid_value")
    stream = bool(f.boolean("stream", False)) if "stream" in body else False
    stream_options = f.obj("stream_options") if "stream_options" in body else None
    if stream_options is not None and not stream:
        raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options")
    include_usage, include_obfuscation = False, True  # the defaults, when stream_options is absent
    if stream_options is not None:
        options = Fields(stream_options, "stream_options")
        include_usage = bool(options.boolean("include_usage", False))
        include_obfuscation = bool(options.boolean("include_obfuscation", True))
    service_tier = (f.string("service_tier", choices=["auto", "default", "flex", "scale", "priority", "fast"])
                    if "service_tier" in body else None)

    max_output, max_param = (max_completion, "max_completion_tokens") if max_completion is not None else (max_tokens, "max_tokens")
    if max_output is not None and max_output > max_output_limit:
        raise ApiError(
            400,
            f"{max_param} is too large: {max_output}. This model supports at most {max_output_limit} completion tokens, "
            f"whereas you provided {max_output}.",
            param=max_param,
            code="invalid_value",
        )

    for index, message in enumerate(messages):
        _check_message(message, index)
    _check_tool_sequence(messages)

    tools, legacy = _parse_tools(f, body)
    tool_choice = _parse_tool_choice(body, tools, legacy)
    response_format = _parse_response_format(f, messages)
    return ChatRequest(
        model_name=model_name,
        messages=messages,
        n=n or 1,
        max_output=max_output,
        max_output_param=max_param if max_output is not None else None,
        stop=stop,
        seed=seed,
        logprobs=logprobs,
        top_logprobs=top_logprobs or 0,
        stream=stream,
        include_usage=include_usage,
        include_obfuscation=include_obfuscation,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        legacy_functions=legacy,
        response_format=response_format,
        service_tier=service_tier,
        raw=body,
    )


def _check_message(message: Any, index: int) -> None:
    path = f"messages[{index}]"
    if not isinstance(message, dict):
        raise errors.invalid_type(path, "an object", message)
    m = Fields(message, path)
    role = message.get("role")
    if role is None:
        raise errors.missing_parameter(f"{path}.role")
    if role not in ROLES:
        raise errors.invalid_value(f"{path}.role", role, ROLES)
    if "name" in message:
        m.string("name")
    content = message.get("content")
    if content is None:  # absent or null
        # An earlier spoken answer comes back as {"role": "assistant", "audio": {"id": ...}}, without content (audio
        # guide)
        has_tool_calls = (bool(message.get("tool_calls")) or bool(message.get("function_call"))
                          or isinstance(message.get("audio"), dict))
        if "content" not in message and not (role == "assistant" and has_tool_calls):
            raise errors.missing_parameter(f"{path}.content")
        if not (role == "assistant" and has_tool_calls) and role != "assistant":
            raise errors.invalid_type(f"{path}.content", "one of a string or array of objects", content)
    elif isinstance(content, list):
        for part_index, part in enumerate(content):
            _check_part(part, f"{path}.content[{part_index}]")
    elif not isinstance(content, str):
        raise errors.invalid_type(f"{path}.content", "one of a string or array of objects", content)
    if role == "tool":
        m.string("tool_call_id", required=True)
    if role == "function":
        m.string("name", required=True)
    if role == "assistant" and message.get("tool_calls") is not None:
        calls = m.array("tool_calls")
        for call_index, call in enumerate(calls or []):
            cpath = f"{path}.tool_calls[{call_index}]"
            if not isinstance(call, dict):
                raise errors.invalid_type(cpath, "an object", call)
            c = Fields(call, cpath)
            c.string("id", required=True)
            fn = c.obj("function", required=True) or {}
            Fields(fn, f"{cpath}.function").string("name", required=True)
            Fields(fn, f"{cpath}.function").string("arguments", required=True)


def _check_part(part: Any, path: str) -> None:
    if not isinstance(part, dict):
        raise errors.invalid_type(path, "an object", part)
    kind = part.get("type")
    if kind is None:
        raise errors.missing_parameter(f"{path}.type")
    if kind not in PART_TYPES:
        raise errors.invalid_value(f"{path}.type", kind, sorted(PART_TYPES))
    p = Fields(part, path)
    if kind == "text":
        p.string("text", required=True)
    elif kind == "image_url":
        image = p.obj("image_url", required=True) or {}
        i = Fields(image, f"{path}.image_url")
        i.string("url", required=True)
        i.string("detail", choices=["auto", "low", "high"])


def _check_tool_sequence(messages: list[dict[str, Any]]) -> None:
    """A tool message must answer a tool call of the assistant message before it (OpenAI's wording, typo included)."""
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "assistant":
            open_calls = {c.get("id") for c in message.get("tool_calls") or [] if isinstance(c, dict)}
        elif role == "tool":
            if message.get("tool_call_id") not in open_calls:
                raise ApiError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
        else:
            open_calls = set()


def _parse_tools(f: Fields, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    tools = f.array("tools", max_length=128) if "tools" in body else None
    functions = f.array("functions", max_length=128) if "functions" in body else None
    definitions: list[dict[str, Any]] = []
    if tools:
        for index, tool in enumerate(tools):
            path = f"tools[{index}]"
            if not isinstance(tool, dict):
                raise errors.invalid_type(path, "an object", tool)
            t = Fields(tool, path)
            kind = t.string("type", required=True)
            if kind != "function":
                raise errors.invalid_value(f"{path}.type", kind, ["function"])
            definitions.append(check_function(t.obj("function", required=True) or {}, f"{path}.function"))
        return definitions, False
    if functions:
        for index, fn in enumerate(functions):
            if not isinstance(fn, dict):
                raise errors.invalid_type(f"functions[{index}]", "an object", fn)
            definitions.append(check_function(fn, f"functions[{index}]"))
        return definitions, True
    return [], False


def check_function(fn: dict[str, Any], path: str) -> dict[str, Any]:
    fields = Fields(fn, path)
    name = fields.string("name", required=True) or ""
    if not FUNCTION_NAME.match(name):
        raise ApiError(
            400,
            f"Invalid '{path}.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param=f"{path}.name",
            code="invalid_value",
        )
    fields.string("description")
    parameters = fields.obj("parameters")
    fields.boolean("strict")
    _check_nesting(parameters, bool(fn.get("strict")), f"function '{name}'", "tools" if path.startswith("tools") else "functions")
    return {"name": name, "description": fn.get("description"), "parameters": parameters, "strict": bool(fn.get("strict"))}


def _parse_tool_choice(body: dict[str, Any], tools: list[dict[str, Any]], legacy: bool) -> str | dict[str, Any]:
    param = "function_call" if legacy else "tool_choice"
    choice = body.get(param)
    other = body.get("tool_choice" if legacy else "function_call")
    if choice is None and other is not None:
        choice, param = other, ("tool_choice" if legacy else "function_call")
    if choice is None:
        return "auto" if tools else "none"
    if not tools:
        raise ApiError(400, f"Invalid value for '{param}': '{param}' is only allowed when 'tools' are specified.", param=param)
    if isinstance(choice, str):
        allowed = ["none", "auto"] if legacy else ["none", "auto", "required"]
        if choice not in allowed:
            raise errors.invalid_value(param, choice, allowed)
        return choice
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if not legacy else choice.get("name")
        if not isinstance(name, str):
            raise errors.missing_parameter(f"{param}.function.name" if not legacy else f"{param}.name")
        if name not in {t["name"] for t in tools}:
            raise ApiError(400, f"Invalid value for '{param}': function '{name}' not found in 'tools'.", param=param,
                           code="invalid_value")
        return {"name": name}
    raise errors.invalid_type(param, "one of a string or object", choice)


def _parse_response_format(f: Fields, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    fmt = f.obj("response_format") if "response_format" in f.data else None
    if fmt is None:
        return None
    r = Fields(fmt, "response_format")
    kind = r.string("type", required=True, choices=["text", "json_object", "json_schema"])
    if kind == "text":
        return None
    if kind == "json_object":
        if not any("json" in message_text(m.get("content")).lower() for m in messages):
            raise ApiError(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                param="messages",
            )
        return {"type": "json_object"}
    spec = r.obj("json_schema", required=True) or {}
    s = Fields(spec, "response_format.json_schema")
    name = s.string("name", required=True) or ""
    if not FUNCTION_NAME.match(name):
        raise ApiError(400, "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                       param="response_format.json_schema.name", code="invalid_value")
    schema = s.obj("schema") or {}
    strict = bool(s.boolean("strict", False))
    _check_nesting(schema, strict, f"response_format '{name}'", "response_format")
    if strict:
        check_strict_schema(schema, name)
    return {"type": "json_schema", "name": name, "schema": schema, "strict": strict}


def _check_nesting(schema: Any, strict: bool, where: str, param: str) -> None:
    """Strict schemas get structured outputs' nesting limit. Any schema nested deeper than MAX_SCHEMA_DEPTH levels of
    JSON is refused too: OpenAI's limit for non-strict schemas is not documented, and every walk of a schema here
    (generation, checking, the content key) must stay within Python's recursion limit."""
    if strict and (levels := object_nesting(schema, MAX_STRICT_NESTING + 1)) > MAX_STRICT_NESTING:
        raise ApiError(400, f"Invalid schema for {where}: In context=(), schema has more than {MAX_STRICT_NESTING} levels "
                            f"of nesting (at least {levels}); strict mode allows at most {MAX_STRICT_NESTING}.",
                       param=param, code="invalid_json_schema")
    if value_depth(schema, MAX_SCHEMA_DEPTH + 1) > MAX_SCHEMA_DEPTH:
        raise ApiError(400, f"Invalid schema for {where}: In context=(), schema is nested more than {MAX_SCHEMA_DEPTH} "
                            "levels deep.", param=param, code="invalid_json_schema")


def check_strict_schema(schema: dict[str, Any], name: str, context: tuple[str, ...] = ()) -> None:
    """Structured outputs' strict mode: every object lists all its properties as required and forbids others."""
    def fail(reason: str) -> None:
        where = ", ".join(repr(c) for c in context)
        raise ApiError(400, f"Invalid schema for response_format '{name}': In context=({where}{',' if len(context) == 1 else ''}), {reason}",
                       param="response_format", code="invalid_json_schema")

    if not isinstance(schema, dict):
        return
    is_object = schema.get("type") == "object" or (isinstance(schema.get("type"), list) and "object" in schema["type"])
    if is_object and "properties" in schema:
        if schema.get("additionalProperties") is not False:
            fail("'additionalProperties' is required to be supplied and to be false.")
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        missing = [key for key in properties if key not in required]
        if missing:
            fail(f"'required' is required to be supplied and to be an array including every key in properties. Missing '{missing[0]}'.")
        for key, sub in properties.items():
            check_strict_schema(sub, name, context + ("properties", key))
    for key in ("items",):
        if isinstance(schema.get(key), dict):
            check_strict_schema(schema[key], name, context + (key,))
    for key in ("anyOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            check_strict_schema(sub, name, context + (key, str(i)))
    for defs_key in ("$defs", "definitions"):
        for def_name, sub in (schema.get(defs_key) or {}).items():
            check_strict_schema(sub, name, context + (defs_key, def_name))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
