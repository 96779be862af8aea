"""What a bad request or a dying worker must not cost anyone else: in-flight streams, keep-alive load balance,
and a drain that refuses new connections at once."""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from processes import listener_pid, worker_port
from reliability.rawhttp import exchange, health

pytestmark = pytest.mark.server

STREAM = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Write a long essay"}], "stream": True,
          "max_tokens": 60}
BAD_CHUNKED = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"zz\r\nhello\r\n0\r\n\r\n")


def warm(server) -> None:
    # The first request loads the tokenizers; streams under test must start on a warm server.
    httpx.post(f"{server.api_url}/chat/completions", json={**STREAM, "stream": False},
               headers={"x-sentra-time-scale": "0"}, timeout=10)


def served_by(server) -> list[int]:
    pids = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            entry = orjson.loads(line)
            if entry.get("endpoint") == "chat.completions":
                pids.append(entry["pid"])
    return pids


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def test_malformed_requests_do_not_cut_streams_in_flight(server_factory):
    server = server_factory({"latency": {"enable": True, "time_scale": 1.0}}, mode="default")
    warm(server)
    results: list[bytes] = []

    def stream() -> None:
        with httpx.stream("POST", f"{server.api_url}/chat/completions", json=STREAM,
                          headers={"x-sentra-time-scale": "0.5"}, timeout=30) as response:
            results.append(b"".join(response.iter_bytes()))

    streams = [threading.Thread(target=stream) for _ in range(4)]
    for thread in streams:
        thread.start()
    time.sleep(0.2)  # the streams are under way (their pacing takes seconds)
    refusals = [exchange(server.port, BAD_CHUNKED).status for _ in range(5)]
    for thread in streams:
        thread.join(30)
    assert refusals == [400] * 5
    assert len(results) == 4 and all(body.endswith(b"data: [DONE]\n\n") for body in results)
    assert "exited with code" not in server.log()


def test_keep_alive_clients_spread_over_a_restarted_worker(server_factory):
    server = server_factory({"server": {"processes": 2, "keepalive_requests": 10}, "logging": {"request_log": True}})
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    clients = [httpx.Client(base_url=server.api_url, timeout=10) for _ in range(4)]
    try:
        for client in clients:
            assert client.post("/chat/completions", json=body).status_code == 200
        victim = served_by(server)[0]
        assert victim in children(server.process.pid)
        before = set(children(server.process.pid))
        time.sleep(0.3)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(children(server.process.pid) - before) == 0:
            time.sleep(0.05)
        restarted = children(server.process.pid) - before
        assert len(restarted) == 1
        seen = len(served_by(server))
        for _ in range(40):
            for client in clients:
                assert client.post("/chat/completions", json=body).status_code == 200
        assert restarted & set(served_by(server)[seen:]), "the restarted worker got none of the keep-alive load"
    finally:
        for client in clients:
            client.close()


def test_a_draining_server_refuses_new_connections_and_finishes_its_streams(server_factory):
    server = server_factory({"latency": {"enable": True, "time_scale": 1.0}}, mode="default")
    warm(server)
    with httpx.stream("POST", f"{server.api_url}/chat/completions", json=STREAM,
                      headers={"x-sentra-time-scale": "0.5"}, timeout=10) as response:
        chunks = response.iter_bytes()
        first = next(chunks)
        server.process.send_signal(signal.SIGTERM)
        refused = False
        deadline = time.monotonic() + 1.0  # liveness bound for the port to close
        while time.monotonic() < deadline and not refused:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
                time.sleep(0.02)
            except ConnectionRefusedError:
                refused = True
        rest = b"".join(chunks)
    assert refused, "the port kept accepting while draining"
    assert first.startswith(b"data: ") and rest.endswith(b"data: [DONE]\n\n")
    server.process.wait(10)


def test_a_single_worker_restart_delays_requests_instead_of_refusing_them(server_factory):
    server = server_factory({"logging": {"request_log": True}})
    (worker,) = {pid for pid in children(server.process.pid) if pid in _request_pids(server)}
    os.kill(worker, signal.SIGKILL)
    reply = health(server.port)  # on a fresh connection while the only worker restarts
    deadline = time.monotonic() + 10
    while reply.status != 200 and time.monotonic() < deadline:
        reply = health(server.port)
    assert reply.status == 200


def test_no_other_process_can_take_a_workers_port_even_while_it_restarts(server_factory):
    # A port the front forwards to must stay the server's: while the only worker is dead, a server's usual bind to
    # its port (SO_REUSEADDR, as most servers set) is refused, and the restarted worker answers there again.
    server = server_factory({"logging": {"request_log": True}})
    port = worker_port(server.log())
    killed = listener_pid(port)
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 0.3  # past the supervisor's restart check (WORKER_CHECK_SECONDS)
    while time.monotonic() < deadline:
        with socket.socket() as stranger, pytest.raises(OSError) as refused:
            stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            stranger.bind(("127.0.0.1", port))
        assert refused.value.errno == errno.EADDRINUSE
        time.sleep(0.001)
    restarted = _request_pids(server) - {killed}  # the front holds this request until the new worker is up
    assert restarted == {listener_pid(port)}


def _request_pids(server) -> set[int]:
    httpx.post(f"{server.api_url}/chat/completions",
               json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, timeout=10)
    return set(served_by(server))
