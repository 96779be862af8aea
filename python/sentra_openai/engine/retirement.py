"""Model shutdowns as the real API applies them: before a model's announced shutdown date it answers; from that
day on it is an unknown model (OpenAI's 404 model_not_found) and GET /v1/models no longer lists it.

The dates are the catalog's (`shutdown`, from the SDK's deprecation notes); the day they are judged on is
`models.as_of`: "today" (the real UTC date, so a CI run learns that its model is going away) or a fixed ISO date
that pins a run.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from ..catalog import Catalog, ModelInfo
from ..config import Settings


def utc_today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


# What "today" means: the real UTC date. A test suite may replace it to pin engines built with the defaults.
today: Callable[[], str] = utc_today


def as_of_day(settings: Settings) -> str:
    """The ISO date shutdowns are judged on."""
    configured = settings.models.as_of
    return today() if configured == "today" else configured


def live_model(catalog: Catalog, name: str, day: str) -> ModelInfo | None:
    """The catalog model for an id, snapshot or alias, or None when unknown or shut down on `day`."""
    model = catalog.get(name)
    if model is None or model.retired_on(day):
        return None
    return model


def live_models(catalog: Catalog, day: str) -> tuple[ModelInfo, ...]:
    return tuple(model for model in catalog.models() if not model.retired_on(day))
