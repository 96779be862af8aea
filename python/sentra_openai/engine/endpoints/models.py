"""GET /v1/models and /v1/models/{id}: OpenAI's Model objects for the live catalog ids and their dated snapshots;
DELETE /v1/models/{id}: OpenAI's answers to deleting a model.

A model shut down on `models.as_of` is neither listed nor retrievable (engine/retirement.py). The 2026 spec's Model
object carries `shutdown_date` (null when none is announced; openai-wire.md §5.4, the SDK's types/model.py).

Deleting: the simulator trains nothing, so its only deletable models are fine-tunes named for the caller's own
organization (`ft:<base>:<server.organization>:<suffix>:<id>` on a live base model): they are answered as deleted,
statelessly (a second delete answers the same). A base model cannot be deleted (403); someone else's fine-tune, like
any unknown id, is OpenAI's 404 model_not_found.
"""

from __future__ import annotations

from typing import Any

from .. import errors, respond
from ..core import Call, Engine
from ..errors import ApiError
from ..retirement import as_of_day, live_model, live_models
from ..types import Outcome

# Wording unconfirmed: no recorded answer to deleting a base model was found; the status follows the spec's
# "You must have the Owner role in your organization to delete a model" (a permission refusal, not a missing model).
BASE_MODEL_MESSAGE = "You do not have permission to delete the model `{model}`: only fine-tuned models can be deleted."


def register(engine: Engine) -> None:
    engine.route("GET", "/v1/models", "models.list", list_models)
    engine.route("GET", "/v1/models/", "models.retrieve", retrieve_model, prefix=True)
    engine.route("DELETE", "/v1/models/", "models.delete", delete_model, prefix=True)


def _model_object(model_id: str, model) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": model.created, "owned_by": model.owned_by,
            "shutdown_date": model.shutdown}


def _all_ids(call: Call) -> list[tuple[str, Any]]:
    entries = []
    for model in live_models(call.services.catalog, as_of_day(call.settings)):
        ids = [model.id, *model.aliases]
        if model.snapshot not in ids and ":" not in model.snapshot:
            ids.append(model.snapshot)
        entries.extend((model_id, model) for model_id in ids)
    return entries


def list_models(call: Call) -> Outcome:
    data = [_model_object(model_id, model) for model_id, model in _all_ids(call)]
    return respond.json_outcome({"object": "list", "data": data})


def _path_model(call: Call) -> str:
    return call.request.path.rsplit("/", 1)[-1]


def retrieve_model(call: Call) -> Outcome:
    model_id = _path_model(call)
    for known_id, model in _all_ids(call):
        if known_id == model_id:
            return respond.json_outcome(_model_object(known_id, model))
    raise errors.model_not_found(model_id)


def delete_model(call: Call) -> Outcome:
    model_id = _path_model(call)
    day = as_of_day(call.settings)
    if live_model(call.services.catalog, model_id, day) is not None:
        raise ApiError(403, BASE_MODEL_MESSAGE.format(model=model_id), param="model")
    if not _own_fine_tune(call, model_id, day):
        raise errors.model_not_found(model_id)
    return respond.json_outcome({"id": model_id, "object": "model", "deleted": True})


def _own_fine_tune(call: Call, model_id: str, day: str) -> bool:
    """`ft:<base>:<organization>:<suffix>:<id>` (suffix may be empty) of a live base model and the caller's org."""
    parts = model_id.split(":")
    if len(parts) != 5 or parts[0] != "ft" or not parts[4]:
        return False
    return parts[2] == call.settings.server.organization and live_model(call.services.catalog, parts[1], day) is not None
