"""Raw-HTTP abuse against a real server: each malformed or abusive request costs only itself. After every case the
next normal request is answered within the liveness bound, and nothing the server sends is a 5xx."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from conftest import RunningServer, start_server
from reliability.rawhttp import closed_by_server, connect, exchange, health, read_reply

pytestmark = pytest.mark.server

SHORT_TIMEOUTS = {"idle_timeout_seconds": 2.0, "header_timeout_seconds": 1.0, "body_timeout_seconds": 1.0,
                  "keepalive_requests": 5}
CHUNKED = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"

# The five chunked bodies of issue 9 that aborted a Robyn worker (robyn src/types/request.rs:165).
BAD_CHUNKS = {
    "size zz": b"zz\r\nhello\r\n0\r\n\r\n",
    "size -5": b"-5\r\nhello\r\n0\r\n\r\n",
    "20 hex digits": b"FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
    "missing CRLF": b"5\r\nhello0\r\n\r\n",
    "size too small": b"3\r\nhello\r\n0\r\n\r\n",
}

MALFORMED = {
    "garbage request line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "header without colon": b"GET /health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
    "obs-fold header": b"GET /health HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
    "content-length and chunked": b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two content-lengths": b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "negative content-length": b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    "transfer-encoding gzip": b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nxx",
    "NUL in a header": b"GET /health HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "70 KB header": b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    "bare LF lines": b"GET /health HTTP/1.1\nHost: a\n\n",
    "body too large": b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n{",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("abuse"), {"metrics": {"enable": False}, "server": SHORT_TIMEOUTS})
    yield running
    running.stop(signal.SIGKILL)


def assert_alive(server: RunningServer) -> None:
    reply = health(server.port)
    assert reply.status == 200, reply
    assert server.process.poll() is None
    assert "exited with code" not in server.log()  # no worker died


@pytest.mark.parametrize("path", [b"/health", b"/v1/chat/completions"])
@pytest.mark.parametrize("body", BAD_CHUNKS.values(), ids=BAD_CHUNKS.keys())
def test_a_malformed_chunked_body_gets_a_400_and_costs_only_itself(server, path, body):
    reply = exchange(server.port, CHUNKED % path + body)
    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    assert reply.closed
    assert_alive(server)


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_framing_gets_a_4xx_never_a_5xx(server, raw):
    reply = exchange(server.port, raw)
    assert reply.status is not None and 400 <= reply.status < 500, reply
    assert reply.headers["content-type"] == "application/json"
    assert_alive(server)


def test_a_well_formed_chunked_body_is_served(server):
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    raw = CHUNKED % b"/v1/chat/completions" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    reply = exchange(server.port, raw, split_after=len(raw) - 7)
    assert reply.status == 200
    assert b'"chat.completion"' in reply.body


def test_a_silent_connection_is_closed(server):
    with connect(server.port) as sock:
        assert closed_by_server(sock, timeout=10)
    assert_alive(server)


@pytest.mark.parametrize("partial", [b"GET /health HTTP/1.1\r\nHost", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{"],
                         ids=["half a header", "half a body"])
def test_a_half_sent_request_gets_408_and_is_closed(server, partial):
    with connect(server.port) as sock:
        sock.sendall(partial)
        reply = read_reply(sock, timeout=10)
        assert reply.status == 408
        assert reply.closed
    assert_alive(server)


def test_keep_alive_connections_close_after_the_request_cap(server):
    with connect(server.port) as sock:
        replies = [health(server.port, sock) for _ in range(SHORT_TIMEOUTS["keepalive_requests"])]
        assert [r.status for r in replies] == [200] * len(replies)
        assert all(not r.closed for r in replies[:-1])
        assert replies[-1].headers.get("connection") == "close" and replies[-1].closed


@pytest.mark.parametrize("method", [b"QUERY", b"PROPFIND"])
def test_an_unknown_method_with_a_late_body_leaves_its_connection_usable(server, method):
    with connect(server.port) as sock:
        sock.sendall(method + b" /v1/models HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n")
        sock.sendall(b"{}")  # its own TCP packet (TCP_NODELAY)
        reply = read_reply(sock)
        assert reply.status is not None and 400 <= reply.status < 500
        assert reply.headers["content-type"].startswith("application/json")
        assert health(server.port, sock).status == 200


@pytest.mark.parametrize("content_type", [b"multipart/form-data", b"multipart/form-data; boundary=", b"multipart/form-data; boundary=x"])
def test_multipart_without_a_usable_body_gets_a_json_4xx(server, content_type):
    raw = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: " + content_type +
           b"\r\nContent-Length: 5\r\n\r\nhello")
    reply = exchange(server.port, raw)
    assert reply.status is not None and 400 <= reply.status < 500, reply
    assert reply.headers["content-type"].startswith("application/json")
    assert_alive(server)


def test_a_cors_preflight_is_answered_like_the_real_api(server):
    raw = (b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\n"
           b"Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n\r\n")
    reply = exchange(server.port, raw)
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["access-control-allow-methods"] == "POST"
    assert reply.headers["access-control-allow-headers"] == "authorization, content-type"


def test_pipelined_requests_are_answered_in_order(server):
    with connect(server.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n" * 2 + b"GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.settimeout(5)
        data = b""
        while data.count(b"HTTP/1.1 ") < 3 or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, "connection closed before three answers"
            data += chunk
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200"] * 3
    assert b'"status"' in answers[1] and b'"list"' in answers[2]


def test_expect_100_continue_gets_its_interim_answer(server):
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    with connect(server.port) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        sock.settimeout(5)
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert read_reply(sock).status == 200


def test_beyond_max_connections_silent_connections_make_room(server_factory):
    cap = 20
    capped = server_factory({"metrics": {"enable": False},
                             "server": {"max_connections": cap, "idle_timeout_seconds": 60.0}})
    silent = [connect(capped.port) for _ in range(cap)]
    try:
        time.sleep(0.2)  # all accepted and waiting for a first byte
        newcomers = [connect(capped.port) for _ in range(cap)]
        assert all(closed_by_server(sock, timeout=5) for sock in silent), "idle connections were not shed"
        assert health(capped.port).status == 200
        for sock in newcomers:
            sock.close()
    finally:
        for sock in silent:
            sock.close()
