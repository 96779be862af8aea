"""The model catalog: a typed, validated, immutable view of config/models.yaml.

Every model fact (prices, limits, context sizes, token-counting constants, latency) lives in the YAML file; this
package only reads it (loading), checks it (rules) and hands out typed records (model_info).
"""

from .loading import Catalog
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

__all__ = [
    "CHAT_SURFACES", "ENCODINGS", "KINDS", "TIERS", "Catalog", "CatalogError", "EmbeddingLatency", "EmbeddingSpec", "ImageLatency",
    "ImagePrice", "ImageTokenRule", "LatencyProfile", "ModelInfo", "PatchRule", "Prices", "PromptFormat",
    "ResponseFormatRules", "TextLatency", "TierLimits", "TileRule", "ToolFormat",
]
