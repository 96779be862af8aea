"""TokenCounter: usage.prompt_tokens of chat, legacy completion and embeddings requests, as OpenAI bills them.

Counting rules (constants come from the catalog's ``prompt_formats``; sources in config/models.yaml):

* chat, ``cookbook`` format (gpt-4o/4.1/4/3.5 families): OpenAI cookbook ``num_tokens_from_messages`` -- per
  message 3 + tokens of every string field (role, content, name, ...), +1 per name, +3 reply priming -- plus
  hmarr/openai-chat-tokens for functions/tools: the definitions rendered as a TypeScript namespace, +9, -4 when a
  system message exists, the first system message padded with "\\n", and function_call/tool_choice adjustments.
* chat, ``harmony`` format (o-series, gpt-5 family): the same per-message rule but 2 tokens of reply priming and
  +2 for each earlier assistant turn (its "<|channel|>final" header); tools rendered harmony-style ("# Tools" /
  "## functions" header, "// default:" comments) plus a fixed 85-token preamble. Calibrated on real gpt-5-nano
  captures: chat-basic 8, chat-json-mode 21, chat-multiturn 50, chat-tools 162, chat-image-to-text 22. A forced
  (named) tool_choice counts as harmony's call header after the reply priming.
* ``response_format`` json_schema (both formats; also what the Responses API's text.format costs): the schema rendered
  by tokens/response_format_render.py -- compact JSON on cookbook models, harmony's "# Response Formats" section on
  harmony models -- plus the format's in_message / own_message constant. json_object adds nothing.
* tool calls in history (our rule, no ground truth beyond hmarr's function_call): an assistant message's
  ``tool_calls`` count like legacy ``function_call``s -- tokens(name) + tokens(arguments) + function_call_extra (3)
  each; a ``tool`` message counts its ``tool_call_id`` string like any other field (the cookbook encodes every
  string value of a message).
* content parts: text parts are counted one by one; image parts by the model's image rule (tile or patch) with the
  size read from a data URL header (PNG, JPEG, GIF, WEBP). http(s) URLs are never fetched: they count as
  1024x1024, as do images whose header cannot be read.
* legacy completions: tokens of each prompt string (a token-array prompt counts its length); embeddings: tokens of
  each input.

User text is encoded as ordinary text (a literal "<|endoftext|>" in a message is text, not the special token),
except in legacy completion prompts, where "<|endoftext|>" is the document separator the endpoint understands.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tiktoken

from ..catalog import ModelInfo, PromptFormat
from .function_render import function_definitions, render_functions
from .image_rules import image_tokens
from .image_size import DEFAULT_IMAGE_SIZE, image_dimensions
from .offline_encodings import get_encoding
from .response_format_render import json_schema_spec, render_response_format

__all__ = ["InputCount", "PromptCount", "TokenCounter"]


@dataclass(frozen=True, slots=True)
class PromptCount:
    """A chat prompt's tokens: `total` is usage.prompt_tokens; the parts are included in it."""

    total: int
    image_tokens: int = 0
    tool_tokens: int = 0  # tool/function definitions and tool_choice/function_call adjustments
    format_tokens: int = 0  # a json_schema response_format

    @property
    def text_tokens(self) -> int:
        return self.total - self.image_tokens


@dataclass(frozen=True, slots=True)
class InputCount:
    """Tokens of a completions prompt or an embeddings input: the total and each item's share."""

    total: int
    per_input: tuple[int, ...]


ModelOrEncoding = ModelInfo | str
_SYSTEM_ROLES = ("system", "developer")  # developer messages stand in for system ones on current models
_CACHEABLE_TEXT_CHARS = 65536  # longer texts are counted but not kept in the LRU cache
_COMPLETION_SPECIALS = frozenset({"<|endoftext|>"})  # the legacy endpoint's document separator
_SPECIAL_MARKER = re.compile(r"<\|[a-z_]+\|>")  # a harmony special token written in a catalog template


class TokenCounter:
    """Counts tokens with OpenAI's rules. Thread-safe; caches repeated texts (message contents, tool texts)."""

    def __init__(self, cache_size: int = 8192) -> None:
        # functools.lru_cache is thread-safe and implemented in C; long texts bypass it (see count_text)
        self._cached_count = functools.lru_cache(maxsize=cache_size)(self._count_uncached)

    # ---------------------------------------------------------------- text

    def encoding(self, name: str) -> tiktoken.Encoding:
        return get_encoding(name)

    @staticmethod
    def _encoding_name(model_or_encoding: ModelOrEncoding) -> str:
        if isinstance(model_or_encoding, ModelInfo):
            if model_or_encoding.encoding is None:
                raise ValueError(f"model {model_or_encoding.id} has no text encoding")
            return model_or_encoding.encoding
        return model_or_encoding

    def encode(self, model_or_encoding: ModelOrEncoding, text: str) -> list[int]:
        """Token ids of `text`, special-token strings treated as plain text."""
        return self.encoding(self._encoding_name(model_or_encoding)).encode_ordinary(text)

    def _count_uncached(self, encoding_name: str, text: str) -> int:
        return len(self.encoding(encoding_name).encode_ordinary(text))

    def count_text(self, encoding_name: str, text: str) -> int:
        """Tokens of `text` (special-token strings count as plain text)."""
        if not text:
            return 0
        if len(text) > _CACHEABLE_TEXT_CHARS:  # keep big request bodies out of the cache
            return self._count_uncached(encoding_name, text)
        return self._cached_count(encoding_name, text)

    def text_tokens(self, model_or_encoding: ModelOrEncoding, text: str) -> int:
        return self.count_text(self._encoding_name(model_or_encoding), text)

    # ---------------------------------------------------------------- chat

    def chat_prompt_tokens(
        self,
        model: ModelInfo,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        functions: Sequence[Mapping[str, Any]] | None = None,
        function_call: Any = None,
        response_format: Any = None,
    ) -> PromptCount:
        """usage.prompt_tokens of a chat completion request (inputs already validated; `response_format` as sent)."""
        fmt = model.prompt_format
        if fmt is None:
            raise ValueError(f"model {model.id} is not a chat model")
        encoding = self._encoding_name(model)
        definitions = function_definitions(tools, functions)
        has_tools = bool(definitions)
        pad_system = has_tools and fmt.tools.pad_first_system

        total = fmt.reply_priming
        image_total = 0
        for message in messages:
            count, images, pad_system = self._message_tokens(model, fmt, encoding, message, pad_system)
            total += count
            image_total += images

        tool_total = 0
        if has_tools:
            tool_total = self.count_text(encoding, render_functions(definitions, fmt.tools.dialect))
            tool_total += fmt.tools.overhead
            if any(m.get("role") in _SYSTEM_ROLES for m in messages):
                tool_total += fmt.tools.system_message_adjust
            tool_total += self.tool_choice_tokens(model, tool_choice if tools else None, function_call)
        format_total = 0
        if response_format is not None:  # most requests send none: skip the walk over the messages
            developer = has_tools or any(m.get("role") in _SYSTEM_ROLES for m in messages)
            format_total = self.response_format_tokens(model, response_format, in_developer_message=developer)
        # Positional: a frozen dataclass's keyword construction costs twice as much (~0.7 us a request).
        return PromptCount(total + tool_total + format_total, image_total, tool_total, format_total)

    def response_format_tokens(self, model: ModelInfo, response_format: Any, *, in_developer_message: bool) -> int:
        """What a json_schema response format adds to the prompt (0 for text / json_object / none).

        `response_format` is chat's `response_format` or Responses' `text.format`, as sent; `in_developer_message`
        says whether the prompt already has a developer/system message (instructions) or a tool block it joins."""
        spec = json_schema_spec(response_format)
        fmt = model.prompt_format
        if spec is None or fmt is None:
            return 0
        rules = fmt.response_format
        text = render_response_format(spec, rules.dialect)
        extra = rules.in_message if in_developer_message else rules.own_message
        return self.count_text(self._encoding_name(model), text) + extra

    def tool_choice_tokens(self, model: ModelInfo, tool_choice: Any, function_call: Any = None) -> int:
        """What tool_choice (or legacy function_call) adds to the prompt, with function tools present.

        Accepts chat's {"type": "function", "function": {"name"}}, Responses' {"type": "function", "name"}, legacy
        {"name"} and the strings "auto" / "none" / "required"; anything else (allowed_tools, built-ins) adds 0."""
        fmt = model.prompt_format
        choice = tool_choice if tool_choice is not None else function_call
        if fmt is None or choice is None or choice == "auto":
            return 0
        if choice == "none":
            return fmt.tools.choice_none
        if choice == "required":
            return fmt.tools.choice_required
        if isinstance(choice, Mapping) and choice.get("type") in (None, "function"):
            name = choice.get("name")  # legacy function_call and Responses: {"name": ...}
            function = choice.get("function")
            if isinstance(function, Mapping):  # chat tool_choice: {"type": "function", "function": {"name": ...}}
                name = function.get("name")
            if isinstance(name, str):
                text = fmt.tools.choice_named_text.replace("{name}", name)
                return fmt.tools.choice_named + self._template_tokens(self._encoding_name(model), text)
        return 0

    def _template_tokens(self, encoding: str, text: str) -> int:
        """Tokens of a catalog template: each <|special|> marker is one token, the text between is ordinary text."""
        specials = len(_SPECIAL_MARKER.findall(text))
        return specials + sum(self.count_text(encoding, piece) for piece in _SPECIAL_MARKER.split(text))

    def _message_tokens(
        self, model: ModelInfo, fmt: PromptFormat, encoding: str, message: Mapping[str, Any], pad_system: bool
    ) -> tuple[int, int, bool]:
        """(tokens, of which image tokens, whether the first system message still needs its pad)."""
        role = message.get("role") or ""
        count = fmt.tokens_per_message + self.count_text(encoding, role)
        images = 0

        content = message.get("content")
        if isinstance(content, str):
            if pad_system and role in _SYSTEM_ROLES:
                content += "\n"  # hmarr: with functions present, the first system message gains a newline
                pad_system = False
            count += self.count_text(encoding, content)
        elif isinstance(content, list):
            if pad_system and role in _SYSTEM_ROLES:
                pad_system = False
            for part in content:
                text_count, image_count = self._part_tokens(model, encoding, part)
                count += text_count + image_count
                images += image_count

        name = message.get("name")
        if isinstance(name, str) and name:
            count += self.count_text(encoding, name) + fmt.tokens_per_name
        if role == "function":
            count += fmt.function_role_adjust

        function_call = message.get("function_call")
        tool_calls = message.get("tool_calls")
        if function_call is not None or tool_calls:  # most messages make no call: no list to build
            calls: list[Mapping[str, Any]] = []
            if isinstance(function_call, Mapping):
                calls.append(function_call)
            for call in tool_calls or ():
                if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
                    calls.append(call["function"])
            for call in calls:
                count += fmt.function_call_extra
                for key in ("name", "arguments"):
                    value = call.get(key)
                    if isinstance(value, str):
                        count += self.count_text(encoding, value)

        for key in ("tool_call_id", "refusal"):
            value = message.get(key)
            if isinstance(value, str):
                count += self.count_text(encoding, value)
        if role == "assistant":
            count += fmt.assistant_history_extra
        return count, images, pad_system

    def _part_tokens(self, model: ModelInfo, encoding: str, part: Any) -> tuple[int, int]:
        """(text tokens, image tokens) of one content part."""
        if isinstance(part, str):
            return self.count_text(encoding, part), 0
        if not isinstance(part, Mapping):
            return 0, 0
        kind = part.get("type")
        if kind in ("text", "input_text") and isinstance(part.get("text"), str):
            return self.count_text(encoding, part["text"]), 0
        if kind == "refusal" and isinstance(part.get("refusal"), str):
            return self.count_text(encoding, part["refusal"]), 0
        if kind == "image_url":
            image = part.get("image_url")
            if isinstance(image, str):
                image = {"url": image}
            if isinstance(image, Mapping):
                url = image.get("url") if isinstance(image.get("url"), str) else ""
                detail = image.get("detail") or "auto"
                width, height = image_dimensions(url) or DEFAULT_IMAGE_SIZE
                return 0, image_tokens(model, width, height, detail)
        return 0, 0  # audio/file parts: not priced in tokens here

    # ---------------------------------------------------------------- completions / embeddings

    def completion_prompt_tokens(
        self, model: ModelInfo, prompt: Any, suffix: str | None = None
    ) -> InputCount:
        """usage.prompt_tokens of a legacy completion: a string, strings, a token array or token arrays.

        A `suffix` is input too: it is counted once for each prompt (each prompt is completed separately).
        """
        encoding = self.encoding(self._encoding_name(model))
        per_input = [
            len(encoding.encode(item, allowed_special=_COMPLETION_SPECIALS, disallowed_special=()))
            if isinstance(item, str)
            else len(item)
            for item in _inputs(prompt)
        ]
        extra = self.text_tokens(model, suffix) if suffix else 0
        return InputCount(total=sum(per_input) + extra * max(1, len(per_input)), per_input=tuple(per_input))

    def embedding_input_tokens(self, model: ModelInfo, input: Any) -> InputCount:  # `input`: the API's name
        """usage.prompt_tokens of an embeddings request and each input's share."""
        encoding_name = self._encoding_name(model)
        per_input = [
            len(item) if not isinstance(item, str) else self.count_text(encoding_name, item)
            for item in _inputs(input)
        ]
        return InputCount(total=sum(per_input), per_input=tuple(per_input))


def _inputs(value: Any) -> list[str | Sequence[int]]:
    """Normalise the API's prompt/input shapes: str | list[str] | list[int] | list[list[int]]."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Iterable):
        return []
    items = list(value)
    if items and all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        return [items]  # one token array
    return [item if isinstance(item, str) else list(item) for item in items if isinstance(item, (str, list, tuple))]
