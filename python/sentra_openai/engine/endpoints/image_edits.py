"""POST /v1/images/edits (GPT-image models and dall-e-2) and POST /v1/images/variations (dall-e-2), both
multipart/form-data as the SDKs send them: `image` (or repeated `image[]`), `mask`, `markup`, text fields.

Uploads are judged as OpenAI judges them: first by the part's Content-Type (a bytes upload without a filename
arrives as application/octet-stream and is refused: the SDKs' users meet that 400 daily, see the messages below),
then by decoding the file, so a broken image is a 400 and never a 500.
Rules: the spec's CreateImageEditRequest / CreateImageVariationRequest and openai 3.57.0's image_edit_params.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import errors
from ..content import image_codec
from ..content.image_codec import ImageFacts
from ..core import Call, Engine
from ..errors import ApiError
from ..model_resolution import resolve_model_of_kind
from ..types import Outcome
from ..validation import Fields
from . import gpt_image, images
from .multipart_form import Form, Upload, parse_form, typed_fields

EDIT_FIELDS = frozenset({
    "image", "prompt", "mask", "markup", "background", "complexity", "frame_count", "frame_duration_ms",
    "input_fidelity", "model", "n", "output_compression", "output_format", "partial_images", "quality",
    "response_format", "safety_identifier", "size", "stream", "svg", "user",
})
VARIATION_FIELDS = frozenset({"image", "model", "n", "response_format", "size", "user"})
INTEGER_FIELDS = frozenset({"n", "output_compression", "partial_images", "frame_count", "frame_duration_ms"})
BOOLEAN_FIELDS = frozenset({"stream"})
EDIT_DEFAULT_MODEL = "gpt-image-1.5"  # CreateImageEditRequest.model default
VARIATION_MODEL = "dall-e-2"  # "Only dall-e-2 is supported at this time" (CreateImageVariationRequest)
GPT_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
GPT_IMAGE_MAX_BYTES = 50 * 1024 * 1024  # "each image should be … less than 50MB"
GPT_IMAGE_MAX_IMAGES = 16
DALLE_MAX_BYTES = 4 * 1024 * 1024  # dall-e-2: "a square png file less than 4MB"; masks too
DALLE_SIZES = ["256x256", "512x512", "1024x1024"]


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/images/edits", "images.edits", edit)
    engine.route("POST", "/v1/images/variations", "images.variations", variation)


def _read_form(call: Call, accepted: frozenset[str]) -> tuple[Form, dict[str, Any]]:
    """The multipart form and its typed text fields; a field (text or file) outside `accepted` is refused."""
    form = parse_form(call.request)
    body = typed_fields(form.fields, INTEGER_FIELDS, BOOLEAN_FIELDS)
    for name in list(body) + list(form.files):
        if name not in accepted:
            raise errors.unrecognized_argument(name)
    return form, body


def edit(call: Call) -> Outcome:
    form, body = _read_form(call, EDIT_FIELDS)
    f = Fields(body)
    prompt = f.string("prompt", required=True)
    assert prompt is not None
    model = resolve_model_of_kind(call, _model_name(body, EDIT_DEFAULT_MODEL), "image")
    uploads = form.files.get("image", [])
    if not uploads:
        if "image" in body:  # sent as text, not as a file (openai-ruby issue 147 shows this 400)
            raise ApiError(400, "Invalid type for 'image': expected one of an array of files or file, but got a "
                           "string instead.", param="image", code="invalid_type")
        raise errors.missing_parameter("image")
    if model.image_token_prices is None:
        return _dalle_edit(call, model, f, prompt, uploads, form.files.get("mask", []))
    if not model.has("edits"):
        raise ApiError(400, "This model does not support image edits.", param="model", code="invalid_value")
    if len(uploads) > GPT_IMAGE_MAX_IMAGES:
        raise errors.array_too_long("image", GPT_IMAGE_MAX_IMAGES, len(uploads))
    inputs = [_checked(upload, GPT_IMAGE_TYPES, GPT_IMAGE_MAX_BYTES, index, len(uploads))
              for index, upload in enumerate(uploads)]
    masks, markups = form.files.get("mask", []), form.files.get("markup", [])
    if masks and markups:
        raise ApiError(400, "'markup' cannot be combined with 'mask'.", param="markup", code="invalid_value")
    if masks:
        _check_mask(masks[0], inputs[0], GPT_IMAGE_MAX_BYTES)
    if markups:
        facts = _checked(markups[0], ("image/png",), GPT_IMAGE_MAX_BYTES, 0, 1, field="markup")
        if (facts.width, facts.height) != (inputs[0].width, inputs[0].height) or not facts.has_alpha:
            raise ApiError(400, "Invalid markup image: it must be a transparent PNG with the dimensions of the "
                           "first image.", param="markup", code="invalid_image")  # wording assumed
    options = gpt_image.read_options(call, model, f, inputs, editing=True)
    return gpt_image.answer(call, model, prompt, inputs, options, editing=True)


def variation(call: Call) -> Outcome:
    form, body = _read_form(call, VARIATION_FIELDS)
    name = _model_name(body, VARIATION_MODEL)
    model = resolve_model_of_kind(call, name, "image")
    if model.id != VARIATION_MODEL:
        raise errors.invalid_value("model", name, [VARIATION_MODEL])
    uploads = form.files.get("image", [])
    if not uploads:
        raise errors.missing_parameter("image")
    facts = _checked(uploads[0], ("image/png",), DALLE_MAX_BYTES, 0, 1)
    _dalle_input(facts)
    f = Fields(body)
    n, size, response_format = _dalle_fields(f)
    digest = hashlib.blake2b(uploads[0].data, digest_size=16).hexdigest()
    quality = next(iter(model.image_prices))
    return images.dalle_answer(call, model, n, size, quality, response_format, "vivid",
                               ("image-variation", digest))


# ---- dall-e-2 edits ---------------------------------------------------------------------------------------------


def _dalle_edit(call: Call, model, f: Fields, prompt: str, uploads: list[Upload], masks: list[Upload]) -> Outcome:
    if model.id != VARIATION_MODEL:  # dall-e-3 never edited images
        raise errors.invalid_value("model", model.id, ["dall-e-2", "gpt-image-1", "gpt-image-1-mini",
                                                       "gpt-image-1.5", "gpt-image-2"])
    if len(uploads) > 1:  # "For dall-e-2, you can only provide one image"
        raise ApiError(400, "dall-e-2 accepts only one image to edit.", param="image", code="invalid_value")
    facts = _checked(uploads[0], ("image/png",), DALLE_MAX_BYTES, 0, 1)
    _dalle_input(facts)
    if masks:
        _check_mask(masks[0], facts, DALLE_MAX_BYTES)
    elif not facts.has_alpha:  # without a mask the image's own transparent pixels say where to edit
        raise ApiError(400, f"Invalid input image - format must be in ['RGBA', 'LA', 'L'], got {facts.mode}.",
                       param="image")  # third-party 400 bodies (dall-e-2 edits, 2023)
    if len(prompt) > 1000:  # dall-e-2 prompts: at most 1000 characters (the spec)
        raise errors.string_too_long("prompt", 1000, len(prompt))
    n, size, response_format = _dalle_fields(f)
    digest = hashlib.blake2b(uploads[0].data, digest_size=16).hexdigest()
    quality = next(iter(model.image_prices))
    return images.dalle_answer(call, model, n, size, quality, response_format, "vivid",
                               ("image-edit", digest, prompt))


def _dalle_fields(f: Fields) -> tuple[int, str, str]:
    n = f.integer("n", 1, minimum=1, maximum=10)
    size = f.string("size", "1024x1024", choices=DALLE_SIZES)
    response_format = f.string("response_format", "url", choices=images.RESPONSE_FORMATS)
    f.string("user")
    assert n is not None and size is not None and response_format is not None
    return n, size, response_format


def _dalle_input(facts: ImageFacts) -> None:
    if facts.format != "png":
        raise ApiError(400, "Uploaded image must be a PNG and less than 4 MB.", param="image")
    if facts.width != facts.height:
        raise ApiError(400, "Uploaded image must be square.", param="image")  # wording assumed


# ---- uploads ----------------------------------------------------------------------------------------------------


def _model_name(body: dict, default: str) -> str:
    name = body.get("model")
    if name is None or name == "":
        return default
    if not isinstance(name, str):
        raise errors.invalid_type("model", "a string", name)
    return name


def _checked(upload: Upload, types: tuple[str, ...], max_bytes: int, index: int, count: int,
             field: str = "image") -> ImageFacts:
    """The upload's type by its Content-Type, then its content, with OpenAI's messages (third-party bodies:
    openai-node #1468, openai-go #404, go-openai #1012, 2025)."""
    if upload.content_type is None:
        raise ApiError(400, f"Invalid file '{field}': failed to determine mimetype. Ensure you are providing the "
                       "file's mimetype as part of the 'Content-Type' header.", param=field,
                       code="missing_file_mimetype")
    if upload.content_type not in types:
        raise ApiError(400, f"Invalid file '{field}': unsupported mimetype ('{upload.content_type}'). Supported "
                       f"file formats are {_listed(types)}.", param=field, code="unsupported_file_mimetype")
    if len(upload.data) > max_bytes:
        raise ApiError(400, f"Invalid file '{field}': the file is larger than {max_bytes // (1024 * 1024)} MB.",
                       param=field, code="file_too_large")  # wording assumed
    facts = image_codec.inspect(upload.data)
    if facts is None or image_codec.MIME_OF_FORMAT[facts.format] not in types:
        which = f"image {index + 1}" if count > 1 else field
        raise ApiError(400, f"Invalid image file or mode for {which}, please check your image file.",
                       param=field, code="invalid_image_file")  # wording unconfirmed
    return facts


def _check_mask(upload: Upload, image: ImageFacts, max_bytes: int) -> None:
    mask = _checked(upload, ("image/png",), max_bytes, 0, 1, field="mask")
    if (mask.width, mask.height) != (image.width, image.height):
        raise ApiError(400, "Invalid mask image: the mask must have the same dimensions as the image.",
                       param="mask", code="invalid_image")  # wording unconfirmed
    if not mask.has_alpha:
        raise ApiError(400, f"Invalid mask image - format must be in ['RGBA', 'LA', 'L'], got {mask.mode}.",
                       param="mask")  # as dall-e-2's image message


def _listed(types: tuple[str, ...]) -> str:
    quoted = [f"'{t}'" for t in types]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
