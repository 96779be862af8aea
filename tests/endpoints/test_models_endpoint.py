"""GET /v1/models and /v1/models/{id} through the SDK, in OpenAI's shape, with catalog ids and dated snapshots."""

from __future__ import annotations

import httpx
import openai
import pytest
from conftest import SUITE_AS_OF
from openapi_schemas import validate
from sentra_openai.catalog import Catalog

pytestmark = pytest.mark.server


def test_list_has_every_live_catalog_model_and_its_snapshots(openai_client, fast_server):
    raw = httpx.get(f"{fast_server.api_url}/models").json()
    validate("ListModelsResponse", raw)
    ids = {model.id for model in openai_client.models.list()}
    for model in Catalog.default().models():
        if model.retired_on(SUITE_AS_OF):
            assert model.id not in ids and not set(model.aliases) & ids
        else:
            assert model.id in ids
            assert set(model.aliases) <= ids
    assert {"gpt-4o", "gpt-4o-2024-08-06", "gpt-5-nano", "gpt-5-nano-2025-08-07", "text-embedding-3-small",
            "gpt-6-astra", "omni-moderation-latest"} <= ids
    assert not {"dall-e-3", "gpt-3.5-turbo", "o4-mini"} & ids  # shut down before the suite's day


def test_model_objects_carry_their_shutdown_date(openai_client):
    assert openai_client.models.retrieve("gpt-5-nano").shutdown_date == "2026-12-11"
    assert openai_client.models.retrieve("gpt-6-astra").shutdown_date is None


def test_retrieve_returns_the_model_object(openai_client, fast_server):
    model = openai_client.models.retrieve("gpt-4o-mini")
    assert (model.id, model.object, model.owned_by) == ("gpt-4o-mini", "model", "system")
    assert model.created == 1721172741  # the real listing's value (openai-wire.md §5.4)
    validate("Model", httpx.get(f"{fast_server.api_url}/models/gpt-4o-mini").json())
    assert openai_client.models.retrieve("gpt-4o-2024-08-06").id == "gpt-4o-2024-08-06"


def test_unknown_model_is_404_model_not_found(openai_client):
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.models.retrieve("gpt-9-turbo")
    assert info.value.code == "model_not_found"
    assert "The model `gpt-9-turbo` does not exist" in info.value.message


def test_deleting_a_base_model_is_refused(openai_client):
    with pytest.raises(openai.PermissionDeniedError) as info:
        openai_client.models.delete("gpt-4o-mini")
    assert info.value.status_code == 403 and info.value.body["param"] == "model"


def test_deleting_someone_elses_fine_tune_is_404(openai_client):
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.models.delete("ft:gpt-4o-mini:acemeco:suffix:abc123")  # the spec's example: another org
    assert info.value.code == "model_not_found"


def test_deleting_a_fine_tune_of_ones_own_organization(openai_client, fast_server):
    model_id = "ft:gpt-4o-mini-2024-07-18:user-sentra-simulator:support-bot:9kXv2QaB"  # server.organization's
    deleted = openai_client.models.delete(model_id)
    assert (deleted.id, deleted.object, deleted.deleted) == (model_id, "model", True)
    validate("DeleteModelResponse", httpx.delete(f"{fast_server.api_url}/models/{model_id}").json())
    for bad in ("ft:gpt-9:user-sentra-simulator:x:1", "ft:gpt-4o-mini:user-sentra-simulator:x:", "ft:gpt-4o-mini"):
        assert httpx.delete(f"{fast_server.api_url}/models/{bad}").status_code == 404
