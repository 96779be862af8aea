"""Exact prompt-token counting, as OpenAI bills it, with tiktoken running fully offline.

Offline loading: the encodings ship in ``sentra_openai/encodings/*.tiktoken.gz`` (byte-identical copies of
tiktoken's files). tiktoken's ``load.read_file_cached`` looks for ``$TIKTOKEN_CACHE_DIR/<sha1(url)>`` and accepts
it when its sha256 equals the expected hash; only a missing or corrupt file makes it download. So before the
first ``tiktoken.get_encoding`` we make sure that file exists and is intact (gunzipped from our copy, written
atomically), and no network is ever touched. tiktoken still checks the hash itself.

Counting rules (constants come from the catalog's ``prompt_formats``; sources in config/models.yaml):

* chat, ``cookbook`` format (gpt-4o/4.1/4/3.5 families): OpenAI cookbook ``num_tokens_from_messages`` -- per
  message 3 + tokens of every string field (role, content, name, ...), +1 per name, +3 reply priming -- plus
  hmarr/openai-chat-tokens for functions/tools: the definitions rendered as a TypeScript namespace, +9, -4 when a
  system message exists, the first system message padded with "\\n", and function_call/tool_choice adjustments.
* chat, ``harmony`` format (o-series, gpt-5 family): the same per-message rule but 2 tokens of reply priming and
  +2 for each earlier assistant turn (its "<|channel|>final" header); tools rendered harmony-style ("# Tools" /
  "## functions" header, "// default:" comments) plus a fixed 85-token preamble. Calibrated on real gpt-5-nano
  captures: chat-basic 8, chat-json-mode 21, chat-multiturn 50, chat-tools 162, chat-image-to-text 22.
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

import base64
import binascii
import functools
import gzip
import hashlib
import math
import os
import struct
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Union

import tiktoken

from .catalog import ModelInfo, PatchRule, PromptFormat, TileRule

__all__ = [
    "ENCODING_FILES",
    "EncodingFile",
    "InputCount",
    "PromptCount",
    "TokenCounter",
    "default_counter",
    "ensure_encoding_cached",
    "image_dimensions",
    "image_tokens",
    "render_functions",
]

# ============================================================================== offline encodings


@dataclass(frozen=True, slots=True)
class EncodingFile:
    url: str  # the blob path tiktoken_ext.openai_public passes to read_file_cached
    sha256: str  # tiktoken's expected_hash for it
    packaged: str  # our gzipped copy under sentra_openai/encodings/

    @property
    def cache_name(self) -> str:
        # tiktoken/load.py names cache files after the sha1 of the blob path
        return hashlib.sha1(self.url.encode()).hexdigest()


# Source: tiktoken 0.14.0, tiktoken_ext/openai_public.py (tokens-pricing.md §2).
ENCODING_FILES: Mapping[str, EncodingFile] = {
    "cl100k_base": EncodingFile(
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        packaged="cl100k_base.tiktoken.gz",
    ),
    "o200k_base": EncodingFile(
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        packaged="o200k_base.tiktoken.gz",
    ),
}

_ENV = "TIKTOKEN_CACHE_DIR"
_load_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def _sha256_matches(path: Path, expected: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == expected
    except OSError:
        return False


def _packaged_bytes(spec: EncodingFile) -> bytes:
    resource = resources.files("sentra_openai") / "encodings" / spec.packaged
    data = gzip.decompress(resource.read_bytes())
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise RuntimeError(
            f"sentra_openai/encodings/{spec.packaged} is corrupt: its content does not match tiktoken's hash "
            f"{spec.sha256}; reinstall sentra-openai"
        )
    return data


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)  # readers in other processes see either nothing or the whole file
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _own_cache_dirs() -> list[Path]:
    """Where we keep the encodings when the user has not chosen a tiktoken cache."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    uid = getattr(os, "getuid", lambda: "user")()
    return [base / "sentra-openai" / "tiktoken", Path(tempfile.gettempdir()) / f"sentra-openai-tiktoken-{uid}"]


def _provision(directory: Path, spec: EncodingFile) -> bool:
    """Make `directory/<sha1(url)>` an intact copy of the encoding; False if the directory is unusable."""
    target = directory / spec.cache_name
    if _sha256_matches(target, spec.sha256):
        return True
    try:
        _write_atomically(target, _packaged_bytes(spec))
    except OSError:
        return False
    return True


def ensure_encoding_cached(name: str) -> Path:
    """Place the encoding where tiktoken will look for it and return that cache directory.

    An existing TIKTOKEN_CACHE_DIR is respected (our file is added to it). Otherwise a per-user cache directory
    is used (falling back to a temp directory when that is not writable) and TIKTOKEN_CACHE_DIR is set to it,
    so that any tiktoken use in this process is offline too.
    """
    spec = ENCODING_FILES[name]
    chosen = os.environ.get(_ENV)
    if chosen and _provision(Path(chosen), spec):
        return Path(chosen)
    for directory in _own_cache_dirs():
        if _provision(directory, spec):
            if chosen is None:  # unset: share our offline copy with every tiktoken user in the process
                os.environ[_ENV] = str(directory)
            return directory
    raise RuntimeError(f"no writable directory for the {name} tiktoken cache (tried {_own_cache_dirs()})")


def _load_encoding(name: str) -> tiktoken.Encoding:
    if name not in ENCODING_FILES:
        raise ValueError(f"unsupported encoding {name!r}; expected one of {', '.join(ENCODING_FILES)}")
    directory = ensure_encoding_cached(name)
    previous = os.environ.get(_ENV)
    if previous == str(directory):
        return tiktoken.get_encoding(name)
    # The user's TIKTOKEN_CACHE_DIR is unusable (not writable, or "" which disables caching): point tiktoken at
    # our copy for this one call. tiktoken keeps the Encoding afterwards, so it never reads the variable again.
    os.environ[_ENV] = str(directory)
    try:
        return tiktoken.get_encoding(name)
    finally:
        if previous is None:
            del os.environ[_ENV]
        else:
            os.environ[_ENV] = previous


def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding for `name`, loaded offline once per process (thread-safe)."""
    encoding = _encodings.get(name)
    if encoding is None:
        with _load_lock:
            encoding = _encodings.get(name)
            if encoding is None:
                encoding = _encodings[name] = _load_encoding(name)
    return encoding


# ============================================================================== image sizes

DEFAULT_IMAGE_SIZE = (1024, 1024)  # for http(s) URLs (never fetched) and unreadable headers
_HEADER_B64_CHARS = 65536  # decode this much base64 first: enough for PNG/GIF/WEBP and most JPEGs


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:  # lossy: 14-bit sizes after the frame tag and start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:  # lossless: 14-bit (size - 1) fields after the 0x2f signature
        b0, b1, b2, b3 = data[21:25]
        width = 1 + (b0 | (b1 & 0x3F) << 8)
        height = 1 + (b1 >> 6 | b2 << 2 | (b3 & 0x0F) << 10)
        return width, height
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit (canvas size - 1)
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    return None


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers carry no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def image_size_from_bytes(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF or WEBP header, or None."""
    for parse in (_png_size, _jpeg_size, _gif_size, _webp_size):
        size = parse(data)
        if size is not None:
            return size if size[0] > 0 and size[1] > 0 else None
    return None


def _b64decode(text: str) -> bytes:
    text = "".join(text.split())
    text = text[: len(text) - len(text) % 4]
    return base64.b64decode(text, validate=False)


def image_dimensions(url: str) -> tuple[int, int] | None:
    """Width and height of a `data:image/...;base64,` URL's image; None for other URLs or unreadable data."""
    if not url.startswith("data:"):
        return None
    header, sep, payload = url.partition(",")
    if not sep or ";base64" not in header:
        return None
    try:
        size = image_size_from_bytes(_b64decode(payload[:_HEADER_B64_CHARS]))
        if size is None and len(payload) > _HEADER_B64_CHARS:  # e.g. a JPEG with a large EXIF block first
            size = image_size_from_bytes(_b64decode(payload))
    except (binascii.Error, ValueError, struct.error):
        return None
    return size


# ============================================================================== image tokens


def _tile_tokens(rule: TileRule, width: int, height: int, detail: str) -> int:
    # Source: images-vision guide (tokens-pricing.md §1.3); examples 765 / 1105 / 85 / 255 / 425.
    if detail == "low":
        return rule.base
    w, h = Fraction(width), Fraction(height)
    if max(w, h) > 2048:  # fit inside 2048 x 2048
        scale = Fraction(2048) / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:  # shortest side down to 768 (never up)
        scale = Fraction(768) / min(w, h)
        w, h = w * scale, h * scale
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return rule.base + tiles * rule.per_tile


def _patch_count(width: int, height: int, budget: int) -> int:
    # Source: images-vision guide, patch-based models (tokens-pricing.md §1.3); 1800x2400 -> 1056x1408 -> 1452.
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    if patches <= budget:
        return patches
    shrink = math.sqrt(32 * 32 * budget / (width * height))
    fit_w, fit_h = width * shrink / 32, height * shrink / 32
    shrink *= min(math.floor(fit_w) / fit_w, math.floor(fit_h) / fit_h)
    new_w, new_h = int(width * shrink), int(height * shrink)
    return min(budget, math.ceil(new_w / 32) * math.ceil(new_h / 32))


def image_tokens(model: ModelInfo, width: int, height: int, detail: str = "auto") -> int:
    """Input tokens of one image for `model` (0 when the model takes no images)."""
    rule = model.image_tokens
    if isinstance(rule, TileRule):
        return _tile_tokens(rule, width, height, "low" if detail == "low" else "high")
    if isinstance(rule, PatchRule):
        # detail does not apply to patch models (forum 1262691: low == high); the product rounds up
        # (capture chat-image-to-text: 1 patch x 2.46 -> 3)
        return math.ceil(_patch_count(width, height, rule.budget) * rule.multiplier) + rule.extra
    return 0


# ============================================================================== tool rendering


def _js_literal(value: Any) -> str:
    """How a JSON value prints inside the TypeScript rendering (JavaScript's String(value))."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _type_of(prop: Mapping[str, Any], indent: int, dialect: str) -> str:
    any_of = prop.get("anyOf", prop.get("oneOf"))
    if isinstance(any_of, list):
        return " | ".join(_type_of(option, indent, dialect) for option in any_of if isinstance(option, Mapping))
    kind = prop.get("type")
    enum = prop.get("enum")
    if isinstance(kind, list):  # e.g. ["string", "null"]
        return " | ".join(_type_of({**prop, "type": item}, indent, dialect) for item in kind)
    if kind == "string":
        return " | ".join(f'"{_js_literal(v)}"' for v in enum) if isinstance(enum, list) else "string"
    if kind in ("number", "integer"):
        return " | ".join(_js_literal(v) for v in enum) if isinstance(enum, list) else "number"
    if kind in ("boolean", "null"):
        return kind
    if kind == "object":
        return "{\n" + _object_body(prop, indent + 2, dialect) + "\n}"
    if kind == "array":
        items = prop.get("items")
        return f"{_type_of(items, indent, dialect)}[]" if isinstance(items, Mapping) else "any[]"
    if isinstance(enum, list):  # an enum without a type
        return " | ".join(f'"{v}"' if isinstance(v, str) else _js_literal(v) for v in enum)
    return "any"


def _comment(text: str, dialect: str) -> str:
    if dialect == "harmony":  # harmony comments every line of a multi-line description
        return "\n".join(f"// {line}" for line in str(text).split("\n"))
    return f"// {text}"


def _object_body(schema: Mapping[str, Any], indent: int, dialect: str) -> str:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ""
    required = schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    entries: list[str] = []
    for key, prop in properties.items():
        if not isinstance(prop, Mapping):
            prop = {}
        description = prop.get("description")
        if description and indent < 2:  # hmarr: nested descriptions are not shown
            entries.append(_comment(description, dialect))
        line = f"{key}{'' if key in required else '?'}: {_type_of(prop, indent, dialect)},"
        if dialect == "harmony" and "default" in prop:
            line += f" // default: {_js_literal(prop['default'])}"
        entries.append(line)
    # The indent prefixes each entry (not each physical line of a multi-line nested type), as hmarr does.
    return "\n".join(" " * indent + entry for entry in entries)


def render_functions(functions: Sequence[Mapping[str, Any]], dialect: str) -> str:
    """Function definitions as the TypeScript namespace OpenAI puts in the prompt.

    `dialect` "hmarr": exactly the text hmarr/openai-chat-tokens reproduces counts with (cookbook models);
    "harmony": the harmony format's "# Tools" section (openai/harmony docs/format.md), used for reasoning models.
    """
    lines: list[str] = ["# Tools", "", "## functions", ""] if dialect == "harmony" else []
    lines += ["namespace functions {", ""]
    for function in functions:
        name = function.get("name", "")
        description = function.get("description")
        if description:
            lines.append(_comment(description, dialect))
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
        if isinstance(properties, Mapping) and properties:
            lines.append(f"type {name} = (_: {{")
            lines.append(_object_body(parameters, 0, dialect))
            lines.append("}) => any;")
        else:
            lines.append(f"type {name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _function_definitions(
    tools: Sequence[Mapping[str, Any]] | None, functions: Sequence[Mapping[str, Any]] | None
) -> list[Mapping[str, Any]]:
    definitions: list[Mapping[str, Any]] = list(functions or ())
    for tool in tools or ():
        kind = tool.get("type")
        if kind == "function" and isinstance(tool.get("function"), Mapping):
            definitions.append(tool["function"])
        elif kind == "custom" and isinstance(tool.get("custom"), Mapping):
            # gpt-5 free-form tools: no published rendering; counted as a function without parameters
            custom = tool["custom"]
            definitions.append({"name": custom.get("name", ""), "description": custom.get("description")})
    return definitions


# ============================================================================== counting


@dataclass(frozen=True, slots=True)
class PromptCount:
    """A chat prompt's tokens: `total` is usage.prompt_tokens; the parts are included in it."""

    total: int
    image_tokens: int = 0
    tool_tokens: int = 0  # tool/function definitions and tool_choice/function_call adjustments

    @property
    def text_tokens(self) -> int:
        return self.total - self.image_tokens


@dataclass(frozen=True, slots=True)
class InputCount:
    """Tokens of a completions prompt or an embeddings input: the total and each item's share."""

    total: int
    per_input: tuple[int, ...]


ModelOrEncoding = Union[ModelInfo, str]
_SYSTEM_ROLES = ("system", "developer")  # developer messages stand in for system ones on current models
_CACHEABLE_TEXT_CHARS = 65536  # longer texts are counted but not kept in the LRU cache
_COMPLETION_SPECIALS = frozenset({"<|endoftext|>"})  # the legacy endpoint's document separator


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

    def decode(self, model_or_encoding: ModelOrEncoding, tokens: Sequence[int]) -> str:
        return self.encoding(self._encoding_name(model_or_encoding)).decode(list(tokens))

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
    ) -> PromptCount:
        """usage.prompt_tokens of a chat completion request (inputs already validated)."""
        fmt = model.prompt_format
        if fmt is None:
            raise ValueError(f"model {model.id} is not a chat model")
        encoding = self._encoding_name(model)
        definitions = _function_definitions(tools, functions)
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
            tool_total += self._choice_tokens(fmt, encoding, tool_choice if tools else None, function_call)
        return PromptCount(total=total + tool_total, image_tokens=image_total, tool_tokens=tool_total)

    def _choice_tokens(self, fmt: PromptFormat, encoding: str, tool_choice: Any, function_call: Any) -> int:
        choice = tool_choice if tool_choice is not None else function_call
        if choice is None or choice == "auto":
            return 0
        if choice == "none":
            return fmt.tools.choice_none
        if choice == "required":
            return fmt.tools.choice_required
        if isinstance(choice, Mapping):
            name = choice.get("name")  # legacy function_call: {"name": ...}
            function = choice.get("function")
            if isinstance(function, Mapping):  # tool_choice: {"type": "function", "function": {"name": ...}}
                name = function.get("name")
            if isinstance(name, str):
                return fmt.tools.choice_named + self.count_text(encoding, name)
        return 0

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

        calls: list[Mapping[str, Any]] = []
        if isinstance(message.get("function_call"), Mapping):
            calls.append(message["function_call"])
        for call in message.get("tool_calls") or ():
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

    def embedding_input_tokens(self, model: ModelInfo, input: Any) -> InputCount:  # noqa: A002 (API field name)
        """usage.prompt_tokens of an embeddings request and each input's share."""
        encoding_name = self._encoding_name(model)
        per_input = [
            len(item) if not isinstance(item, str) else self.count_text(encoding_name, item)
            for item in _inputs(input)
        ]
        return InputCount(total=sum(per_input), per_input=tuple(per_input))


def _inputs(value: Any) -> list[Union[str, Sequence[int]]]:
    """Normalise the API's prompt/input shapes: str | list[str] | list[int] | list[list[int]]."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Iterable):
        return []
    items = list(value)
    if items and all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        return [items]  # one token array
    return [item if isinstance(item, str) else list(item) for item in items if isinstance(item, (str, list, tuple))]


_default: TokenCounter | None = None
_default_lock = threading.Lock()


def default_counter() -> TokenCounter:
    """A process-wide TokenCounter (shares its text cache between callers)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = TokenCounter()
    return _default
