"""Model shutdowns as the real API applies them: before a model's announced shutdown date it answers; from that
day on it is an unknown model (OpenAI's 404 model_not_found) and GET /v1/models no longer lists it.

The dates are the catalog's (`shutdown`, from the SDK's deprecation notes); the day they are judged on is
`models.as_of`: "today" (the real UTC date, so a CI run learns that its model is going away) or a fixed ISO date
that pins a run.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

from ..catalog import Catalog, ModelInfo
from ..config import Settings

_SECONDS_PER_DAY = 86_400
_EPOCH = datetime.date(1970, 1, 1)
_cached_day: tuple[int, str] = (-1, "")  # (days since the epoch, its ISO date): a datetime per day, not per request


def utc_today() -> str:
    global _cached_day
    day_number = int(time.time() // _SECONDS_PER_DAY)  # epoch days are UTC days (POSIX time has no leap seconds)
    if day_number != _cached_day[0]:
        _cached_day = (day_number, (_EPOCH + datetime.timedelta(days=day_number)).isoformat())
    return _cached_day[1]


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
