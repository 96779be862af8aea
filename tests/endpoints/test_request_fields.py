"""Every request field of the official spec (shared/data/openapi) and of openai 3.57.0's create-params TypedDicts
(newer than the spec) is known to the server: chat completions, completions, embeddings, image generations, edits
and variations. A field either spec or SDK adds later fails the walk below by name. The newer chat fields are then
checked per model: accepted where the real API takes them, refused with its 400 where it does not."""

from __future__ import annotations

import io
import warnings
from functools import lru_cache
from pathlib import Path

import httpx
import pytest
import typing_extensions
import yaml
from openapi_schemas import validate
from PIL import Image
from sdk_checks import bad_request

pytestmark = pytest.mark.server

SPEC = Path("/work/shared/data/openapi/openapi.yaml")
UNRECOGNIZED = "Unrecognized request argument supplied"
# Spec request schema, SDK params module and TypedDict prefix, route, a minimal valid body.
JSON_SURFACES = {
    "chat": ("CreateChatCompletionRequest", "openai.types.chat.completion_create_params", "CompletionCreateParams",
             "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    "completions": ("CreateCompletionRequest", "openai.types.completion_create_params", "CompletionCreateParams",
                    "/v1/completions", {"model": "davinci-002", "prompt": "Once"}),
    "embeddings": ("CreateEmbeddingRequest", "openai.types.embedding_create_params", "EmbeddingCreateParams",
                   "/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}),
    "images": ("CreateImageRequest", "openai.types.image_generate_params", "ImageGenerateParams",
               "/v1/images/generations", {"model": "gpt-image-1.5", "prompt": "a fox"}),
}
FORM_SURFACES = {
    "edits": ("CreateImageEditRequest", "openai.types.image_edit_params", "ImageEditParams", "/v1/images/edits",
              {"model": "gpt-image-1.5", "prompt": "a fox"}),
    "variations": ("CreateImageVariationRequest", "openai.types.image_create_variation_params",
                   "ImageCreateVariationParams", "/v1/images/variations", {}),
}
FILE_FIELDS = {"image", "mask", "markup"}


@lru_cache(maxsize=1)
def spec_schemas() -> dict:
    return yaml.safe_load(SPEC.read_text())["components"]["schemas"]


def spec_fields(name: str) -> dict[str, dict]:
    schema = spec_schemas()[name]
    fields: dict[str, dict] = {}
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            fields.update(spec_fields(part["$ref"].rsplit("/", 1)[-1]))
        fields.update(part.get("properties", {}))
    return fields


def sdk_fields(module_name: str, prefix: str) -> set[str]:
    module = __import__(module_name, fromlist=["_"])
    names: set[str] = set()
    for attribute in dir(module):
        candidate = getattr(module, attribute)
        if attribute.startswith(prefix) and isinstance(candidate, type) and typing_extensions.is_typeddict(candidate):
            for klass in candidate.__mro__:  # the params classes inherit their fields from a Base TypedDict
                names |= set(getattr(klass, "__annotations__", {}))
    return names


def all_fields(surface: tuple) -> list[str]:
    return sorted(set(spec_fields(surface[0])) | sdk_fields(surface[1], surface[2]))


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (1, 2, 3, 0)).save(out, "PNG")
    return out.getvalue()


def test_the_walk_sees_the_fields_the_sdk_added_after_the_spec():
    chat = JSON_SURFACES["chat"]
    assert {"moderation", "prompt_cache_options"} <= sdk_fields(chat[1], chat[2])
    assert len(all_fields(chat)) >= 37


@pytest.mark.parametrize("surface", sorted(JSON_SURFACES))
def test_every_json_field_is_recognized(fast_server, surface):
    _, _, _, path, base = JSON_SURFACES[surface]
    refused = {}
    for field in all_fields(JSON_SURFACES[surface]):
        if field in base:
            continue
        # null is "not given" for every optional field: what is checked is only that the name is known
        response = httpx.post(fast_server.base_url + path, json={**base, field: None}, timeout=30)
        if response.status_code != 200:
            refused[field] = (response.status_code, response.json()["error"]["message"])
    assert refused == {}


def _form_value(field: str, schema: dict):
    """A value of the spec's type for a multipart text field (a file field gets a small PNG)."""
    for option in [schema, *schema.get("anyOf", [])]:
        if "enum" in option:
            return str(option["enum"][0])
        if option.get("type") == "integer":
            return "1"
        if option.get("type") == "boolean":
            return "false"
    return "x"


@pytest.mark.parametrize("surface", sorted(FORM_SURFACES))
def test_every_form_field_is_recognized(fast_server, surface):
    spec_name, _, _, path, base = FORM_SURFACES[surface]
    schemas = spec_fields(spec_name)
    unrecognized, crashed = [], []
    for field in all_fields(FORM_SURFACES[surface]):
        if field in base or field == "image":
            continue
        files = [("image", ("a.png", png(), "image/png")), *((name, (None, value)) for name, value in base.items())]
        if field in FILE_FIELDS:
            files.append((field, ("f.png", png(), "image/png")))
        elif field == "svg":
            files.append(("svg[model]", (None, "x")))
        else:
            files.append((field, (None, _form_value(field, schemas.get(field, {})))))
        response = httpx.post(fast_server.base_url + path, files=files, timeout=30)
        message = response.json().get("error", {}).get("message", "")
        if UNRECOGNIZED in message:
            unrecognized.append(field)
        if response.status_code >= 500:
            crashed.append(field)
    assert unrecognized == [] and crashed == []


def test_an_unknown_field_is_still_unrecognized(fast_server):
    response = httpx.post(fast_server.base_url + "/v1/chat/completions",
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "colour": 1})
    assert response.json()["error"]["message"] == f"{UNRECOGNIZED}: colour"


# ---- the newer chat fields, per model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(fast_server):
    return fast_server.client(max_retries=0)


def chat(client, model: str, **extra):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hi"}], **extra)


def test_reasoning_effort_values_depend_on_the_model(client):
    assert chat(client, "gpt-6-astra", reasoning_effort="max").choices
    assert chat(client, "gpt-5-mini", reasoning_effort="minimal").choices
    body = bad_request(lambda: chat(client, "gpt-5-mini", reasoning_effort="none"))
    assert body == {"message": "Unsupported value: 'reasoning_effort' does not support 'none' with this model. "
                               "Supported values are: 'minimal', 'low', 'medium', and 'high'.",
                    "type": "invalid_request_error", "param": "reasoning_effort", "code": "unsupported_value"}
    body = bad_request(lambda: chat(client, "gpt-4o-mini", reasoning_effort="low"))
    assert (body["param"], body["code"]) == ("reasoning_effort", "unsupported_parameter")
    assert bad_request(lambda: chat(client, "gpt-6-astra", reasoning_effort="extreme"))["code"] == "invalid_value"
    # gpt-6.2 dropped none and minimal, which gpt-6 takes.
    assert chat(client, "gpt-6-astra", reasoning_effort="minimal").choices
    assert bad_request(lambda: chat(client, "gpt-6.2-astra", reasoning_effort="minimal"))["code"] == "unsupported_value"
    assert chat(client, "gpt-6.2-astra", reasoning_effort="xhigh").choices


def test_verbosity_is_a_gpt5_knob(client):
    assert chat(client, "gpt-5-mini", verbosity="low").choices
    assert chat(client, "gpt-4o-mini", verbosity="medium").choices
    body = bad_request(lambda: chat(client, "gpt-4o-mini", verbosity="low"))
    assert body["message"] == ("Unsupported value: 'verbosity' does not support 'low' with this model. "
                               "Supported values are: 'medium'.")  # concordia#164


def test_prompt_cache_options_need_gpt_5_6_or_later(client):
    assert chat(client, "gpt-5.6-terra", prompt_cache_options={"mode": "explicit", "ttl": "30m"}).choices
    body = bad_request(lambda: chat(client, "gpt-4o-mini", prompt_cache_options={"mode": "implicit"}))
    assert body["message"] == "Unsupported parameter: 'prompt_cache_options' is not supported with this model."
    assert bad_request(lambda: chat(client, "gpt-6-astra", prompt_cache_options={"ttl": "1h"}))["param"] == \
        "prompt_cache_options.ttl"


def test_service_tier_fast_is_served_as_priority(client):
    assert chat(client, "gpt-5-mini", service_tier="fast").service_tier == "priority"
    assert chat(client, "gpt-5-mini", service_tier="flex").service_tier == "flex"
    assert chat(client, "gpt-5-mini", service_tier="auto").service_tier == "default"
    assert bad_request(lambda: chat(client, "gpt-5-mini", service_tier="turbo"))["param"] == "service_tier"


def test_prediction_is_for_the_gpt_4o_and_4_1_models(client):
    prediction = {"type": "content", "content": "Hi there"}
    assert chat(client, "gpt-4o-mini", prediction=prediction).choices
    assert bad_request(lambda: chat(client, "gpt-5-mini", prediction=prediction))["code"] == "unsupported_parameter"
    assert bad_request(lambda: chat(client, "gpt-4o-mini", prediction={"type": "content"}))["param"] == \
        "prediction.content"


def test_moderation_takes_a_moderation_model(client):
    config = {"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}}
    assert chat(client, "gpt-4o-mini", moderation=config).choices
    assert bad_request(lambda: chat(client, "gpt-4o-mini", moderation={"model": "gpt-4o"}))["param"] == \
        "moderation.model"
    assert bad_request(lambda: chat(client, "gpt-4o-mini", moderation={"model": "omni-moderation-latest",
                                                                    "policy": {"input": {"mode": "loud"}}}))["param"] \
        == "moderation.policy.input.mode"


def test_audio_output_needs_an_audio_model_and_the_audio_parameter(client):
    audio = {"voice": "alloy", "format": "wav"}
    assert chat(client, "gpt-audio-mini", modalities=["text", "audio"], audio=audio).choices
    assert bad_request(lambda: chat(client, "gpt-4o-mini", modalities=["text", "audio"], audio=audio))["param"] == \
        "modalities"
    assert bad_request(lambda: chat(client, "gpt-audio-mini", modalities=["text", "audio"]))["param"] == "audio"
    assert chat(client, "gpt-4o-mini", modalities=["text"]).choices


def test_web_search_options_are_for_search_models(tmp_path):
    from conftest import start_server

    # The search previews were shut down on 2026-07-23: judged on a day they still answered.
    server = start_server(tmp_path, {"metrics": {"enable": False}}, env={"SENTRA_MODELS_AS_OF": "2026-04-01"})
    try:
        client = server.client(max_retries=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert chat(client, "gpt-4o-mini-search-preview", web_search_options={"search_context_size": "low"}).choices
        assert bad_request(lambda: chat(client, "gpt-4o-mini", web_search_options={}))["param"] == "web_search_options"
    finally:
        server.stop()


def test_a_moderated_completion_carries_the_results_and_a_block_policy_withholds_flagged_input(client, fast_server):
    config = {"model": "omni-moderation-latest", "policy": {"input": {"mode": "score"}}}
    scored = client.chat.completions.create(model="gpt-4o-mini", moderation=config,
                                            messages=[{"role": "user", "content": "I want to kill them."}])
    assert scored.moderation.input.type == "moderation_results"
    assert scored.moderation.input.results[0].flagged is True
    assert scored.moderation.input.results[0].categories["violence"] is True
    assert len(scored.moderation.output.results) == 1 and scored.choices[0].finish_reason != "content_filter"
    validate("CreateChatCompletionResponse", scored.model_dump(exclude_unset=True))
    blocked = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "I want to kill them."}],
        moderation={"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}})
    assert blocked.choices[0].finish_reason == "content_filter" and blocked.choices[0].message.content is None
    calm = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me about tea."}],
        moderation={"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}})
    assert calm.moderation.input.results[0].flagged is False and calm.choices[0].message.content
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True,
        stream_options={"include_usage": True}, moderation={"model": "omni-moderation-latest"}))
    carrying = [chunk for chunk in chunks if getattr(chunk, "moderation", None) is not None]
    assert len(carrying) == 1 and carrying[0].choices == [] and chunks[-1].usage is not None
    assert chunks.index(carrying[0]) == len(chunks) - 2  # just before the usage chunk


def test_explicit_prompt_cache_mode_without_breakpoints_caches_nothing(client):
    import uuid

    long_text = "The archive keeps every letter of the harbour office. " * 120 + uuid.uuid4().hex  # > 1024 tokens

    def cached(**extra) -> int:
        result = client.chat.completions.create(model="gpt-5.6-terra", messages=extra.pop("messages"), **extra)
        return result.usage.prompt_tokens_details.cached_tokens

    plain = [{"role": "system", "content": long_text}, {"role": "user", "content": "Summarise."}]
    assert cached(messages=plain) == 0
    assert cached(messages=plain) > 0  # the implicit breakpoint
    explicit = {"mode": "explicit"}
    other = [{"role": "system", "content": long_text + " v2"}, {"role": "user", "content": "Summarise."}]
    assert cached(messages=other, prompt_cache_options=explicit) == 0
    assert cached(messages=other, prompt_cache_options=explicit) == 0  # nothing was written
    marked = [{"role": "system", "content": [{"type": "text", "text": "Preface. " + long_text,  # a new prefix
                                              "prompt_cache_breakpoint": {"mode": "explicit"}}]},
              {"role": "user", "content": "Summarise."}]
    assert cached(messages=marked, prompt_cache_options=explicit) == 0
    assert cached(messages=marked, prompt_cache_options=explicit) > 0
