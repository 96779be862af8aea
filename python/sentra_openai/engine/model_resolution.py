"""Which catalog model serves a request of an endpoint that takes one kind of model (chat, completion, embedding,
image)."""

from __future__ import annotations

from typing import Any

from . import errors
from .core import Call
from .errors import ApiError
from .retirement import as_of_day, live_model, live_models

_ENDPOINT_OF_KIND = {"chat": "v1/chat/completions", "completion": "v1/completions", "embedding": "v1/embeddings",
                     "image": "v1/images/generations", "moderation": "v1/moderations"}
# A chat model asked on a surface it does not serve. The chat wording is the one users of o1-pro, o3-pro and the
# deep-research models report (third-party issue threads, 2025); the responses wording is unconfirmed, modelled on it.
_SURFACE_MESSAGES = {
    "chat": "This model is only supported in v1/responses and not in v1/chat/completions.",
    "responses": "This model is only supported in v1/chat/completions and not in v1/responses.",
}


def model_name(body: dict[str, Any]) -> str:
    """The request's `model`, with OpenAI's answers to a missing or non-string one (openai-wire.md §2.1)."""
    model = body.get("model")
    if model is None or model == "":
        raise errors.missing_model()
    if not isinstance(model, str):
        raise errors.invalid_json()
    return model


def resolve_model_of_kind(call: Call, name: str, kind: str, surface: str = "chat"):
    """The catalog model for `name`: OpenAI's 404 for unknown or shut-down names (strict), for a model of another
    kind, or for a chat model that does not serve `surface` ("chat": v1/chat/completions, "responses": v1/responses).

    A lenient server (models.strict false) answers an unknown name with its fallback model when that has the right
    kind, else with the catalog's first live model of `kind`, so that an embeddings call never lands on a chat model.
    """
    catalog = call.services.catalog
    if not call.settings.models.strict:  # (a strict server goes straight to resolve_model's 404)
        day = as_of_day(call.settings)
        if live_model(catalog, name, day) is None:
            fallback = live_model(catalog, call.settings.models.fallback, day)
            if fallback is None or fallback.kind != kind or (kind == "chat" and not fallback.serves(surface)):
                fallback = next((m for m in live_models(catalog, day)
                                 if m.kind == kind and (kind != "chat" or m.serves(surface))), None)
            if fallback is not None:
                call.record.model = fallback.id
                return fallback
    model = call.resolve_model(name)
    if model.kind != kind:
        if kind == "completion" and model.kind == "chat":
            message = ("This is a chat model and not supported in the v1/completions endpoint. "
                       "Did you mean to use v1/chat/completions?")
        elif kind == "chat":
            message = ("This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
                       "Did you mean to use v1/completions?")
        else:  # wording unconfirmed: modelled on the chat-model message above
            message = f"This model is not supported in the {_ENDPOINT_OF_KIND[kind]} endpoint."
        raise ApiError(404, message, param="model")
    if kind == "chat" and not model.serves(surface):
        raise ApiError(404, _SURFACE_MESSAGES[surface], param="model")
    return model
