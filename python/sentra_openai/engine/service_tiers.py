"""`service_tier` as OpenAI serves it, for Chat Completions and Responses: the tier a request asked for becomes the
tier it is served at (and the response's `service_tier` says so), a tier the model does not offer is refused or
falls back to the standard one, and the served tier sets the token prices. The per-model data and its sources are
in config/service_tiers.yaml.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from .. import costing
from ..config import config_dir
from .errors import ApiError

_PATH = config_dir() / "service_tiers.yaml"
_REFUSED_WHEN_MISSING = ("flex", "ultrafast")  # the others fall back to the standard tier


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    with open(_PATH, "rb") as handle:
        return yaml.safe_load(handle)


@lru_cache(maxsize=256)
def _prices(tier: str, model_id: str) -> costing.Prices | None:
    entry = (_table().get(tier) or {}).get("models", {}).get(model_id)
    if entry is None:
        return None
    return costing.Prices.from_strings(entry["input"], entry.get("cached_input"), entry["output"])


def served_tier(model, asked: str | None) -> str:
    """What the response reports for a request that asked `asked` (None, "auto", "default", "flex", "scale",
    "priority", "fast" or "ultrafast"); raises OpenAI's 400 for a tier this model refuses."""
    if asked in (None, "auto", "default", "scale"):
        return "default"
    tier = "priority" if asked == "fast" else asked
    if _prices(tier, model.id) is not None:
        return tier
    if tier in _REFUSED_WHEN_MISSING:
        raise ApiError(400, _table()[tier]["refusal"])
    return "default"


def tier_prices(model, served: str) -> costing.Prices | None:
    """The served tier's prices, or None for the model's standard ones."""
    return None if served == "default" else _prices(served, model.id)
