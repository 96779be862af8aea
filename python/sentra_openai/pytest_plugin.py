"""pytest plugin (entry point `pytest11`, name `sentra_openai`): a real sentra-openai server for the tests of code
that calls OpenAI.

    def test_agent_retries(sentra):
        sentra.fail_next(429)                               # the next matching request fails as OpenAI's 429
        answer = my_agent(sentra.client()).run("hi")        # sentra.client(): an openai.OpenAI bound to the server
        assert [r["path"] for r in sentra.requests()] == ["/v1/chat/completions"] * 2

Fixtures: `sentra_server` (session scope: one server on a free port, started once, stopped at the end) and `sentra`
(function scope: the same server, reset first). Options: --sentra-mode (default fast), --sentra-config FILE. Marker:
`@pytest.mark.sentra(config={"latency": {...}})` applies sections through the control API for one test.

The server is driven through its control API (/sentra/v1/) with the standard library only; `client()` and
`async_client()` need the `openai` package.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

API_KEY = "sk-sentra-test"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


class SentraError(RuntimeError):
    """The control API refused a call (its OpenAI-style error message is the text)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SentraServer:
    """A running server and its control API. `base_url` ends in /v1, as openai clients expect."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"

    # -- clients --------------------------------------------------------------------------------------------------

    def client(self, **kwargs: Any):
        """An `openai.OpenAI` bound to this server (keyword arguments go to the constructor)."""
        import openai

        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", self.base_url)
        return openai.OpenAI(**kwargs)

    def async_client(self, **kwargs: Any):
        """An `openai.AsyncOpenAI` bound to this server."""
        import openai

        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", self.base_url)
        return openai.AsyncOpenAI(**kwargs)

    # -- the control API ------------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/sentra/v1{path}", data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = str(exc)
            raise SentraError(f"{method} /sentra/v1{path}: {exc.code}: {message}") from None

    def requests(self) -> list[dict[str, Any]]:
        """What was sent since the last reset, oldest first: method, path, endpoint, model, status, headers (without
        the API key) and the JSON body."""
        return self._control("GET", "/requests")["data"]

    def clear_requests(self) -> None:
        self._control("DELETE", "/requests")

    def fail_next(self, status: int | str, count: int = 1, **match: Any) -> dict[str, Any]:
        """The next `count` requests matching `match` (model=, endpoint=, at_chunk=) fail as X-Sentra-Error would
        make them: 429, 500, 502, 503, 504, or "error-event" (with at_chunk, a stream breaks off there)."""
        return self._control("POST", "/faults", {"status": status, "count": count, **match})

    def faults(self) -> list[dict[str, Any]]:
        return self._control("GET", "/faults")["data"]

    def configure(self, **sections: Any) -> dict[str, Any]:
        """Changes error_injection, rate_limiting, latency or fixtures sections at once (partial mappings);
        returns the effective sections."""
        return self._control("PATCH", "/config", sections)

    def reset(self) -> None:
        """Back to the state at start-up: no faults, empty request log, fresh rate-limit buckets and prompt cache,
        no stored objects, the start-up config."""
        self._control("POST", "/reset")
        self._control("DELETE", "/config")

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:  # workers of a --processes N server live in the server's own process group
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def start_server(mode: str = "fast", config_file: str | None = None, *, workdir: Path | None = None,
                 extra_args: list[str] | None = None) -> SentraServer:
    """Starts `sentra-openai serve` on a free loopback port and waits until it answers /health."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="sentra-pytest-"))
    port = _free_port()
    config: dict[str, Any] = {}
    if config_file:
        config = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}
    config.setdefault("metrics", {}).setdefault("enable", False)  # no second port to collide on
    config.setdefault("state", {}).setdefault("path", str(workdir / f"state-{port}.sqlite3"))
    config_path = workdir / f"sentra-{port}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = workdir / f"sentra-{port}.log"
    command = [sys.executable, "-m", "sentra_openai", "serve", "--mode", mode, "--config", str(config_path),
               "--host", "127.0.0.1", "--port", str(port), *(extra_args or [])]
    environment = {k: v for k, v in os.environ.items() if k not in ("PORT", "METRICS_PORT", "CONFIG_PATH", "SENTRA_MODE")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                   start_new_session=True)
    server = SentraServer(process, port, log_path)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sentra-openai exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=0.5) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"sentra-openai did not become ready in {READY_TIMEOUT_SECONDS:.0f}s:\n{server.log()}")


# -- pytest hooks and fixtures ------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sentra", "sentra-openai simulated OpenAI server")
    group.addoption("--sentra-mode", default="fast", choices=("default", "production", "fast", "debug"),
                    help="mode of the sentra server (default: fast: no delays, limits or injected faults)")
    group.addoption("--sentra-config", default=None, metavar="FILE", help="YAML config file for the sentra server")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sentra(config={...}): config sections (error_injection, rate_limiting, latency, fixtures) for the "
                   "`sentra` fixture in this test only",
    )


@pytest.fixture(scope="session")
def sentra_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentraServer]:
    """One sentra-openai server for the whole session (started on first use, stopped at the end)."""
    options = request.config.option
    server = start_server(options.sentra_mode, options.sentra_config, workdir=tmp_path_factory.mktemp("sentra"))
    try:
        server.reset()  # starts the request log
        yield server
    finally:
        server.stop()


@pytest.fixture
def sentra(sentra_server: SentraServer, request: pytest.FixtureRequest) -> Iterator[SentraServer]:
    """The session's server, reset before this test (and given the config of a `sentra` marker)."""
    sentra_server.reset()
    marker = request.node.get_closest_marker("sentra")
    if marker is not None:
        config = marker.kwargs.get("config") or (marker.args[0] if marker.args else None)
        if config:
            sentra_server.configure(**config)
    yield sentra_server
