"""The newer Chat Completions fields checked for the model at hand: a field a model does not take is refused as
OpenAI refuses it (unsupported parameter / unsupported value), one it takes is type-checked. Which model takes what
lives in config/request_fields.yaml; the shapes come from openai 3.57.0's completion_create_params TypedDicts.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from typing import Any

import yaml

from ....config import config_dir
from ... import errors
from ...content import speech
from ...errors import ApiError
from ...validation import Fields
from . import audio as chat_audio

_RULES_PATH = config_dir() / "request_fields.yaml"
MODERATION_POLICY_MODES = ["score", "block"]
CACHE_MODES = ["implicit", "explicit"]
CACHE_TTLS = ["30m"]
MODALITIES = ["text", "audio"]
AUDIO_FORMATS = ["wav", "aac", "mp3", "flac", "opus", "pcm16"]  # ChatCompletionAudioParam.format
VOICES = list(speech.settings()["voices"])  # spec VoiceIdsShared (config/audio.yaml)
PREDICTION_TYPES = ["content"]


@lru_cache(maxsize=1)
def rules() -> dict[str, list[dict[str, Any]]]:
    with open(_RULES_PATH, "rb") as handle:
        return yaml.safe_load(handle)


@lru_cache(maxsize=4096)  # a pure function of the rules file read once: the glob matching was a request's cost
def _rule(field: str, model_id: str) -> dict[str, Any] | None:
    for rule in rules().get(field, []):
        if any(fnmatch.fnmatchcase(model_id, pattern) for pattern in rule["models"]):
            return rule
    return None


def _values_for(field: str, model_id: str) -> list[str] | None:
    rule = _rule(field, model_id)
    return None if rule is None else rule.get("values")


def check_verbosity(model, verbosity: str, param: str) -> None:
    """The verbosity values a model takes (config/request_fields.yaml), chat's `verbosity` and the Responses API's
    `text.verbosity` alike: a model without the knob takes only medium. OpenAI's wording (concordia#164: "Unsupported
    value: 'verbosity' does not support 'low' with this model. Supported values are: 'medium'."; on /v1/responses
    big-AGI#947 shows the other values failing too), named after the field sent."""
    allowed = _values_for("verbosity", model.id) or ["medium"]
    if verbosity not in allowed:
        raise errors.unsupported_value(param, f"'{param}' does not support '{verbosity}' with this model. "
                                              f"Supported values are: {_listed(allowed)}.")


def check(model, body: dict[str, Any], catalog) -> bool:
    """Raises OpenAI's 400 for the first field of `body` this model does not take as given; returns whether the prompt
    holds input_audio parts (then checked)."""
    f = Fields(body)
    effort = body.get("reasoning_effort")
    if effort is not None:
        check_reasoning_effort(model, effort, "reasoning_effort")
    verbosity = f.string("verbosity", choices=["low", "medium", "high"]) if "verbosity" in body else None
    if verbosity is not None:
        check_verbosity(model, verbosity, "verbosity")
    _prompt_cache_options(model, f)
    _prediction(model, body, f)
    _web_search(model, f)
    hears_audio = _audio(model, body, f)
    check_moderation(f, catalog)
    return hears_audio


def check_reasoning_effort(model, effort: str, param: str) -> None:
    """The reasoning efforts a model takes differ by family (config/request_fields.yaml): chat's `reasoning_effort`
    and the Responses API's `reasoning.effort` are refused alike."""
    allowed = _values_for("reasoning_effort", model.id) if model.reasoning else None
    if allowed is None:
        raise errors.unsupported_parameter(param)
    if effort not in allowed:
        raise errors.unsupported_value(param, f"'{param}' does not support '{effort}' with this model. "
                                       f"Supported values are: {_listed(allowed)}.")


def _supported_object(model, f: Fields, field: str) -> tuple[dict[str, Any], Fields] | None:
    """The object `field` of the body and its checker, None when absent; OpenAI's "Unsupported parameter" when
    this model does not take it (config/request_fields.yaml)."""
    value = f.obj(field) if field in f.data else None  # most requests set none of these
    if value is None:
        return None
    if _rule(field, model.id) is None:
        raise errors.unsupported_parameter(field)
    return value, Fields(value, field)


def _prompt_cache_options(model, f: Fields) -> None:
    found = _supported_object(model, f, "prompt_cache_options")
    if found is None:
        return
    options, inner = found
    _only(options, {"mode", "ttl"}, "prompt_cache_options")
    inner.string("mode", choices=CACHE_MODES)
    inner.string("ttl", choices=CACHE_TTLS)


def caching_disabled(body: dict[str, Any]) -> bool:
    """`prompt_cache_options.mode: explicit` drops the implicit breakpoint: "If there are no explicit breakpoints, the
    request does not use prompt caching" (PromptCacheOptions.mode)."""
    options = body.get("prompt_cache_options")
    if not isinstance(options, dict) or options.get("mode") != "explicit":
        return False
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("prompt_cache_breakpoint") for p in content):
            return False
    return True


def _prediction(model, body: dict[str, Any], f: Fields) -> None:
    found = _supported_object(model, f, "prediction")
    if found is None:
        return
    prediction, inner = found
    inner.string("type", required=True, choices=PREDICTION_TYPES)
    content = prediction.get("content")
    if content is None:
        raise errors.missing_parameter("prediction.content")
    if not isinstance(content, (str, list)):
        raise errors.invalid_type("prediction.content", "a string or array of text parts", content)
    if isinstance(body.get("n"), int) and body["n"] > 1:
        # Predicted Outputs guide, limitations: n > 1 is not supported (wording assumed -- unconfirmed).
        raise ApiError(400, "Predicted outputs are not supported with n greater than 1.", param="n",
                       code="invalid_value")


def _web_search(model, f: Fields) -> None:
    found = _supported_object(model, f, "web_search_options")
    if found is None:
        return
    _, inner = found
    inner.string("search_context_size", choices=["low", "medium", "high"])
    inner.obj("user_location")


def _audio(model, body: dict[str, Any], f: Fields) -> bool:
    """Checks audio input and output; returns whether the prompt holds input_audio parts."""
    modalities = f.array("modalities") if "modalities" in body else None
    wants_audio = False
    if modalities is not None:
        for index, value in enumerate(modalities):
            if value not in MODALITIES:
                raise errors.invalid_value(f"modalities[{index}]", value, MODALITIES)
        wants_audio = "audio" in modalities
    audio = f.obj("audio") if "audio" in body else None
    hears_audio = _input_audio(model, body)
    if not wants_audio and audio is None:
        if not hears_audio and _rule("audio_required", model.id) is not None:
            # The audio previews' 400 on a text-only request (LibreChat #5208, cherry-studio #1179, 2025).
            raise ApiError(400, "This model requires that either input content or output modality contain audio.")
        return hears_audio
    if _rule("audio", model.id) is None:
        param = "modalities" if wants_audio else "audio"
        raise errors.unsupported_parameter(param)
    if wants_audio and audio is None:  # "Required when audio output is requested with modalities: ["audio"]"
        raise errors.missing_parameter("audio")
    if audio is not None:
        inner = Fields(audio, "audio")
        inner.string("format", required=True, choices=AUDIO_FORMATS)
        _voice(audio.get("voice"))
    if body.get("stream") and audio is not None and audio.get("format") not in (None, "pcm16"):
        # Streamed audio comes as pcm16 only (audio guide) -- wording assumed.
        raise errors.unsupported_value("audio.format", "streaming audio output supports only 'pcm16'.")
    return hears_audio


def _voice(voice: Any) -> None:
    """A built-in voice (spec VoiceIdsShared) or a custom voice reference {"id": "voice_..."}."""
    if voice is None:
        raise errors.missing_parameter("audio.voice")
    if isinstance(voice, dict):
        Fields(voice, "audio.voice").string("id", required=True)
    elif not isinstance(voice, str):
        raise errors.invalid_type("audio.voice", "one of a string or object", voice)
    elif voice not in VOICES:
        raise errors.invalid_value("audio.voice", voice, VOICES)


def _input_audio(model, body: dict[str, Any]) -> bool:
    """Whether the prompt holds `input_audio` parts; refused on a model that does not hear, checked on one that does."""
    parts = chat_audio.input_parts(body)
    if not parts:
        return False
    if _rule("audio", model.id) is None:
        # As OpenAI refuses an image part on a model without vision ("Invalid content type. image_url is only
        # supported by certain models.") -- the audio wording is assumed by analogy.
        raise ApiError(400, "Invalid content type. input_audio is only supported by certain models.",
                       param=f"{parts[0][0]}.type", code="invalid_value")
    chat_audio.prompt_seconds(body)  # a part that is no wav or mp3 file is refused here, before admission
    return True


def check_moderation(f: Fields, catalog) -> None:
    """`moderation: {model, policy}` on chat and Responses: a moderation model and score|block policies."""
    config = f.obj("moderation") if "moderation" in f.data else None
    if config is None:
        return
    inner = Fields(config, "moderation")
    name = inner.string("model", required=True)
    moderation_model = catalog.get(name)
    if moderation_model is None or moderation_model.kind != "moderation":
        raise ApiError(400, f"Invalid value for 'moderation.model': '{name}' is not a moderation model.",
                       param="moderation.model", code="invalid_value")  # wording assumed
    policy = inner.obj("policy")
    if policy is not None:
        for side in ("input", "output"):
            part = Fields(policy, "moderation.policy").obj(side)
            if part is not None:
                Fields(part, f"moderation.policy.{side}").string("mode", required=True,
                                                                 choices=MODERATION_POLICY_MODES)


def _only(value: dict[str, Any], known: set[str], param: str) -> None:
    for key in value:
        if key not in known:
            raise ApiError(400, f"Unknown parameter: '{param}.{key}'.", param=f"{param}.{key}",
                           code="unknown_parameter")


def _listed(values: list[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
