"""Agent frameworks built on the official SDK, run against a real server as their users run them.

Each test module gets its own fast-mode server (`framework_server`), so the faults a retry test queues with the
control API never reach another module's requests.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sentra_control, the helpers the test modules share
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conftest import RunningServer, start_server


@pytest.fixture(scope="module")
def framework_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("frameworks"), {"metrics": {"enable": False}})
    yield server
    server.stop(signal.SIGKILL)
