"""GET /v1/models and /v1/models/{id}: OpenAI's Model objects for the catalog ids and their dated snapshots."""

from __future__ import annotations

from typing import Any

from .. import errors, respond
from ..core import Call, Engine
from ..types import Outcome


def register(engine: Engine) -> None:
    engine.route("GET", "/v1/models", "models.list", list_models)
    engine.route("GET", "/v1/models/", "models.retrieve", retrieve_model, prefix=True)


def _model_object(model_id: str, model) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": model.created, "owned_by": model.owned_by}


def _all_ids(call: Call) -> list[tuple[str, Any]]:
    entries = []
    for model in call.services.catalog.models():
        ids = [model.id, *model.aliases]
        if model.snapshot not in ids and ":" not in model.snapshot:
            ids.append(model.snapshot)
        entries.extend((model_id, model) for model_id in ids)
    return entries


def list_models(call: Call) -> Outcome:
    data = [_model_object(model_id, model) for model_id, model in _all_ids(call)]
    return respond.json_outcome({"object": "list", "data": data})


def retrieve_model(call: Call) -> Outcome:
    model_id = call.request.path.rsplit("/", 1)[-1]
    for known_id, model in _all_ids(call):
        if known_id == model_id:
            return respond.json_outcome(_model_object(known_id, model))
    raise errors.model_not_found(model_id)
