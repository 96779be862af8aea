"""What a built-in tool call costs on top of the model's tokens (config/responses.yaml builtin_tools, with its
sources): web search per call (the preview tool's price on models that do not reason) and the minis' fixed block of
search content tokens, file search per call, a code-interpreter container session by memory limit (per minute with
a minimum since 2026-06-02), image generation as its image model's tokens. Returned in picodollars, the unit of the
request record's cost (X-Sentra-Cost-USD).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from ... import respond
from .... import costing
from . import counting

_PICO_PER_MICRO = 1_000_000


def _config(kind: str) -> dict[str, Any]:
    return counting.settings()["builtin_tools"][kind]


def _per_call(price: str) -> int:
    return costing.parse_price_micro(price) * _PICO_PER_MICRO


def fee_picodollars(kind: str, tool: dict[str, Any] | None, model, image_usage: dict[str, Any], catalog,
                    day: str) -> int:
    """One call of the built-in `kind` (its tool as sent, None when unknown) by `model` on the simulator's `day`;
    `image_usage`: the response's tool_usage.image_gen."""
    tool = tool or {}
    if kind == "web_search":
        return _web_search(tool, model)
    if kind == "code_interpreter":
        return _container_session(tool, day)
    if kind == "image_generation":
        return _image_tokens(tool, image_usage, catalog)
    return _per_call(_config(kind).get("usd_per_call", "0"))


def _web_search(tool: dict[str, Any], model) -> int:
    config = _config("web_search")
    if str(tool.get("type", "")).startswith("web_search_preview") and not model.reasoning:
        return _per_call(config["preview_non_reasoning_usd_per_call"])  # its search content tokens are free
    fee = _per_call(config["usd_per_call"])
    if model.id in config["fixed_content_models"]:  # catalog ids: a dated snapshot resolves to its model
        fee += costing.cost_picodollars(int(config["fixed_content_tokens"]), 0, 0, respond.text_prices(model))
    return fee


def _container_session(tool: dict[str, Any], day: str) -> int:
    container = tool.get("container")
    if isinstance(container, str):  # an existing container: its session was billed when it was made
        return 0
    config = _config("code_interpreter")
    memory = (container or {}).get("memory_limit") or "1g"
    prices = config["usd_per_session"]
    session = Decimal(prices.get(memory, prices["1g"]))
    if day < str(config["per_minute_since"]):
        return _per_call(str(session))
    minutes = max(int(config["minimum_minutes"]), math.ceil(float(config["seconds_per_call"]) / 60))
    minutes = min(minutes, int(config["session_minutes"]))
    micro = costing.parse_price_micro(session) * minutes // int(config["session_minutes"])
    return micro * _PICO_PER_MICRO


def image_model(tool: dict[str, Any] | None, catalog):
    """The tool's image model (its `model`, else the configured default), or None if the catalog lacks it."""
    name = (tool or {}).get("model") or _config("image_generation")["model"]
    return catalog.get(name) or catalog.get(_config("image_generation")["model"])


def _image_tokens(tool: dict[str, Any], usage: dict[str, Any], catalog) -> int:
    """Text input at the image model's text price, image tokens in and out at its image-token price (as
    /v1/images bills them: gpt_image.charge)."""
    model = image_model(tool, catalog)
    if model is None or model.image_token_prices is None:
        return 0
    details = usage["input_tokens_details"]
    image = model.image_token_prices
    return (costing.cost_picodollars(details["text_tokens"], 0, 0, respond.text_prices(model))
            + costing.cost_picodollars(details["image_tokens"], 0, usage["output_tokens"],
                                       costing.Prices.of(image.input_micros, image.cached_input_micros,
                                                         image.output_micros)))
