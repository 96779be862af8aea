"""The GPT-image models (gpt-image-1 … gpt-image-2.6, chatgpt-image-latest) on /v1/images/generations and
/v1/images/edits: always b64_json, `size` with `auto`, `quality` low|medium|high|auto, `background`,
`output_format` png|jpeg|webp, `output_compression`, `moderation`, `n`, token `usage` billed at the catalog's text
and image-token prices, and `stream` with `partial_images`.

Wire shapes: the spec's ImagesResponse / ImagesUsage and the ImageGen*/ImageEdit* stream events (shared/data/openapi);
parameter rules: the docstrings of openai 3.57.0's image_generate_params / image_edit_params.
"""

from __future__ import annotations

import base64
import math
import random
from dataclasses import dataclass
from typing import Any

import orjson

from ... import costing
from .. import errors, respond
from ..content import image_codec
from ..content.image_codec import ImageFacts
from ..core import Call
from ..errors import ApiError
from ..types import Outcome, Piece, StreamPlan
from ..validation import Fields

STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("low", "medium", "high", "auto")
EXTRA_QUALITIES = ("xhigh", "max")  # gpt-image-2.5 only (ImageEditParams.quality)
BACKGROUNDS = ("transparent", "opaque", "auto")
OUTPUT_FORMATS = ("png", "webp", "jpeg", "gif", "svg")  # the SDK's Literal; gif and svg need preview access
MODERATIONS = ("low", "auto")
FIDELITIES = ("high", "low")
COMPLEXITIES = ("low", "medium", "high")
AUTO_QUALITY = "high"  # assumed: OpenAI says auto picks "the best quality for the given model" -- unconfirmed
# gpt-image-2 and later take any WxH (ImageGenerateParams.size docstring): edges divisible by 16, aspect within
# 1:3..3:1, at most 3840x2160 worth of pixels and a 3840 px edge.
ANY_SIZE_MAX_PIXELS = 3840 * 2160
ANY_SIZE_MAX_EDGE = 3840
# High input fidelity adds these tokens per input image (tokens-pricing.md §1.3; an older copy says 4096 / 6144).
HIGH_FIDELITY_TOKENS = {"square": 4160, "other": 6240}
_STREAM_EVENT_GAP = 0.25  # share of the generation time before the first partial image (assumed)


@dataclass(slots=True)
class Options:
    n: int
    size: str  # as asked, "auto" included
    width: int
    height: int
    quality: str  # as asked
    effective_quality: str  # what "auto" became
    background: str  # as asked
    output_format: str
    compression: int
    stream: bool
    partial_images: int
    input_fidelity: str
    safety_identifier: str | None


def read_options(call: Call, model, f: Fields, inputs: list[ImageFacts], editing: bool) -> Options:
    """Every GPT-image parameter, checked as the API checks it for this model."""
    n = f.integer("n", 1, minimum=1, maximum=10)
    assert n is not None
    if f.data.get("response_format") is not None:
        # Observed on gpt-image-1 (2025 third-party 400 bodies); the 3.57.0 docstring: "Unsupported for GPT image
        # models, which always return base64-encoded images".
        raise ApiError(400, "Unknown parameter: 'response_format'.", param="response_format", code="unknown_parameter")
    if f.data.get("style") is not None:  # "only supported for dall-e-3" (the spec); refused like response_format
        raise ApiError(400, "Unknown parameter: 'style'.", param="style", code="unknown_parameter")
    qualities = list(QUALITIES) + (list(EXTRA_QUALITIES) if model.has("xhigh_quality") else [])
    quality = f.string("quality", "auto", choices=qualities)
    assert quality is not None
    background = f.string("background", "auto", choices=list(BACKGROUNDS))
    assert background is not None
    output_format = f.string("output_format", "png", choices=list(OUTPUT_FORMATS))
    assert output_format is not None
    compression = f.integer("output_compression", 100, minimum=0, maximum=100)
    assert compression is not None
    stream = bool(f.boolean("stream", False))
    partial_images = f.integer("partial_images", 0, minimum=0, maximum=3)
    assert partial_images is not None
    f.string("moderation", "auto", choices=list(MODERATIONS))
    f.string("complexity", choices=list(COMPLEXITIES))
    identity = f.string("safety_identifier") or f.string("user")
    fidelity = f.string("input_fidelity", choices=list(FIDELITIES)) if editing else None

    if output_format in ("gif", "svg"):
        # Preview formats ("Requires access to the GIF preview", "SVG output requires … project access"): a
        # project without that access is refused. Wording assumed -- unconfirmed.
        raise ApiError(400, f"The '{output_format}' output format is not available for this project.",
                       param="output_format", code="invalid_value")
    for name in ("frame_count", "frame_duration_ms"):
        if f.data.get(name) is not None:  # "Only supported with output_format=gif"
            raise ApiError(400, f"'{name}' is only supported with output_format 'gif'.", param=name,
                           code="invalid_value")
    if f.data.get("svg") is not None:  # "Supply svg.model when SVG model selection is enabled. Otherwise, omit"
        raise ApiError(400, "'svg' is only supported with output_format 'svg'.", param="svg", code="invalid_value")
    if background == "transparent":
        if not model.has("transparent_background"):
            raise ApiError(400, "Transparent backgrounds are not supported for this model.", param="background",
                           code="invalid_value")
        if output_format == "jpeg":
            raise ApiError(400, "Transparent background is only supported for the png and webp output formats.",
                           param="background", code="invalid_value")
    if fidelity is not None and not model.has("input_fidelity"):
        # ImageEditParams.input_fidelity: "gpt-image-1-mini supports only low. For gpt-image-2, omit this parameter."
        if not model.has("input_fidelity_low"):
            raise errors.unsupported_parameter("input_fidelity")
        if fidelity != "low":
            raise errors.unsupported_value("input_fidelity", f"'{fidelity}' is not supported with this model. "
                                           "Supported values are: 'low'.")

    size = f.string("size", "auto")
    assert size is not None
    width, height = _size(model, size, inputs)
    effective = AUTO_QUALITY if quality == "auto" else quality
    if f.data.get("prompt") is not None and len(f.data["prompt"]) > model.context_window:
        raise errors.string_too_long("prompt", model.context_window, len(f.data["prompt"]))
    return Options(n, size, width, height, quality, effective, background, output_format, compression, stream,
                   partial_images, fidelity or "low", identity)


def _size(model, size: str, inputs: list[ImageFacts]) -> tuple[int, int]:
    if size == "auto":
        if inputs:  # an edit keeps the first image's orientation
            first = inputs[0]
            if first.width > first.height * 1.2:
                return 1536, 1024
            if first.height > first.width * 1.2:
                return 1024, 1536
        return 1024, 1024
    if size in STANDARD_SIZES:
        width, height = (int(side) for side in size.split("x"))
        return width, height
    if model.has("any_size"):
        parsed = _free_size(size)
        if parsed is not None:
            return parsed
        raise ApiError(400, f"Invalid size '{size}'. Width and height must be multiples of 16, the aspect ratio "
                       f"between 1:3 and 3:1, and at most {ANY_SIZE_MAX_PIXELS} pixels with no edge above "
                       f"{ANY_SIZE_MAX_EDGE}.", param="size", code="invalid_value")  # wording assumed
    raise errors.invalid_value("size", size, list(STANDARD_SIZES) + ["auto"])


def _free_size(size: str) -> tuple[int, int] | None:
    width_text, sep, height_text = size.partition("x")
    if not sep or not width_text.isdigit() or not height_text.isdigit():
        return None
    width, height = int(width_text), int(height_text)
    if width <= 0 or height <= 0 or width % 16 or height % 16:
        return None
    if max(width, height) > 3 * min(width, height) or max(width, height) > ANY_SIZE_MAX_EDGE:
        return None
    if width * height > ANY_SIZE_MAX_PIXELS:
        return None
    return width, height


# ---- tokens and cost --------------------------------------------------------------------------------------------


def output_tokens(model, options: Options) -> int:
    """Tokens of one picture: the catalog's table, scaled by area for free sizes and up for xhigh/max."""
    table = model.image_output_tokens
    quality = options.effective_quality
    scale = {"xhigh": 2, "max": 4}.get(quality, 1)  # assumed: no published counts for these qualities
    by_size = table["high" if scale > 1 else quality]
    size = f"{options.width}x{options.height}"
    if size in by_size:
        return by_size[size] * scale
    return math.ceil(by_size["1024x1024"] * options.width * options.height / (1024 * 1024)) * scale


def input_image_tokens(model, facts: ImageFacts, fidelity: str) -> int:
    """An input image under GPT Image's tile rule: fit in 2048x2048, shortest side to 512, 512 px tiles
    (tokens-pricing.md §1.3), plus the high-fidelity surcharge."""
    rule = model.image_tokens
    w, h = float(facts.width), float(facts.height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    scale = 512 / min(w, h)
    w, h = w * scale, h * scale
    tokens = rule.base + math.ceil(w / 512) * math.ceil(h / 512) * rule.per_tile
    if fidelity == "high":
        tokens += HIGH_FIDELITY_TOKENS["square" if facts.width == facts.height else "other"]
    return tokens


def usage(call: Call, model, prompt: str, inputs: list[ImageFacts], options: Options) -> dict[str, Any]:
    text_tokens = call.services.tokens.count_text("o200k_base", prompt)
    image_tokens = sum(input_image_tokens(model, facts, options.input_fidelity) for facts in inputs)
    out = output_tokens(model, options) * options.n
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
        "output_tokens": out,
        "total_tokens": text_tokens + image_tokens + out,
        "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
    }


def charge(call: Call, model, usage_: dict[str, Any]) -> None:
    """Text tokens at the model's text price, image tokens (in and out) at its image-token price."""
    details = usage_["input_tokens_details"]
    image = model.image_token_prices
    pico = costing.cost_picodollars(details["text_tokens"], 0, 0, respond.text_prices(model)) + costing.cost_picodollars(
        details["image_tokens"], 0, usage_["output_tokens"],
        costing.Prices.of(image.input_micros, image.cached_input_micros, image.output_micros))
    call.record.input_tokens = usage_["input_tokens"]
    call.record.output_tokens = usage_["output_tokens"]
    call.record.cost_picodollars = pico
    call.record.cost_usd = costing.format_usd(pico)


# ---- the answer -------------------------------------------------------------------------------------------------


def answer(call: Call, model, prompt: str, inputs: list[ImageFacts], options: Options, *, editing: bool) -> Outcome:
    """Admission, cost, the pictures, and the JSON body or the event stream."""
    usage_ = usage(call, model, prompt, inputs, options)
    respond.admit_gpt_image(call, model, options.n, usage_["total_tokens"])
    call.check_fault(model.id, False)
    charge(call, model, usage_)
    transparent = options.background == "transparent"
    rng = random.Random(call.content_key("gpt-image", model.id, prompt, options.width, options.height,
                                         options.effective_quality, transparent, editing,
                                         [(i.width, i.height) for i in inputs]))
    pictures = [image_codec.draw(options.width, options.height, rng.getrandbits(64), transparent=transparent)
                for _ in range(options.n)]
    delay = _delay(call, model, options)
    facts = {"background": "transparent" if transparent else "opaque", "output_format": options.output_format,
             "quality": options.effective_quality, "size": f"{options.width}x{options.height}"}
    if options.stream:
        return _stream(call, pictures, options, usage_, facts, delay, "image_edit" if editing else "image_generation")
    data = [{"b64_json": _b64(image_codec.encode(p, options.output_format, options.compression))} for p in pictures]
    body = {"created": int(call.wall_started), "data": data, **facts, "usage": usage_}
    if options.safety_identifier:  # ImagesResponse.safety_identifier: the request's, or else its `user`
        body["safety_identifier"] = options.safety_identifier
    return respond.json_outcome(body, delay=delay)


def _stream(call: Call, pictures, options: Options, usage_: dict[str, Any], facts: dict[str, str], total: float,
            prefix: str) -> Outcome:
    """`<prefix>.partial_image` events (partial_images of them per picture) then one `<prefix>.completed` per
    picture, framed `event: <type>` + `data:` as the spec's examples show."""
    created = int(call.wall_started)
    echoed = {"background": options.background, "output_format": options.output_format,
              "quality": options.quality, "size": options.size}  # the events echo the request (spec enums hold auto)
    pieces: list[Piece] = []
    steps = options.partial_images + 1
    for number, picture in enumerate(pictures):
        for index in range(options.partial_images):
            due = total * (_STREAM_EVENT_GAP + (1 - _STREAM_EVENT_GAP) * index / steps)
            image = image_codec.partial(picture, index, options.partial_images)
            event = {"type": f"{prefix}.partial_image", "b64_json": _b64(image_codec.encode(image, options.output_format, options.compression)),
                     "created_at": created, **echoed, "partial_image_index": index}
            pieces.append(Piece(due, raw=_frame(event)))
        final = {"type": f"{prefix}.completed",
                 "b64_json": _b64(image_codec.encode(picture, options.output_format, options.compression)),
                 "created_at": created, **echoed, "usage": usage_}
        pieces.append(Piece(total, raw=_frame(final)))
    del facts
    plan = StreamPlan(pieces, paced=call.time_scale > 0)
    return Outcome(200, {"content-type": "text/event-stream; charset=utf-8"}, stream=plan)


def _frame(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _delay(call: Call, model, options: Options) -> float:
    """The catalog's seconds per picture at the nearest standard size, scaled by area for free sizes."""
    if call.time_scale <= 0:
        return 0.0
    quality = options.effective_quality if options.effective_quality in QUALITIES else "high"
    table = model.latency.seconds_per_image[quality]
    size = f"{options.width}x{options.height}"
    seconds = table.get(size) or table["1024x1024"] * options.width * options.height / (1024 * 1024)
    seconds *= 1.0 + 0.1 * (options.n - 1)
    return seconds * math.exp(call.rng.gauss(0.0, model.latency.jitter)) * call.time_scale
