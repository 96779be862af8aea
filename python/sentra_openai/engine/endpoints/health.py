"""GET /health: liveness for load balancers and test harnesses (not an OpenAI route; needs no API key)."""

from __future__ import annotations

from ... import __version__
from .. import respond
from ..core import Call, Engine
from ..types import Outcome


def register(engine: Engine) -> None:
    engine.route("GET", "/health", "health", health)
    engine.public_endpoints.add("health")


def health(call: Call) -> Outcome:
    return respond.json_outcome({"status": "ok", "version": __version__, "mode": call.settings.mode})
