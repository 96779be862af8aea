"""Raw-socket helpers for the reliability tests: requests no HTTP client library would send."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

LIVENESS_SECONDS = 1.0  # the next normal request must be answered within this (a liveness bound, not a speed claim)


@dataclass
class Reply:
    status: int | None
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after the reply


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_reply(sock: socket.socket, timeout: float = 5.0) -> Reply:
    """Reads one response (Content-Length framed, or until close). No reply at all gives status None."""
    sock.settimeout(timeout)
    data = b""
    closed = False
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        closed = True
    if b"\r\n\r\n" not in data:
        return Reply(None, {}, data, closed)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    try:
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            rest += chunk
    except (TimeoutError, ConnectionResetError):
        closed = True
    if headers.get("connection", "").lower() == "close":
        closed = closed or _closes(sock)
    return Reply(status, headers, rest, closed)


def _closes(sock: socket.socket, timeout: float = 5.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (TimeoutError, ConnectionResetError):
        return True


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `timeout`, whatever it sends first."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if sock.recv(65536) == b"":
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def exchange(port: int, raw: bytes, *, split_after: int | None = None, pause: float = 0.05) -> Reply:
    """Sends `raw` on a fresh connection (in two TCP packets when split_after is set) and reads the reply."""
    with connect(port) as sock:
        if split_after is None:
            sock.sendall(raw)
        else:
            sock.sendall(raw[:split_after])
            time.sleep(pause)
            sock.sendall(raw[split_after:])
        return read_reply(sock)


def health(port: int, sock: socket.socket | None = None) -> Reply:
    """GET /health within the liveness bound, on `sock` or a fresh connection."""
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    if sock is not None:
        sock.sendall(request)
        return read_reply(sock, LIVENESS_SECONDS)
    with connect(port, LIVENESS_SECONDS) as fresh:
        fresh.sendall(request)
        return read_reply(fresh, LIVENESS_SECONDS)
