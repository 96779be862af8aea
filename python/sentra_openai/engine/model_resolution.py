"""Which catalog model serves a request of an endpoint that takes one kind of model (chat, completion, embedding,
image)."""

from __future__ import annotations

from typing import Any

from . import errors
from .core import Call
from .errors import ApiError

_ENDPOINT_OF_KIND = {"chat": "v1/chat/completions", "completion": "v1/completions", "embedding": "v1/embeddings",
                     "image": "v1/images/generations"}


def model_name(body: dict[str, Any]) -> str:
    """The request's `model`, with OpenAI's answers to a missing or non-string one (openai-wire.md §2.1)."""
    model = body.get("model")
    if model is None or model == "":
        raise errors.missing_model()
    if not isinstance(model, str):
        raise errors.invalid_json()
    return model


def resolve_model_of_kind(call: Call, name: str, kind: str):
    """The catalog model for `name`: OpenAI's 404 for unknown names (strict) or for a model of another kind.

    A lenient server (models.strict false) answers an unknown name with its fallback model when that has the right
    kind, else with the catalog's first model of `kind`, so that an embeddings call never lands on a chat model.
    """
    catalog = call.services.catalog
    if catalog.get(name) is None and not call.settings.models.strict:
        fallback = catalog.get(call.settings.models.fallback)
        if fallback is None or fallback.kind != kind:
            fallback = next((m for m in catalog.models() if m.kind == kind), None)
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
    return model
