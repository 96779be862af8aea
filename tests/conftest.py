"""Shared fixtures: real server processes on free ports, and in-process engines for fast, clock-driven tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

# Model shutdowns are judged on `models.as_of` (default: the real date). The suite pins the day it was written for,
# so that it passes the same way next month. The environment outranks a --config file: a test about another day
# passes env={"SENTRA_MODELS_AS_OF": ...} to its server, or cli={"models.as_of": ...} to load_settings.
SUITE_AS_OF = "2026-12-01"
os.environ.setdefault("SENTRA_MODELS_AS_OF", SUITE_AS_OF)  # servers started by the tests


def _pin_today() -> None:  # in-process engines whose settings say "today" (e.g. load_settings(environ={}))
    from sentra_openai.engine import retirement

    retirement.today = lambda: SUITE_AS_OF


_pin_today()

# In-process engines built from default settings would open the default sqlite state file (one per port, in the
# system temp dir, shared by every run on the machine): the suite gives them a file of its own, and each server it
# starts gets one in its tmp_path (start_server), so no test sees, or resets, another run's stored state.
os.environ.setdefault("SENTRA_STATE_PATH", os.path.join(tempfile.mkdtemp(prefix="sentra-suite-"), "state.sqlite3"))

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CAPTURE_DIR = DATA / "captures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    metrics_port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def client(self, **kwargs: Any):
        import openai

        kwargs.setdefault("api_key", "sk-test-key-0001")
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.api_url, **kwargs)

    def async_client(self, **kwargs: Any):
        import openai

        kwargs.setdefault("api_key", "sk-test-key-0001")
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(base_url=self.api_url, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def lost_a_port(self) -> bool:
        """Whether another process took the port or the metrics port between free_port() and the server's bind."""
        log = self.log()
        return (f"cannot listen on 127.0.0.1:{self.port}:" in log
                or f"metrics disabled: cannot listen on 127.0.0.1:{self.metrics_port}" in log)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> float:
        """Stops the server; returns how long it took to exit."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        elapsed = time.monotonic() - started
        try:  # workers of a --processes N server live in the server's own process group
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return elapsed


def start_server(
    tmp_path: Path,
    config: dict[str, Any] | None = None,
    *,
    mode: str = "fast",
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    ready_timeout: float = 15.0,
) -> RunningServer:
    """A server on fresh ports. A port found free can be taken by another process before the server binds it; the
    server then exits (its port) or serves without metrics (its metrics port), and is started again on new ones."""
    for _ in range(PORT_ATTEMPTS):
        server = _start_on_free_ports(tmp_path, config, mode, args, env, cwd, ready_timeout)
        if not server.lost_a_port():
            return server
        server.stop(signal.SIGKILL)
    raise RuntimeError(f"other processes took the ports of {PORT_ATTEMPTS} servers in a row:\n{server.log()}")


PORT_ATTEMPTS = 3


def _start_on_free_ports(tmp_path: Path, config: dict[str, Any] | None, mode: str, args: list[str] | None,
                         env: dict[str, str] | None, cwd: Path | None, ready_timeout: float) -> RunningServer:
    port, metrics_port = free_port(), free_port()
    config_path = tmp_path / f"config-{port}.yaml"
    config = dict(config or {})
    if (config.get("state") or {}).get("store") in (None, "sqlite"):  # a state file of its own (see SENTRA_STATE_PATH)
        config["state"] = {"path": str(tmp_path / f"state-{port}.sqlite3"), **(config.get("state") or {})}
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / f"server-{port}.log"
    command = [sys.executable, "-m", "sentra_openai", "serve", "--mode", mode, "--config", str(config_path),
               "--port", str(port), "--metrics-port", str(metrics_port), *(args or [])]
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PORT", "METRICS_PORT", "CONFIG_PATH", "SENTRA_MODE", "REDIS_URL", "SENTRA_STATE_PATH")}
    environment.update(env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=cwd or tmp_path,
                                   start_new_session=True)
    server = RunningServer(process, port, metrics_port, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if server.lost_a_port():
                return server
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=0.5).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server did not become ready:\n{server.log()}")


def stored_state_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[RunningServer]:
    """For a module's `server` fixture (`yield from`): a fast server, metrics off, that keeps its state (stored
    responses, conversations) in state.sqlite3 of a temp dir of its own; stopped when the module is done."""
    tmp = tmp_path_factory.mktemp(name)
    running = start_server(tmp, {"metrics": {"enable": False}, "state": {"path": str(tmp / "state.sqlite3")}})
    yield running
    running.stop()


def replay_capture(server: RunningServer, path: Path) -> tuple[dict[str, Any], dict[str, Any], httpx.Response]:
    """Sends a recorded real request (tests/data/captures) and checks what every endpoint shares: the status, the
    content type, and for errors the exact body. Returns the request, the real answer and ours."""
    from openapi_schemas import validate

    capture = json.loads(path.read_text())
    request, expected = capture["request"], capture["response"]
    response = httpx.post(server.base_url + request["path"], json=request["body"])
    assert response.status_code == expected["status"]
    assert response.headers["content-type"] == expected["headers"]["content-type"]
    if expected["status"] >= 400:
        assert response.json() == expected["body"]
        validate("ErrorResponse", response.json())
    return request, expected, response


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Starts servers with a config dict; all are stopped at the end of the test."""
    started: list[RunningServer] = []

    def factory(config: dict[str, Any] | None = None, **kwargs: Any) -> RunningServer:
        server = start_server(tmp_path, config, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One shared server in `fast` mode (no delays, limits or faults) for wire-format tests."""
    server = start_server(tmp_path_factory.mktemp("fast-server"), {"metrics": {"enable": False}})
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Default mode (rate limits on, so x-ratelimit-* headers are sent), without delays or injected faults: for
    replaying the recorded real requests."""
    server = start_server(tmp_path_factory.mktemp("limited-server"),
                          {"latency": {"enable": False}, "error_injection": {"enable": False}, "metrics": {"enable": False}},
                          mode="default")
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def openai_client(fast_server: RunningServer):
    return fast_server.client()
