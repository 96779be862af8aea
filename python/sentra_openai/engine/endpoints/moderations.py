"""POST /v1/moderations: OpenAI's moderation objects, classified by fixtures (engine/content/moderation_rules.py).

Shape: the spec's CreateModerationResponse and its examples; openai 3.57.0's types/moderation.py. `input` is a
string, an array of strings (one result each) or an array of text / image_url parts (one result for all of them,
as the spec's "Image and text" example). The model defaults to omni-moderation-latest (the spec's default). The
endpoint is free: requests count against the model's RPM/TPM like any other, and log zero cost.

Validation messages follow the newer validator's wording the other endpoints use (engine/errors.py); no recorded
moderation 400 was found, so each is unconfirmed for this route.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from .. import errors, respond
from ..content.fixtures import FixtureError
from ..content.moderation_rules import ModerationRules
from ..core import Call, Engine
from ..errors import ApiError
from ..ids import base62
from ..model_resolution import resolve_model_of_kind
from ..realism import token_charge
from ..types import Outcome
from ..validation import parse_json_object

log = logging.getLogger("sentra_openai.moderations")
KNOWN_FIELDS = frozenset({"input", "model"})
DEFAULT_MODEL = "omni-moderation-latest"
PART_TYPES = ["text", "image_url"]
# Wording unconfirmed: a text-moderation model sent an image part.
IMAGES_UNSUPPORTED = "Image inputs are not supported by the model `{model}`. Use an omni-moderation model instead."


def register(engine: Engine) -> None:
    # Loaded now, so that a bad file stops the server at start; reloaded when the control API changes the paths.
    loaded = {engine.settings.fixtures.moderation_paths: ModerationRules.load(engine.settings.moderation_fixture_paths())}
    current = [next(iter(loaded.values()))]

    def rules_for(call: Call) -> ModerationRules:
        paths = call.settings.fixtures.moderation_paths
        rules = loaded.get(paths)
        if rules is None:
            try:
                rules = loaded[paths] = ModerationRules.load(call.settings.moderation_fixture_paths())
            except FixtureError as exc:  # keep answering with the last good fixtures rather than a 500
                log.warning("moderation fixtures not reloaded, the previous ones stay in use: %s", exc)
                return current[0]
        current[0] = rules
        return rules

    def handle(call: Call) -> Outcome:
        return _handle(call, rules_for(call))

    engine.route("POST", "/v1/moderations", "moderations", handle)


def _handle(call: Call, rules: ModerationRules) -> Outcome:
    body = parse_json_object(call.request.body)
    name = body.get("model", DEFAULT_MODEL)
    if not isinstance(name, str) or not name:
        raise errors.invalid_type("model", "a string", name)
    model = resolve_model_of_kind(call, name, "moderation")
    try:
        inputs = _inputs(body, model)
    except ApiError:
        respond.admit(call, model, 0, lambda: token_charge.moderation(body))  # a 400 costs a request too
        raise
    prompt_tokens = sum(len(call.services.tokens.encode(model, text)) for texts, _ in inputs for text in texts)
    respond.admit(call, model, prompt_tokens, lambda: token_charge.moderation(body))
    call.check_fault(model.id, False)
    respond.charge_tokens(call, model, prompt_tokens, 0, 0)

    family = rules.family_of(model)
    results = []
    for texts, images in inputs:
        key = call.content_key("moderation", model.id, texts, images)
        result = call.generated(key, lambda rng, t=texts, i=images: rules.classify(model.id, family, t, i, rng))
        results.append({
            "flagged": result.flagged,
            "categories": result.categories,
            "category_scores": result.scores,
            "category_applied_input_types": result.applied,
        })
    echoed = call.services.catalog.echo_model(name) or model.snapshot
    payload = {"id": _moderation_id(call, family.id_style), "model": echoed, "results": results}
    return respond.json_outcome(payload, delay=_delay(call, model, prompt_tokens, len(inputs)))


def _inputs(body: dict[str, Any], model) -> list[tuple[list[str], list[str]]]:
    """Each result's (texts, image URLs), or OpenAI's 400 for a malformed `input`."""
    for field in body:
        if field not in KNOWN_FIELDS:
            raise errors.unrecognized_argument(field)
    if "input" not in body or body["input"] is None:
        raise errors.missing_parameter("input")
    value = body["input"]
    if isinstance(value, str):
        return [([value], [])]
    if not isinstance(value, list):
        raise errors.invalid_type("input", "a string or array", value)
    if not value:
        raise errors.empty_array("input")
    if all(isinstance(item, str) for item in value):
        return [([item], []) for item in value]
    texts: list[str] = []
    images: list[str] = []
    for index, part in enumerate(value):
        param = f"input[{index}]"
        if not isinstance(part, dict):
            raise errors.invalid_type(param, "an object", part)
        kind = part.get("type")
        if kind not in PART_TYPES:
            if kind is None:
                raise errors.missing_parameter(f"{param}.type")
            raise errors.invalid_value(f"{param}.type", kind, PART_TYPES)
        if kind == "text":
            text = part.get("text")
            if text is None:
                raise errors.missing_parameter(f"{param}.text")
            if not isinstance(text, str):
                raise errors.invalid_type(f"{param}.text", "a string", text)
            texts.append(text)
            continue
        image = part.get("image_url")
        if image is None:
            raise errors.missing_parameter(f"{param}.image_url")
        if not isinstance(image, dict):
            raise errors.invalid_type(f"{param}.image_url", "an object", image)
        url = image.get("url")
        if url is None:
            raise errors.missing_parameter(f"{param}.image_url.url")
        if not isinstance(url, str):
            raise errors.invalid_type(f"{param}.image_url.url", "a string", url)
        if not model.has("images"):
            raise ApiError(400, IMAGES_UNSUPPORTED.format(model=model.id), param="input")
        images.append(url)
    return [(texts, images)]


def _moderation_id(call: Call, style: str) -> str:
    if style == "hex32":
        return f"modr-{call.id_rng.getrandbits(128):032x}"
    return "modr-" + base62(call.id_rng, 29)


def _delay(call: Call, model, tokens: int, inputs: int) -> float:
    """A base, a share per 1k tokens and per input (catalog latency), with lognormal jitter (as embeddings)."""
    profile = model.latency
    if call.time_scale <= 0:
        return 0.0
    seconds = profile.base_s + profile.per_1k_tokens_s * tokens / 1000 + profile.per_input_s * inputs
    return seconds * math.exp(call.rng.gauss(0.0, profile.jitter)) * call.time_scale
