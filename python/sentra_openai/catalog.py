"""The model catalog: typed, validated, immutable view of config/models.yaml.

Every model fact (prices, limits, context sizes, token-counting constants, latency) lives in the YAML file;
this module only parses and checks it. Prices are decimal strings in the file and are turned into exact
integer micro-dollars here, so that cost arithmetic never touches binary floating point.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

import yaml

__all__ = [
    "TIERS",
    "Catalog",
    "CatalogError",
    "EmbeddingLatency",
    "EmbeddingSpec",
    "ImageLatency",
    "ImagePrice",
    "LatencyProfile",
    "ModelInfo",
    "PatchRule",
    "Prices",
    "PromptFormat",
    "TextLatency",
    "TierLimits",
    "TileRule",
    "ToolFormat",
]

TIERS: tuple[str, ...] = ("free", "tier1", "tier2", "tier3", "tier4", "tier5")
KINDS = ("chat", "completion", "embedding", "image")
ENCODINGS = ("o200k_base", "cl100k_base")
MICROS_PER_USD = 1_000_000

# A price is a plain non-negative decimal with at most 6 fractional digits (micro-dollar resolution).
_PRICE_RE = re.compile(r"^\d+(\.\d{1,6})?$")
_SIZE_RE = re.compile(r"^\d+x\d+$")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader keeps start-up fast


class CatalogError(ValueError):
    """A models.yaml problem; the message names the file, the model and the key."""


# --------------------------------------------------------------------------------------------- data types


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per 1M tokens, both as the catalog's decimal strings and as exact integer micro-dollars."""

    input: str
    cached_input: str | None
    output: str
    input_micros: int
    cached_input_micros: int | None
    output_micros: int


@dataclass(frozen=True, slots=True)
class ImagePrice:
    """USD per generated image."""

    usd: str
    micros: int


@dataclass(frozen=True, slots=True)
class TierLimits:
    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    ipm: int | None = None


@dataclass(frozen=True, slots=True)
class TextLatency:
    """Chat and completion models: time to first token plus a paced token stream."""

    ttft_median_s: float
    ttft_p95_s: float
    tokens_per_s: float
    tokens_per_s_jitter: float
    reasoning_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class EmbeddingLatency:
    base_s: float
    per_1k_tokens_s: float
    per_input_s: float
    jitter: float


@dataclass(frozen=True, slots=True)
class ImageLatency:
    seconds_per_image: Mapping[str, Mapping[str, float]]  # quality -> "WxH" -> seconds
    jitter: float


LatencyProfile = TextLatency | EmbeddingLatency | ImageLatency


@dataclass(frozen=True, slots=True)
class TileRule:
    """512px-tile image accounting (gpt-4o, gpt-4.1, o1/o3, gpt-5)."""

    base: int
    per_tile: int
    rule: Literal["tile"] = "tile"


@dataclass(frozen=True, slots=True)
class PatchRule:
    """32px-patch image accounting (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano)."""

    multiplier: Fraction  # exact, from the catalog's decimal string
    budget: int
    extra: int
    rule: Literal["patch"] = "patch"


ImageTokenRule = TileRule | PatchRule


@dataclass(frozen=True, slots=True)
class ToolFormat:
    dialect: Literal["hmarr", "harmony"]
    overhead: int
    system_message_adjust: int
    pad_first_system: bool
    choice_none: int
    choice_named: int
    choice_required: int


@dataclass(frozen=True, slots=True)
class PromptFormat:
    """Constants of a chat prompt-counting rule (the algorithm itself is in tokens/)."""

    name: str
    tokens_per_message: int
    tokens_per_name: int
    reply_priming: int
    assistant_history_extra: int
    function_role_adjust: int
    function_call_extra: int
    tools: ToolFormat


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    dimensions: int
    max_inputs: int


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    kind: Literal["chat", "completion", "embedding", "image"]
    snapshot: str
    aliases: tuple[str, ...]
    created: int
    owned_by: str
    encoding: str | None
    prompt_format: PromptFormat | None
    context_window: int
    max_input: int | None
    max_output: int
    default_max_output_estimate: int
    reasoning: bool
    supports: frozenset[str]
    prices: Prices
    image_prices: Mapping[str, Mapping[str, ImagePrice]] | None  # quality -> "WxH" -> price
    embedding: EmbeddingSpec | None
    image_tokens: ImageTokenRule | None
    limits: Mapping[str, TierLimits | None]  # every tier in TIERS is a key
    latency: LatencyProfile

    def has(self, flag: str) -> bool:
        """Whether the catalog lists `flag` under this model's `supports`."""
        return flag in self.supports

    def tier_limits(self, tier: str) -> TierLimits | None:
        """The limits of a usage tier, or None when the tier does not serve this model."""
        if tier not in self.limits:
            raise KeyError(f"unknown usage tier {tier!r}; expected one of {', '.join(TIERS)}")
        return self.limits[tier]


# --------------------------------------------------------------------------------------------- parsing

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
    """A decimal price string -> (the string, exact integer micro-dollars)."""
    if not isinstance(value, str):
        raise ctx.fail(f"expected a decimal string, got {_got(value)}")
    if not _PRICE_RE.match(value):
        raise ctx.fail(
            f"expected a decimal string with at most 6 decimals (e.g. \"2.50\"), got {value!r}"
        )
    micros = Decimal(value) * MICROS_PER_USD
    return value, int(micros)  # exact: the regex allows at most 6 fractional digits


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
    multiplier = raw["multiplier"]
    if not isinstance(multiplier, str) or not _PRICE_RE.match(multiplier):
        raise ctx.at("multiplier").fail(f"expected a decimal string, got {_got(multiplier)}")
    return PatchRule(
        multiplier=Fraction(Decimal(multiplier)),
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
    if kind == "embedding":
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
    _only_keys(ctx, raw, ints | {"tools"}, set())
    tctx = ctx.at("tools")
    tools = _mapping(tctx, raw["tools"])
    tool_ints = {"overhead", "system_message_adjust", "choice_none", "choice_named", "choice_required"}
    _only_keys(tctx, tools, tool_ints | {"dialect", "pad_first_system"}, set())
    return PromptFormat(
        name=name,
        **{key: _int(ctx.at(key), raw[key], minimum=None) for key in sorted(ints)},
        tools=ToolFormat(
            dialect=_choice(tctx.at("dialect"), tools["dialect"], ("hmarr", "harmony")),  # type: ignore[arg-type]
            pad_first_system=_bool(tctx.at("pad_first_system"), tools["pad_first_system"]),
            **{key: _int(tctx.at(key), tools[key], minimum=None) for key in sorted(tool_ints)},
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
_MODEL_OPTIONAL = {"prompt_format", "max_input", "embedding", "image_prices"}


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

    image_prices = None
    if kind == "image":
        image_prices = _image_prices(ctx.at("image_prices"), raw.get("image_prices"))
    elif raw.get("image_prices") is not None:
        raise ctx.at("image_prices").fail(f"only image models have image_prices (kind is {kind})")

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
    )


# --------------------------------------------------------------------------------------------- catalog


class Catalog:
    """All models of one catalog file, looked up by id, dated snapshot or alias."""

    __slots__ = ("_index", "_models", "as_of", "source")

    def __init__(self, models: Mapping[str, ModelInfo], *, as_of: str | None = None, source: str = "") -> None:
        self._models = MappingProxyType(dict(models))
        self.as_of = as_of
        self.source = source
        index: dict[str, str] = {}
        for info in self._models.values():
            for name in (info.id, info.snapshot, *info.aliases):
                owner = index.setdefault(name, info.id)
                if owner != info.id:
                    raise CatalogError(
                        f"{source or 'catalog'}: {info.id}: name {name!r} is already used by {owner}"
                    )
        self._index = index

    # -- loading

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Catalog:
        """Parse and validate a models.yaml file; raises CatalogError naming the bad key."""
        path = Path(path)
        source = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read the model catalog: {exc}") from exc
        return cls.from_yaml(text, source=source)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "models.yaml") -> Catalog:
        try:
            document = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise CatalogError(f"{source}: not valid YAML: {exc}") from exc
        return cls.from_mapping(document, source=source)

    @classmethod
    def from_mapping(cls, document: Any, *, source: str = "models.yaml") -> Catalog:
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
        return cls(models, as_of=None if as_of is None else str(as_of), source=source)

    @classmethod
    def default(cls) -> Catalog:
        """The catalog shipped inside the package (config/models.yaml), loaded once per process."""
        return _default_catalog()

    # -- lookups

    def get(self, model_id: str) -> ModelInfo | None:
        """The model for an id, a dated snapshot or an alias; None when unknown."""
        key = self._index.get(model_id)
        return None if key is None else self._models[key]

    def __getitem__(self, model_id: str) -> ModelInfo:
        info = self.get(model_id)
        if info is None:
            raise KeyError(model_id)
        return info

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and model_id in self._index

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def models(self) -> tuple[ModelInfo, ...]:
        """Every model, in file order."""
        return tuple(self._models.values())

    def names(self) -> tuple[str, ...]:
        """Every id that resolves: base ids, snapshots and aliases (what /v1/models may list)."""
        return tuple(self._index)

    def echo_model(self, model_id: str) -> str | None:
        """The `model` value a response carries: a dated name echoes itself, a base id its snapshot."""
        info = self.get(model_id)
        if info is None:
            return None
        return info.snapshot if model_id == info.id else model_id


@functools.lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    resource = resources.files("sentra_openai") / "config" / "models.yaml"
    with resources.as_file(resource) as path:
        return Catalog.load(path)
