"""The control API under /sentra/v1/ (design.md "Control API, pytest plugin, Azure"): the request log, count-based
faults, config changes without a restart, and reset. Never under /v1, so no OpenAI client can reach it by accident.

Open on a loopback bind; on any other bind it needs `control.token` in X-Sentra-Control-Token, or it is off (its
routes answer the 404 of an unknown URL).
"""

from __future__ import annotations

import hmac
from typing import Any

from ...config import ConfigError
from .. import errors, respond
from ..core import Call, Engine
from ..errors import ApiError
from ..tooling.control_state import PATCHABLE_SECTIONS, ControlState, fault_from_spec, fixed_keys_in
from ..types import Outcome
from ..validation import parse_json_object

ENDPOINT = "sentra.control"
PREFIX = "/sentra/v1"
LOOPBACK_HOSTS = frozenset({"localhost", "::1", "ip6-localhost"})


def register(engine: Engine) -> None:
    routes = {
        ("GET", "/requests"): list_requests, ("DELETE", "/requests"): clear_requests,
        ("POST", "/faults"): add_fault, ("GET", "/faults"): list_faults, ("DELETE", "/faults"): clear_faults,
        ("PATCH", "/config"): patch_config, ("GET", "/config"): get_config, ("DELETE", "/config"): clear_config,
        ("POST", "/reset"): reset,
    }
    for (method, path), handler in routes.items():
        engine.route(method, PREFIX + path, ENDPOINT, _guarded(handler))
    engine.public_endpoints.add(ENDPOINT)  # the OpenAI API key does not apply; the control token does


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _guarded(handler):
    def guarded(call: Call) -> Outcome:
        control: ControlState | None = call.services.control
        settings = control.base_settings if control is not None else call.settings
        if control is None:
            raise errors.invalid_url(call.request.method, call.request.path)
        if not is_loopback(settings.server.host):
            token = settings.control.token
            if not token:  # off: as if the route did not exist
                raise errors.invalid_url(call.request.method, call.request.path)
            sent = call.headers_in.get("x-sentra-control-token") or ""
            if not hmac.compare_digest(sent.encode(), token.encode()):
                raise ApiError(401, "Missing or wrong X-Sentra-Control-Token header.", param="X-Sentra-Control-Token",
                               code="invalid_control_token")
        return handler(call, control)

    return guarded


def _body(call: Call) -> dict[str, Any]:
    return parse_json_object(call.request.body) if call.request.body.strip() else {}


# -- the request log ----------------------------------------------------------------------------------------------


def list_requests(call: Call, control: ControlState) -> Outcome:
    control.arm()
    return respond.json_outcome({"object": "list", "data": control.requests()})


def clear_requests(call: Call, control: ControlState) -> Outcome:
    control.arm()
    control.clear_requests()
    return respond.json_outcome({"object": "list", "data": [], "deleted": True})


# -- faults -------------------------------------------------------------------------------------------------------


def add_fault(call: Call, control: ControlState) -> Outcome:
    body = _body(call)
    unknown = sorted(set(body) - {"status", "count", "model", "endpoint", "at_chunk"})
    if unknown:
        raise errors.unrecognized_argument(unknown[0])
    if "status" not in body:
        raise errors.missing_parameter("status")
    status, count, at_chunk = body["status"], body.get("count", 1), body.get("at_chunk")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise errors.invalid_type("count", "an integer >= 1", count)
    if at_chunk is not None and (isinstance(at_chunk, bool) or not isinstance(at_chunk, int) or at_chunk < 0):
        raise errors.invalid_type("at_chunk", "an integer >= 0", at_chunk)
    if isinstance(status, bool) or not isinstance(status, (int, str)):
        raise errors.invalid_type("status", "a status code (429, 500, 502, 503, 504) or 'error-event'", status)
    for key in ("model", "endpoint"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise errors.invalid_type(key, "a string", body[key])
    try:
        fault_from_spec(status, at_chunk)
    except ApiError as exc:
        raise ApiError(400, exc.message.replace("X-Sentra-Error header", "fault"), param="status") from None
    entry = control.add_fault("fault_" + call.new_id("", 24), {**body, "count": count})
    outcome = respond.json_outcome(_fault_view(entry))
    outcome.status = 201
    return outcome


def _fault_view(entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry["id"], "object": "sentra.fault", "status": entry["status"], "count": entry["count"],
            "remaining": entry["remaining"], "model": entry.get("model"), "endpoint": entry.get("endpoint"),
            "at_chunk": entry.get("at_chunk")}


def list_faults(call: Call, control: ControlState) -> Outcome:
    return respond.json_outcome({"object": "list", "data": [_fault_view(f) for f in control.list_faults()]})


def clear_faults(call: Call, control: ControlState) -> Outcome:
    control.clear_faults()
    return respond.json_outcome({"object": "list", "data": [], "deleted": True})


# -- config -------------------------------------------------------------------------------------------------------


def _effective(settings) -> dict[str, Any]:
    from ...config import settings_to_tree

    tree = settings_to_tree(settings)
    return {section: tree[section] for section in PATCHABLE_SECTIONS}


def patch_config(call: Call, control: ControlState) -> Outcome:
    from ..content.fixtures import FixtureError, FixtureSet

    body = _body(call)
    for section, values in body.items():
        if section not in PATCHABLE_SECTIONS:
            raise ApiError(400, f"Unknown config section {section!r}: the control API changes "
                                f"{', '.join(PATCHABLE_SECTIONS)}.", param=section, code="unknown_config_key")
        if not isinstance(values, dict):
            raise ApiError(400, f"{section}: expected a mapping of keys to values.", param=section,
                           code="invalid_config")
    latency = body.get("latency") or {}
    if latency.get("enable") and not control.base_settings.latency.enable:
        # A server started without latency answers from a handler that never waits (server/app.py).
        raise ApiError(400, "latency.enable cannot be turned on in a server started without latency (e.g. mode fast); "
                            "start it with latency enabled to change latency at run time.", param="latency.enable",
                       code="invalid_config")
    fixed = fixed_keys_in(body)
    if fixed:
        raise ApiError(400, f"{fixed[0]} cannot be changed while the server runs (restart it with the new value).",
                       param=fixed[0], code="invalid_config")
    try:
        if "fixtures" in body:  # a fixture file that cannot load must fail here, not in every later request
            probe = control.settings_for(body)
            FixtureSet.load(probe.fixture_paths())
        settings = control.patch_config(body)
    except ConfigError as exc:
        message = str(exc).removeprefix("PATCH /sentra/v1/config: ").removeprefix("config: ")
        key = message.split("'")[1] if "unknown key '" in message else None
        raise ApiError(400, message, param=key, code="unknown_config_key" if key else "invalid_config") from None
    except FixtureError as exc:
        raise ApiError(400, str(exc), param="fixtures.paths", code="invalid_config") from None
    return respond.json_outcome(_effective(settings))


def get_config(call: Call, control: ControlState) -> Outcome:
    return respond.json_outcome(_effective(control.settings_for(control.refresh().config)))


def clear_config(call: Call, control: ControlState) -> Outcome:
    control.clear_config()
    return respond.json_outcome(_effective(control.base_settings))


# -- reset --------------------------------------------------------------------------------------------------------


def reset(call: Call, control: ControlState) -> Outcome:
    control.reset()
    return respond.json_outcome({"reset": True})

