"""The suite's own server launcher: a port taken between free_port() and the server's bind costs a restart on new
ports, not a failed test (CI machines run other services that bind loopback ports too)."""

from __future__ import annotations

import socket

import httpx
import pytest

import conftest

pytestmark = pytest.mark.server


@pytest.mark.parametrize("which", ["port", "metrics port"])
def test_a_server_whose_port_was_taken_is_started_again_on_new_ports(tmp_path, monkeypatch, which):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, conftest.free_port()] if which == "port" else [conftest.free_port(), taken])
        real_free_port = conftest.free_port
        monkeypatch.setattr(conftest, "free_port", lambda: next(ports, None) or real_free_port())
        server = conftest.start_server(tmp_path, {"metrics": {"enable": True}})
        try:
            assert taken not in (server.port, server.metrics_port)
            assert httpx.get(f"{server.base_url}/health", timeout=5).status_code == 200
            assert httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).status_code == 200
        finally:
            server.stop()
