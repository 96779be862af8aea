"""POST /v1/images/generations for dall-e-2 and dall-e-3, and GET /v1/images/files/{id}.png serving the pictures.

Wire shapes: shared/reference/openai-wire.md §5.3 (ImagesResponse: `created` and `data`, no `usage` for dall-e;
dall-e-3 items carry `revised_prompt`) and §1.1 (no x-ratelimit-* headers on images). Image ids encode the picture's
size and seed, so a URL can be served at any later time, by any process, without keeping images in memory.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from typing import Any

from .. import errors, respond
from ..content import png
from ..content.lexicon import lexicon
from ..core import Call, Engine
from ..errors import ApiError
from ..model_resolution import resolve_model_of_kind
from ..retirement import as_of_day, live_model
from ..types import Outcome
from ..validation import Fields, parse_json_object
from . import gpt_image

KNOWN_FIELDS = frozenset({
    "prompt", "model", "n", "quality", "response_format", "size", "style", "user", "output_format",
    "output_compression", "stream", "partial_images", "moderation", "background",
    "complexity", "frame_count", "frame_duration_ms", "safety_identifier", "svg",  # openai 3.57.0 ImageGenerateParams
})
DEFAULT_MODEL = "dall-e-2"  # CreateImageRequest.model default ...
GPT_IMAGE_DEFAULT = "gpt-image-1.5"  # ... "unless a parameter specific to the GPT image models is used" (the spec)
GPT_IMAGE_ONLY = ("output_format", "output_compression", "stream", "partial_images", "moderation", "background")
FILES_PREFIX = "/v1/images/files/"
RESPONSE_FORMATS = ["url", "b64_json"]
STYLES = ["vivid", "natural"]
QUALITIES = ["standard", "hd", "low", "medium", "high", "auto"]  # the spec's enum, across all image models
ALL_SIZES = ["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"]  # every dall-e size (spec)
_ID_KEY = b"sentra-image-id"
_ID_LAYOUT = struct.Struct(">HHQ")  # width, height, picture seed
_ID_TAG_BYTES = 4  # enough to turn away typos and guesses; the id is not a secret


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/images/generations", "images.generations", generate)
    engine.route("GET", FILES_PREFIX, "images.files", serve_file, prefix=True)
    # Like OpenAI's blob URLs, an image URL is a capability: fetching it needs no API key.
    engine.public_endpoints.add("images.files")


def generate(call: Call) -> Outcome:
    body = parse_json_object(call.request.body)
    f = Fields(body)
    f.reject_unknown(KNOWN_FIELDS)
    prompt = f.string("prompt", required=True)
    assert prompt is not None
    name = body.get("model")
    if name is None:
        gpt_only = any(body.get(key) is not None for key in GPT_IMAGE_ONLY)
        gpt_only = gpt_only or body.get("quality") in ("low", "medium", "high")
        # Once dall-e-2 is shut down the default goes with it: assumed to become the edits default, gpt-image-1.5
        # (the 3.57.0 docstring only says "Specify a model explicitly") -- unconfirmed.
        retired = live_model(call.services.catalog, DEFAULT_MODEL, as_of_day(call.settings)) is None
        name = GPT_IMAGE_DEFAULT if gpt_only or retired else DEFAULT_MODEL
    elif not isinstance(name, str) or not name:
        raise errors.invalid_type("model", "a string", name)
    model = resolve_model_of_kind(call, name, "image")
    if model.image_token_prices is not None:
        options = gpt_image.read_options(call, model, f, [], editing=False)
        return gpt_image.answer(call, model, prompt, [], options, editing=False)
    n = f.integer("n", 1, minimum=1, maximum=10)
    assert n is not None
    quality = f.string("quality", "auto", choices=QUALITIES)
    response_format = f.string("response_format", "url", choices=RESPONSE_FORMATS)
    style = f.string("style", "vivid", choices=STYLES)
    assert style is not None
    size = f.string("size") or "1024x1024"
    f.string("user")

    assert model.image_prices is not None
    if model.has("quality_hd"):  # dall-e-3: standard (the default) or hd
        if quality not in ("standard", "hd", "auto"):
            raise errors.invalid_value("quality", quality, ["standard", "hd"])
        quality = "hd" if quality == "hd" else "standard"
    else:  # dall-e-2 has a single quality
        quality = next(iter(model.image_prices))
    sizes = model.image_prices[quality]
    if size not in sizes:
        if size in ALL_SIZES:
            # Observed for dall-e-2 sizes sent to dall-e-3 (third-party 400 bodies, 2024).
            raise ApiError(400, "The size is not supported by this model.", code="invalid_size")
        raise ApiError(400, f"{size!r} is not one of {ALL_SIZES!r} - 'size'")
    if len(prompt) > model.context_window:  # the catalog keeps the prompt limit (characters) there
        raise errors.string_too_long("prompt", model.context_window, len(prompt))
    if n > 1 and not model.has("n"):
        raise ApiError(400, "You must provide n=1 for this model.")  # dall-e-3 (third-party 400 bodies)

    assert response_format is not None
    return dalle_answer(call, model, n, size, quality, response_format, style, ("image", prompt))


def dalle_answer(call: Call, model, n: int, size: str, quality: str, response_format: str, style: str,
                 content: tuple) -> Outcome:
    """The dall-e answer (generations, dall-e-2 edits and variations): admission, cost, URLs or b64 PNGs.
    `content` identifies what is drawn (the prompt, an uploaded image's digest ...)."""
    assert model.image_prices is not None
    respond.admit_images(call, model, n)
    call.check_fault(model.id, False)
    respond.charge_images(call, n, model.image_prices[quality][size].micros)

    width, height = (int(side) for side in size.split("x"))
    rng = random.Random(call.content_key(content[0], model.id, *content[1:], size, quality, style))
    data = []
    for _ in range(n):
        image_id = encode_image_id(width, height, rng.getrandbits(64))
        item: dict[str, Any] = {}
        if model.has("style"):
            item["revised_prompt"] = revised_prompt(content[-1], style, rng)
        if response_format == "b64_json":
            picture = _picture(image_id)
            assert picture is not None  # the id was just encoded
            item["b64_json"] = base64.b64encode(picture).decode("ascii")
        else:
            item["url"] = _base_url(call) + FILES_PREFIX + image_id + ".png"
        data.append(item)
    delay = _delay(call, model, quality, size, n)
    return respond.json_outcome({"created": int(call.wall_started), "data": data}, delay=delay)


def serve_file(call: Call) -> Outcome:
    name = call.request.path[len(FILES_PREFIX):]
    image_id = name[:-4] if name.endswith(".png") else None
    picture = _picture(image_id) if image_id else None
    if picture is None:
        raise ApiError(404, f"No image at {call.request.path}.", code="image_not_found")
    return Outcome(200, {"content-type": "image/png", "cache-control": "public, max-age=3600"}, picture)


# ---- image ids ----------------------------------------------------------------------------------------------------


def encode_image_id(width: int, height: int, seed: int) -> str:
    """`img-` + the URL-safe base64 of (width, height, seed) and a short digest that rejects made-up ids."""
    payload = _ID_LAYOUT.pack(width, height, seed)
    return "img-" + base64.urlsafe_b64encode(payload + _id_tag(payload)).decode("ascii").rstrip("=")


def decode_image_id(image_id: str) -> tuple[int, int, int] | None:
    if not image_id.startswith("img-"):
        return None
    text = image_id[4:]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != _ID_LAYOUT.size + _ID_TAG_BYTES:
        return None
    payload, tag = raw[:_ID_LAYOUT.size], raw[_ID_LAYOUT.size:]
    if _id_tag(payload) != tag:
        return None
    width, height, seed = _ID_LAYOUT.unpack(payload)
    if f"{width}x{height}" not in ALL_SIZES:
        return None
    return width, height, seed


def _id_tag(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_ID_KEY, digest_size=_ID_TAG_BYTES).digest()


def _picture(image_id: str) -> bytes | None:
    decoded = decode_image_id(image_id)
    if decoded is None:
        return None
    width, height, seed = decoded
    return png.picture_png(width, height, seed)


def _base_url(call: Call) -> str:
    """This server as the client reached it (the Host header), so the URL works from the client's side."""
    host = call.headers_in.get("host") or f"{call.settings.server.host}:{call.settings.server.port}"
    scheme = call.headers_in.get("x-forwarded-proto", "http")
    return f"{scheme}://{host}"


# ---- content, limits, timing --------------------------------------------------------------------------------------



def revised_prompt(prompt: str, style: str, rng) -> str:
    """dall-e-3 rewrites every prompt into a fuller description before drawing it; this imitates the shape."""
    subject = prompt.strip().rstrip(".") or "An abstract composition"
    subject = subject[0].upper() + subject[1:]
    words = lexicon()
    return (f"{subject}, set in {rng.choice(words['image_settings'])}. The image is rendered with "
            f"{words['image_style_words'][style]}, "
            "with a clear focal point and fine detail throughout.")


def _delay(call: Call, model, quality: str, size: str, n: int) -> float:
    """Generation time from the catalog's seconds per image; a batch is drawn in parallel, a little slower."""
    if call.time_scale <= 0:
        return 0.0
    profile = model.latency
    seconds = profile.seconds_per_image[quality][size] * (1.0 + 0.1 * (n - 1))
    return seconds * math.exp(call.rng.gauss(0.0, profile.jitter)) * call.time_scale
