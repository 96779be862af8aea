"""The Responses API (/v1/responses): create and input_tokens here (pipeline.py); the stored-response routes (GET,
DELETE, cancel, input_items, compact) in stored.py, registered after them."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...core import Engine


def register(engine: Engine) -> None:
    from . import pipeline

    engine.route("POST", "/v1/responses", "responses", pipeline.handle_create)
    engine.route("POST", "/v1/responses/input_tokens", "responses.input_tokens", pipeline.handle_input_tokens)
    if importlib.util.find_spec(f"{__name__}.stored") is not None:  # the state-store developer's routes
        from . import stored

        stored.register(engine)
