"""Raw-HTTP fuzz: seeded random mutations of valid requests (bytes flipped, inserted, cut; random chunk framing,
methods, headers, packet splits, half-closes) against a real server, checking after every batch that a normal request
is answered within 1 s. Fails on any 5xx, any worker restart, or a missed liveness check.

    python benches/fuzz_http.py                         # 10 minutes, seed 1
    python benches/fuzz_http.py --minutes 2 --seed 7 --processes 2

Every server started is stopped (its whole process group) at the end.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import harness

BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}'
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD", b"QUERY", b"PROPFIND", b"TRACE", b"X" * 40]
PATHS = [b"/health", b"/v1/chat/completions", b"/v1/models", b"/v1/embeddings", b"/v1/images/generations", b"/../etc",
         b"/v1/models/gpt-4o?x=%zz", b"*", b"http://a/health", b"/" + b"a" * 9000]
HEADERS = [b"Host: 127.0.0.1", b"Content-Type: application/json", b"Content-Type: multipart/form-data; boundary=x",
           b"Content-Type: application/x-www-form-urlencoded", b"Connection: close", b"Connection: keep-alive",
           b"Expect: 100-continue", b"Transfer-Encoding: chunked", b"Content-Length: 5", b"Content-Length: -1",
           b"X-Forwarded-Proto: javascript", b"Host: javascript://evil/", b"Authorization: Bearer sk-x",
           b"X-Sentra-Method: DELETE", b"Origin: https://a.example", b"Access-Control-Request-Method: POST"]
CHECK_EVERY = 25
LIVENESS_SECONDS = 1.0


def valid_request(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
    chunks = b""
    rest = BODY
    while rest:
        size = rng.randint(1, 40)
        chunks += b"%x\r\n%s\r\n" % (len(rest[:size]), rest[:size])
        rest = rest[size:]
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")


def random_request(rng: random.Random) -> bytes:
    head = b"%s %s HTTP/1.%d\r\n" % (rng.choice(METHODS), rng.choice(PATHS), rng.choice([0, 1, 1, 1]))
    head += b"".join(h + b"\r\n" for h in rng.sample(HEADERS, rng.randint(0, 5)))
    body = rng.choice([b"", BODY, b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", rng.randbytes(rng.randint(1, 200))])
    return head + b"\r\n" + body


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if not data:
            break
        at = rng.randrange(len(data))
        op = rng.random()
        if op < 0.3:
            data[at] = rng.randrange(256)
        elif op < 0.5:
            data[at:at] = rng.choice([b"\r\n", b"\n", b"\x00", b":", b" ", b"ffffffffffffffffffff", b"-5", b";"])
        elif op < 0.7:
            del data[at:at + rng.randint(1, 8)]
        else:
            data[at:at] = data[rng.randrange(len(data)):][:rng.randint(1, 30)]
    return bytes(data)


def send(port: int, data: bytes, rng: random.Random) -> int | None:
    """Sends one case; returns the first status seen, or None when the server only closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        parts = [data]
        if len(data) > 2 and rng.random() < 0.3:
            cut = rng.randrange(1, len(data))
            parts = [data[:cut], data[cut:]]
        try:
            for part in parts:
                sock.sendall(part)
                if len(parts) > 1:
                    time.sleep(0.01)
            if rng.random() < 0.2:
                sock.shutdown(socket.SHUT_WR)
            head = sock.recv(4096)
        except OSError:  # reset, broken pipe, timed out, not connected: the server closed it
            return None
    if head.startswith(b"HTTP/1.") and len(head) >= 12:
        try:
            return int(head[9:12])
        except ValueError:
            return -1
    return None


def alive(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=LIVENESS_SECONDS) as sock:
            sock.settimeout(LIVENESS_SECONDS)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="sentra-fuzz-"))
    config = {"server": {"header_timeout_seconds": 1.0, "body_timeout_seconds": 1.0, "idle_timeout_seconds": 2.0},
              "error_injection": {"enable": False}, "rate_limiting": {"enable": False}}
    server = harness.start_sentra(workdir, mode="fast", processes=args.processes, config=config, name="fuzz")
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    cases = 0
    try:
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            kind = rng.random()
            data = valid_request(rng) if kind < 0.15 else random_request(rng)
            if kind >= 0.15 or rng.random() < 0.7:
                data = mutate(data, rng)
            status = send(server.port, data, rng)
            statuses["closed" if status is None else str(status)] += 1
            if status is not None and status >= 500:
                failures.append(f"{status} for {data[:200]!r}")
            cases += 1
            if cases % CHECK_EVERY == 0 and not alive(server.port):
                failures.append(f"liveness check failed after case {cases}: {data[:200]!r}")
        restarts = server.log().count("exited with code")
    finally:
        server.stop()
    print(f"fuzz {args.minutes:g} min, seed {args.seed}: {cases} cases, statuses "
          + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print(f"worker restarts: {restarts}; failures: {len(failures)}")
    for failure in failures[:20]:
        print("  " + failure)
    return 1 if failures or restarts else 0


if __name__ == "__main__":
    sys.exit(main())
