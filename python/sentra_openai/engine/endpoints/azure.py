"""Azure OpenAI's routes, as a translation layer over the OpenAI endpoints (never a copy of them):

    /openai/deployments/{deployment}/{chat/completions, completions, embeddings, images/generations}?api-version=...
    /openai/responses[/...]?api-version=...          (the model field names the deployment)
    /openai/v1/...                                    (Azure's v1 API: no api-version, the deployment as `model`)

A request is authenticated with Azure's `api-key` header (or a bearer token), its deployment mapped to a model
(`azure.deployments`, or a deployment named like a catalog model), and answered by the engine's own OpenAI route;
the answer then gets Azure's headers, content-filter annotations and gateway error bodies. Facts and shapes:
config/azure.yaml (sources named there) and shared/reference/responses-api.md §4.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from typing import Any

import orjson
import yaml

from ...config import config_dir
from ..core import Engine
from ..types import Outcome, Piece, Request

MOUNT = "/openai/"
DEPLOYMENTS = "/openai/deployments/"
INTERNAL_PATH_HEADER = "x-sentra-internal-path"  # the path the client used, for the request log


@functools.lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    return yaml.safe_load((config_dir() / "azure.yaml").read_text(encoding="utf-8"))


def register(engine: Engine) -> None:
    engine.mounts.append((MOUNT, functools.partial(handle, engine)))


class _Refusal(Exception):
    """An answer of Azure's gateway itself: {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def handle(engine: Engine, request: Request) -> Outcome:
    try:
        inner, deployment, operation, api_version = _translate(engine, request)
    except _Refusal as refusal:
        return gateway_error(refusal.status, refusal.code, refusal.message,
                             _uuid_from(f"{engine.settings.seed}:{request.method} {request.path}:{engine._sequence}"))
    outcome = engine.handle(inner)
    return _azure_answer(engine, outcome, deployment, operation, api_version, inner.path)


def _translate(engine: Engine, request: Request) -> tuple[Request, str | None, str, str | None]:
    errors = rules()["errors"]
    api_version = next(iter(request.query_values("api-version")), None)
    path = request.path
    if path.startswith(DEPLOYMENTS):
        deployment, _, route = path[len(DEPLOYMENTS):].partition("/")
        target = rules()["deployment_routes"].get(route.rstrip("/"))
        if target is None or not deployment or not api_version:
            raise _Refusal(404, "404", errors["resource_not_found"])
        inner_path, operation = target["path"], target["operation"]
    elif path.rstrip("/") == "/openai/responses" or path.startswith("/openai/responses/"):
        if not api_version:
            raise _Refusal(404, "404", errors["resource_not_found"])
        inner_path, operation, deployment = "/v1" + path[len("/openai"):], "Responses_Create", None
    elif path.startswith("/openai/v1/"):
        inner_path, operation, deployment = path[len("/openai"):], "V1_Create", None
    else:
        raise _Refusal(404, "404", errors["resource_not_found"])

    key = request.headers.get("api-key") or _bearer(request.headers.get("authorization"))
    auth = engine.settings.auth
    if auth.require_api_key:
        if not key:
            raise _Refusal(401, "401", errors["missing_key"])
        if key not in auth.api_keys:
            raise _Refusal(401, "401", errors["wrong_key"])

    body = request.body
    parsed = _json_object(body) if request.method == "POST" else None
    if parsed is not None:
        if deployment is None and isinstance(parsed.get("model"), str):
            deployment = parsed["model"]  # responses and the v1 API name the deployment in `model`
        if deployment is not None:
            parsed["model"] = _model_of(engine, deployment)
            body = orjson.dumps(parsed)
    elif deployment is not None:
        _model_of(engine, deployment)  # an unknown deployment is refused before the body is looked at
    headers = {k: v for k, v in request.headers.items() if k not in ("api-key", "authorization", INTERNAL_PATH_HEADER)}
    if key:
        headers["authorization"] = f"Bearer {key}"  # rate-limit buckets stay per key
    headers[INTERNAL_PATH_HEADER] = path
    query = tuple((k, v) for k, v in request.query if k != "api-version")
    return Request(request.method, inner_path, headers, body, query), deployment, operation, api_version


def _model_of(engine: Engine, deployment: str) -> str:
    model = engine.settings.azure.deployments.get(deployment)
    if model is None and engine.services.catalog.get(deployment) is not None:
        model = deployment
    if model is None:
        raise _Refusal(404, "DeploymentNotFound", rules()["errors"]["deployment_not_found"])
    return model


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # the OpenAI route answers it with its own 400
    return parsed if isinstance(parsed, dict) else None


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# -- the answer ---------------------------------------------------------------------------------------------------


def _uuid_from(seed: str) -> str:
    return str(uuid.UUID(bytes=hashlib.blake2b(seed.encode(), digest_size=16).digest()))


def _headers(headers: dict[str, str], engine: Engine, deployment: str | None) -> dict[str, str]:
    r = rules()
    request_id = headers.get("x-request-id", "")
    out = {k: v for k, v in headers.items() if k not in r["dropped_headers"]}
    hex_id = request_id.removeprefix("req_")
    try:
        out["x-request-id"] = str(uuid.UUID(hex=hex_id))  # Azure's is a bare UUID, no req_ prefix
    except ValueError:
        out["x-request-id"] = _uuid_from(request_id)
    out["apim-request-id"] = _uuid_from("apim:" + request_id)
    out["x-ms-region"] = engine.settings.azure.region
    if deployment:
        out["x-ms-deployment-name"] = deployment
    out.update(r["headers"])
    return out


def gateway_error(status: int, code: str, message: str, request_id: str,
                  extra_headers: dict[str, str] | None = None) -> Outcome:
    headers = {"content-type": "application/json", "x-request-id": request_id,
               "apim-request-id": _uuid_from("apim:" + request_id), **(extra_headers or {})}
    return Outcome(status, headers, orjson.dumps({"error": {"code": code, "message": message}}))


def _azure_answer(engine: Engine, outcome: Outcome, deployment: str | None, operation: str,
                  api_version: str | None, inner_path: str) -> Outcome:
    headers = _headers(outcome.headers, engine, deployment)
    if outcome.status == 429:
        return _rate_limited(outcome, headers, operation, api_version)
    outcome.headers = headers
    if outcome.status != 200:
        return outcome
    if outcome.stream is not None:
        if inner_path in ("/v1/chat/completions", "/v1/completions"):
            _announce_prompt_filter(outcome)
        return outcome
    if inner_path in ("/v1/chat/completions", "/v1/completions", "/v1/images/generations"):
        payload = orjson.loads(outcome.body)
        _annotate(payload, inner_path)
        # Azure's gateway sends compact JSON with sorted keys (the real capture of responses-api.md §4).
        outcome.body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return outcome


def _prompt_filter_results() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": rules()["prompt_filter_results"]}]


def _annotate(payload: dict[str, Any], inner_path: str) -> None:
    filters = rules()["content_filter_results"]
    if inner_path == "/v1/images/generations":
        for item in payload.get("data", []):
            item["content_filter_results"] = filters
            item["prompt_filter_results"] = rules()["prompt_filter_results"]
        return
    payload["prompt_filter_results"] = _prompt_filter_results()
    for choice in payload.get("choices", []):
        choice["content_filter_results"] = filters


def _announce_prompt_filter(outcome: Outcome) -> None:
    """Azure's streams start with a chunk that carries only the prompt's filter results."""
    assert outcome.stream is not None
    chunk = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
             "prompt_filter_results": _prompt_filter_results()}
    pieces = outcome.stream.pieces
    due = pieces[0].due if pieces else 0.0
    pieces.insert(0, Piece(due=due, raw=b"data: " + orjson.dumps(chunk) + b"\n\n"))
    if outcome.stream.cut_after is not None:
        outcome.stream.cut_after += 1


def _rate_limited(outcome: Outcome, headers: dict[str, str], operation: str, api_version: str | None) -> Outcome:
    try:
        error = orjson.loads(outcome.body)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        error = {}
    wait_ms = headers.get("retry-after-ms")
    seconds = headers.get("retry-after") or (str(-(-int(wait_ms) // 1000)) if wait_ms else "1")
    kind = "token" if error.get("type") == "tokens" else "call"
    message = rules()["errors"]["rate_limited"].format(operation=operation, api_version=api_version or "v1",
                                                       kind=kind, seconds=seconds)
    headers["retry-after"] = seconds
    headers.setdefault("retry-after-ms", str(int(seconds) * 1000))
    headers["content-type"] = "application/json"
    return Outcome(429, headers, orjson.dumps({"error": {"code": "429", "message": message}}))
