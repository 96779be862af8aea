"""The image's HEALTHCHECK script (deploy/container/healthcheck.py) against a real server: it must follow the port
the server's own settings give (PORT, or the CONFIG_PATH file), and fail, without a traceback, when nothing answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import RunningServer, free_port

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "container" / "healthcheck.py"


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("PORT", "CONFIG_PATH", "SENTRA_MODE", "REDIS_URL")}
    return subprocess.run([sys.executable, str(SCRIPT)], check=False, capture_output=True, text=True, timeout=60,
                          env={**base, **env})


def test_passes_on_the_port_given_by_PORT(fast_server: RunningServer) -> None:
    assert healthcheck({"PORT": str(fast_server.port)}).returncode == 0


def test_follows_the_port_of_the_config_file(fast_server: RunningServer, tmp_path: Path) -> None:
    config = tmp_path / "sentra.yaml"
    config.write_text(f"server: {{port: {fast_server.port}}}\n")
    assert healthcheck({"CONFIG_PATH": str(config)}).returncode == 0


def test_fails_when_nothing_listens() -> None:
    port = free_port()
    result = healthcheck({"PORT": str(port)})
    assert result.returncode == 1
    assert f"http://127.0.0.1:{port}/health" in result.stderr and "Traceback" not in result.stderr


def test_fails_with_the_settings_error_on_a_bad_variable() -> None:
    result = healthcheck({"PORT": "eighty"})
    assert result.returncode == 1
    assert "PORT" in result.stderr and "Traceback" not in result.stderr
