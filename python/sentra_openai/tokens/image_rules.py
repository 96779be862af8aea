"""Input tokens of one image under the model's catalog rule: 512px tiles or 32px patches."""

from __future__ import annotations

import math
from fractions import Fraction

from ..catalog import ModelInfo, PatchRule, TileRule

__all__ = ["image_tokens"]


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
