"""What the framework tests ask of the server's control API: queue a fault, read back what was sent."""

from __future__ import annotations

from typing import Any

import httpx

API_KEY = "sk-test-frameworks-0001"


def fail_next(server, status: int | str, count: int = 1, **match: Any) -> None:
    """The next `count` requests fail with `status` (the control API's fault queue), and the request log restarts,
    so `statuses(server)` shows the failure and the retry that recovered from it."""
    httpx.delete(f"{server.base_url}/sentra/v1/requests").raise_for_status()
    httpx.post(f"{server.base_url}/sentra/v1/faults", json={"status": status, "count": count, **match}).raise_for_status()


def statuses(server) -> list[tuple[str, int]]:
    """(path, status) of every request since the last `fail_next`, oldest first."""
    log = httpx.get(f"{server.base_url}/sentra/v1/requests").json()["data"]
    return [(entry["path"], entry["status"]) for entry in log]


def bodies(server) -> list[dict[str, Any]]:
    """The JSON bodies of every request since the last `fail_next` (or log restart), oldest first."""
    return [entry.get("body") for entry in httpx.get(f"{server.base_url}/sentra/v1/requests").json()["data"]]


def restart_log(server) -> None:
    httpx.delete(f"{server.base_url}/sentra/v1/requests").raise_for_status()
