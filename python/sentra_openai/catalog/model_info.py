"""The catalog's typed view: immutable records of one model's facts (prices, limits, latency, counting rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

__all__ = [
    "CHAT_SURFACES", "ENCODINGS", "KINDS", "TIERS", "CatalogError", "EmbeddingLatency", "EmbeddingSpec", "ImageLatency",
    "ImagePrice", "ImageTokenRule", "LatencyProfile", "ModelInfo", "PatchRule", "Prices", "PromptFormat",
    "ResponseFormatRules", "TextLatency", "TierLimits", "TileRule", "ToolFormat",
]

TIERS: tuple[str, ...] = ("free", "tier1", "tier2", "tier3", "tier4", "tier5")
KINDS = ("chat", "completion", "embedding", "image", "moderation")
# The API surfaces a chat-kind model can serve (a model page's "Endpoints" table); the default is both.
CHAT_SURFACES = ("chat", "responses")
ENCODINGS = ("o200k_base", "cl100k_base")


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
    choice_named_text: str  # the forced function's name as the prompt spells it; "{name}" is replaced by it
    choice_required: int


@dataclass(frozen=True, slots=True)
class ResponseFormatRules:
    """How a json_schema response format enters the prompt (rendering in tokens/response_format_render.py)."""

    dialect: Literal["json", "harmony"]
    in_message: int  # added to the rendering when a developer/system message (or the tool block) already exists
    own_message: int  # added when there is none and the format comes alone


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
    response_format: ResponseFormatRules


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    dimensions: int
    max_inputs: int


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    kind: Literal["chat", "completion", "embedding", "image", "moderation"]
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
    # GPT-image models bill tokens: `prices` are their text tokens, these their image tokens (input and output),
    # and each picture of a quality and size is this many output tokens.
    image_token_prices: Prices | None = None
    image_output_tokens: Mapping[str, Mapping[str, int]] | None = None  # quality -> "WxH" -> tokens
    shutdown: str | None = None  # ISO date of the announced shutdown: from that day on the API answers 404
    surfaces: frozenset[str] = frozenset(CHAT_SURFACES)  # chat models: which of v1/chat/completions, v1/responses
    audio_token_prices: Prices | None = None  # the audio models: USD per 1M audio tokens (input, output)

    def has(self, flag: str) -> bool:
        """Whether the catalog lists `flag` under this model's `supports`."""
        return flag in self.supports

    def retired_on(self, day: str) -> bool:
        """Whether the model is shut down on `day` (an ISO date): on and after its shutdown date it is gone."""
        return self.shutdown is not None and day >= self.shutdown

    def serves(self, surface: str) -> bool:
        """Whether a chat model answers on `surface` ("chat" or "responses")."""
        return surface in self.surfaces

    def tier_limits(self, tier: str) -> TierLimits | None:
        """The limits of a usage tier, or None when the tier does not serve this model."""
        if tier not in self.limits:
            raise KeyError(f"unknown usage tier {tier!r}; expected one of {', '.join(TIERS)}")
        return self.limits[tier]

