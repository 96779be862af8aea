"""The rules of models.yaml: each entry parsed and checked, with errors naming the file, the model and the key.
Prices become exact integer micro-dollars here (costing's parser), so cost arithmetic never touches binary floats."""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any, TypeVar

from ..costing import parse_price_micro
from .model_info import (
    CHAT_SURFACES,
    ENCODINGS,
    KINDS,
    TIERS,
    CatalogError,
    EmbeddingLatency,
    EmbeddingSpec,
    ImageLatency,
    ImagePrice,
    ImageTokenRule,
    LatencyProfile,
    ModelInfo,
    PatchRule,
    Prices,
    PromptFormat,
    ResponseFormatRules,
    TextLatency,
    TierLimits,
    TileRule,
    ToolFormat,
)

_SIZE_RE = re.compile(r"^\d+x\d+$")

T = TypeVar("T")


class _Ctx:
    """Builds error messages like `models.yaml: gpt-4o.prices.input: expected ...`."""

    def __init__(self, source: str, path: str) -> None:
        self.source = source
        self.path = path

    def at(self, key: str | int) -> _Ctx:
        return _Ctx(self.source, f"{self.path}.{key}" if self.path else str(key))

    def fail(self, what: str) -> CatalogError:
        return CatalogError(f"{self.source}: {self.path}: {what}")


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _mapping(ctx: _Ctx, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.fail(f"expected a mapping, got {_got(value)}")
    return value


def _only_keys(ctx: _Ctx, value: Mapping[str, Any], required: set[str], optional: set[str]) -> None:
    missing = sorted(required - value.keys())
    if missing:
        raise ctx.at(missing[0]).fail("missing required key")
    unknown = sorted(set(value.keys()) - required - optional)
    if unknown:
        raise ctx.at(unknown[0]).fail(
            f"unknown key (expected one of: {', '.join(sorted(required | optional))})"
        )


def _int(ctx: _Ctx, value: Any, *, minimum: int | None = 0) -> int:
    """An integer, at least `minimum` unless that is None (token adjustments may be negative)."""
    # bool is an int subclass: `true` must not pass as 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.fail(f"expected an integer, got {_got(value)}")
    if minimum is not None and value < minimum:
        raise ctx.fail(f"expected an integer >= {minimum}, got {value}")
    return value


def _number(ctx: _Ctx, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ctx.fail(f"expected a number, got {_got(value)}")
    if value < 0 or (positive and value == 0):
        raise ctx.fail(f"expected a {'positive' if positive else 'non-negative'} number, got {value}")
    return float(value)


def _str(ctx: _Ctx, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ctx.fail(f"expected a non-empty string, got {_got(value)}")
    return value


def _bool(ctx: _Ctx, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ctx.fail(f"expected true or false, got {_got(value)}")
    return value


def _choice(ctx: _Ctx, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ctx.fail(f"expected one of {', '.join(choices)}, got {_got(value)}")
    return value


def _str_list(ctx: _Ctx, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ctx.fail(f"expected a list of strings, got {_got(value)}")
    return tuple(_str(ctx.at(i), item) for i, item in enumerate(value))


def _optional(ctx: _Ctx, value: Any, parse: Callable[[_Ctx, Any], T]) -> T | None:
    return None if value is None else parse(ctx, value)


def _parse_micros(ctx: _Ctx, value: Any) -> tuple[str, int]:
    """A decimal price string -> (the string, exact integer micro-dollars), by the one price parser of costing."""
    if not isinstance(value, str):
        raise ctx.fail(f"expected a decimal string such as \"2.50\", got {_got(value)}")
    try:
        return value, parse_price_micro(value)
    except ValueError:
        raise ctx.fail(f"expected a decimal string with at most 6 decimals (e.g. \"2.50\"), got {value!r}") from None


def _prices(ctx: _Ctx, value: Any) -> Prices:
    raw = _mapping(ctx, value)
    _only_keys(ctx, raw, {"input", "cached_input", "output"}, set())
    input_str, input_micros = _parse_micros(ctx.at("input"), raw["input"])
    output_str, output_micros = _parse_micros(ctx.at("output"), raw["output"])
    cached = raw["cached_input"]
    if cached is None:
        cached_str, cached_micros = None, None
    else:
        cached_str, cached_micros = _parse_micros(ctx.at("cached_input"), cached)
    return Prices(input_str, cached_str, output_str, input_micros, cached_micros, output_micros)


def _image_prices(ctx: _Ctx, value: Any) -> Mapping[str, Mapping[str, ImagePrice]]:
    qualities: dict[str, Mapping[str, ImagePrice]] = {}
    for quality, sizes in _mapping(ctx, value).items():
        qctx = ctx.at(quality)
        by_size: dict[str, ImagePrice] = {}
        for size, price in _mapping(qctx, sizes).items():
            sctx = qctx.at(size)
            if not isinstance(size, str) or not _SIZE_RE.match(size):
                raise sctx.fail(f"expected a size key like \"1024x1024\", got {_got(size)}")
            usd, micros = _parse_micros(sctx, price)
            by_size[size] = ImagePrice(usd, micros)
        qualities[_str(qctx, quality)] = MappingProxyType(by_size)
    if not qualities:
        raise ctx.fail("expected at least one quality")
    return MappingProxyType(qualities)


def _image_output_tokens(ctx: _Ctx, value: Any) -> Mapping[str, Mapping[str, int]]:
    qualities: dict[str, Mapping[str, int]] = {}
    for quality, sizes in _mapping(ctx, value).items():
        qctx = ctx.at(quality)
        for size in _mapping(qctx, sizes):
            if not isinstance(size, str) or not _SIZE_RE.match(size):
                raise qctx.at(size).fail(f"expected a size key like \"1024x1024\", got {_got(size)}")
        qualities[_str(qctx, quality)] = MappingProxyType(
            {size: _int(qctx.at(size), tokens, minimum=1) for size, tokens in sizes.items()})
    if not qualities:
        raise ctx.fail("expected at least one quality")
    return MappingProxyType(qualities)


def _tier_limits(ctx: _Ctx, value: Any) -> TierLimits:
    raw = _mapping(ctx, value)
    _only_keys(ctx, raw, set(), {"rpm", "tpm", "rpd", "ipm"})
    parsed = {key: _optional(ctx.at(key), value, functools.partial(_int, minimum=1)) for key, value in raw.items()}
    return TierLimits(**parsed)


def _limits(ctx: _Ctx, value: Any) -> Mapping[str, TierLimits | None]:
    raw = _mapping(ctx, value)
    _only_keys(ctx, raw, set(), set(TIERS))
    return MappingProxyType(
        {tier: _optional(ctx.at(tier), raw.get(tier), _tier_limits) for tier in TIERS}
    )


def _image_tokens(ctx: _Ctx, value: Any) -> ImageTokenRule:
    raw = _mapping(ctx, value)
    rule = _choice(ctx.at("rule"), raw.get("rule"), ("tile", "patch"))
    if rule == "tile":
        _only_keys(ctx, raw, {"rule", "base", "per_tile"}, set())
        return TileRule(base=_int(ctx.at("base"), raw["base"]), per_tile=_int(ctx.at("per_tile"), raw["per_tile"]))
    _only_keys(ctx, raw, {"rule", "multiplier", "budget", "extra"}, set())
    # An exact decimal like a price (at most 6 decimals): the same parser, in millionths.
    _, millionths = _parse_micros(ctx.at("multiplier"), raw["multiplier"])
    return PatchRule(
        multiplier=Fraction(millionths, 1_000_000),
        budget=_int(ctx.at("budget"), raw["budget"], minimum=1),
        extra=_int(ctx.at("extra"), raw["extra"]),
    )


def _text_latency(ctx: _Ctx, raw: Mapping[str, Any], reasoning: bool) -> TextLatency:
    required = {"ttft_median_s", "ttft_p95_s", "tokens_per_s", "tokens_per_s_jitter"}
    _only_keys(ctx, raw, required | ({"reasoning_delay_s"} if reasoning else set()), set())
    median = _number(ctx.at("ttft_median_s"), raw["ttft_median_s"])
    p95 = _number(ctx.at("ttft_p95_s"), raw["ttft_p95_s"])
    if p95 < median:
        raise ctx.at("ttft_p95_s").fail(f"must be >= ttft_median_s ({median}), got {p95}")
    return TextLatency(
        ttft_median_s=median,
        ttft_p95_s=p95,
        tokens_per_s=_number(ctx.at("tokens_per_s"), raw["tokens_per_s"], positive=True),
        tokens_per_s_jitter=_number(ctx.at("tokens_per_s_jitter"), raw["tokens_per_s_jitter"]),
        reasoning_delay_s=(
            _number(ctx.at("reasoning_delay_s"), raw["reasoning_delay_s"]) if reasoning else 0.0
        ),
    )


def _latency(ctx: _Ctx, value: Any, kind: str, reasoning: bool) -> LatencyProfile:
    raw = _mapping(ctx, value)
    if kind in ("chat", "completion"):
        return _text_latency(ctx, raw, reasoning)
    if kind in ("embedding", "moderation"):  # a classifier is timed like an embedding: base + per token + per input
        _only_keys(ctx, raw, {"base_s", "per_1k_tokens_s", "per_input_s", "jitter"}, set())
        return EmbeddingLatency(
            base_s=_number(ctx.at("base_s"), raw["base_s"]),
            per_1k_tokens_s=_number(ctx.at("per_1k_tokens_s"), raw["per_1k_tokens_s"]),
            per_input_s=_number(ctx.at("per_input_s"), raw["per_input_s"]),
            jitter=_number(ctx.at("jitter"), raw["jitter"]),
        )
    _only_keys(ctx, raw, {"seconds_per_image", "jitter"}, set())
    per_image: dict[str, Mapping[str, float]] = {}
    sctx = ctx.at("seconds_per_image")
    for quality, sizes in _mapping(sctx, raw["seconds_per_image"]).items():
        qctx = sctx.at(quality)
        per_image[quality] = MappingProxyType(
            {size: _number(qctx.at(size), secs, positive=True) for size, secs in _mapping(qctx, sizes).items()}
        )
    return ImageLatency(MappingProxyType(per_image), _number(ctx.at("jitter"), raw["jitter"]))


def _prompt_format(ctx: _Ctx, name: str, value: Any) -> PromptFormat:
    raw = _mapping(ctx, value)
    ints = {
        "tokens_per_message",
        "tokens_per_name",
        "reply_priming",
        "assistant_history_extra",
        "function_role_adjust",
        "function_call_extra",
    }
    _only_keys(ctx, raw, ints | {"tools", "response_format"}, set())
    tctx = ctx.at("tools")
    tools = _mapping(tctx, raw["tools"])
    tool_ints = {"overhead", "system_message_adjust", "choice_none", "choice_named", "choice_required"}
    _only_keys(tctx, tools, tool_ints | {"dialect", "pad_first_system", "choice_named_text"}, set())
    named_text = tools["choice_named_text"]
    if not isinstance(named_text, str) or "{name}" not in named_text:
        raise tctx.at("choice_named_text").fail("expected a string containing {name}")
    fctx = ctx.at("response_format")
    formats = _mapping(fctx, raw["response_format"])
    format_ints = {"in_message", "own_message"}
    _only_keys(fctx, formats, format_ints | {"dialect"}, set())
    return PromptFormat(
        name=name,
        **{key: _int(ctx.at(key), raw[key], minimum=None) for key in sorted(ints)},
        tools=ToolFormat(
            dialect=_choice(tctx.at("dialect"), tools["dialect"], ("hmarr", "harmony")),  # type: ignore[arg-type]
            pad_first_system=_bool(tctx.at("pad_first_system"), tools["pad_first_system"]),
            choice_named_text=named_text,
            **{key: _int(tctx.at(key), tools[key], minimum=None) for key in sorted(tool_ints)},
        ),
        response_format=ResponseFormatRules(
            dialect=_choice(fctx.at("dialect"), formats["dialect"], ("json", "harmony")),  # type: ignore[arg-type]
            **{key: _int(fctx.at(key), formats[key], minimum=None) for key in sorted(format_ints)},
        ),
    )


_MODEL_REQUIRED = {
    "kind",
    "snapshot",
    "aliases",
    "created",
    "owned_by",
    "encoding",
    "context_window",
    "max_output",
    "default_max_output_estimate",
    "reasoning",
    "supports",
    "prices",
    "image_tokens",
    "limits",
    "latency",
}
_MODEL_OPTIONAL = {"prompt_format", "max_input", "embedding", "image_prices", "image_token_prices", "image_output_tokens",
                   "shutdown", "surfaces", "audio_token_prices"}


def _iso_date(ctx: _Ctx, value: Any) -> str:
    """An ISO date (YAML reads an unquoted 2026-10-23 as a date; a quoted one stays a string)."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ctx.fail(f"expected an ISO date such as \"2026-10-23\", got {_got(value)}")


def _surfaces(ctx: _Ctx, value: Any, kind: str) -> frozenset[str]:
    """Which of v1/chat/completions ("chat") and v1/responses ("responses") a chat model serves (default both)."""
    if value is None:
        return frozenset(CHAT_SURFACES)
    if kind != "chat":
        raise ctx.fail(f"only chat models have surfaces (kind is {kind})")
    surfaces = frozenset(_choice(ctx.at(i), item, CHAT_SURFACES) for i, item in enumerate(_str_list(ctx, value)))
    if not surfaces:
        raise ctx.fail("expected at least one of " + ", ".join(CHAT_SURFACES))
    return surfaces


def _model(ctx: _Ctx, model_id: str, value: Any, formats: Mapping[str, PromptFormat]) -> ModelInfo:
    raw = _mapping(ctx, value)
    _only_keys(ctx, raw, _MODEL_REQUIRED, _MODEL_OPTIONAL)
    kind = _choice(ctx.at("kind"), raw["kind"], KINDS)
    reasoning = _bool(ctx.at("reasoning"), raw["reasoning"])

    encoding = raw["encoding"]
    if kind == "image":
        if encoding is not None:
            raise ctx.at("encoding").fail(f"image models have no encoding (null), got {_got(encoding)}")
    else:
        encoding = _choice(ctx.at("encoding"), encoding, ENCODINGS)

    prompt_format = None
    if kind == "chat":
        fmt_name = raw.get("prompt_format")
        if fmt_name not in formats:
            raise ctx.at("prompt_format").fail(
                f"expected one of the prompt_formats ({', '.join(formats)}), got {_got(fmt_name)}"
            )
        prompt_format = formats[fmt_name]
    elif raw.get("prompt_format") is not None:
        raise ctx.at("prompt_format").fail(f"only chat models have a prompt_format (kind is {kind})")

    embedding = None
    if kind == "embedding":
        ectx = ctx.at("embedding")
        spec = _mapping(ectx, raw.get("embedding"))
        _only_keys(ectx, spec, {"dimensions", "max_inputs"}, set())
        embedding = EmbeddingSpec(
            dimensions=_int(ectx.at("dimensions"), spec["dimensions"], minimum=1),
            max_inputs=_int(ectx.at("max_inputs"), spec["max_inputs"], minimum=1),
        )

    image_prices = image_token_prices = image_output_tokens = None
    if kind != "image":
        for key in ("image_prices", "image_token_prices", "image_output_tokens"):
            if raw.get(key) is not None:
                raise ctx.at(key).fail(f"only image models have {key} (kind is {kind})")
    elif raw.get("image_token_prices") is not None:  # a GPT-image model: billed by tokens
        image_token_prices = _prices(ctx.at("image_token_prices"), raw["image_token_prices"])
        image_output_tokens = _image_output_tokens(ctx.at("image_output_tokens"), raw.get("image_output_tokens"))
    else:
        image_prices = _image_prices(ctx.at("image_prices"), raw.get("image_prices"))

    audio_token_prices = None
    if raw.get("audio_token_prices") is not None:  # the audio models bill audio tokens apart from text tokens
        if kind != "chat":
            raise ctx.at("audio_token_prices").fail(f"only chat models have audio_token_prices (kind is {kind})")
        audio_token_prices = _prices(ctx.at("audio_token_prices"), raw["audio_token_prices"])

    return ModelInfo(
        id=model_id,
        kind=kind,  # type: ignore[arg-type]
        snapshot=_str(ctx.at("snapshot"), raw["snapshot"]),
        aliases=_str_list(ctx.at("aliases"), raw["aliases"]),
        created=_int(ctx.at("created"), raw["created"], minimum=1),
        owned_by=_str(ctx.at("owned_by"), raw["owned_by"]),
        encoding=encoding,
        prompt_format=prompt_format,
        context_window=_int(ctx.at("context_window"), raw["context_window"], minimum=1),
        max_input=_optional(ctx.at("max_input"), raw.get("max_input"), functools.partial(_int, minimum=1)),
        max_output=_int(ctx.at("max_output"), raw["max_output"]),
        default_max_output_estimate=_int(
            ctx.at("default_max_output_estimate"), raw["default_max_output_estimate"]
        ),
        reasoning=reasoning,
        supports=frozenset(_str_list(ctx.at("supports"), raw["supports"])),
        prices=_prices(ctx.at("prices"), raw["prices"]),
        image_prices=image_prices,
        embedding=embedding,
        image_tokens=_optional(ctx.at("image_tokens"), raw["image_tokens"], _image_tokens),
        limits=_limits(ctx.at("limits"), raw["limits"]),
        latency=_latency(ctx.at("latency"), raw["latency"], kind, reasoning),
        shutdown=_optional(ctx.at("shutdown"), raw.get("shutdown"), _iso_date),
        surfaces=_surfaces(ctx.at("surfaces"), raw.get("surfaces"), kind),
        image_token_prices=image_token_prices,
        image_output_tokens=image_output_tokens,
        audio_token_prices=audio_token_prices,
    )


def parse_document(document: Any, source: str) -> tuple[dict[str, ModelInfo], str | None]:
    """A whole models.yaml document -> its models by id and its `as_of` date; CatalogError names the bad key."""
    root = _Ctx(source, "")
    if not isinstance(document, Mapping):
        raise CatalogError(f"{source}: expected a mapping at the top level, got {_got(document)}")
    _only_keys(root, document, {"models", "prompt_formats"}, {"as_of"})
    fctx = root.at("prompt_formats")
    formats = {
        _str(fctx, name): _prompt_format(fctx.at(name), name, value)
        for name, value in _mapping(fctx, document["prompt_formats"]).items()
    }
    mctx = root.at("models")
    raw_models = _mapping(mctx, document["models"])
    if not raw_models:
        raise mctx.fail("expected at least one model")
    models = {
        _str(mctx, model_id): _model(mctx.at(model_id), model_id, value, formats)
        for model_id, value in raw_models.items()
    }
    as_of = document.get("as_of")
    return models, None if as_of is None else str(as_of)

