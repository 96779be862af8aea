"""Soak: a mixed load (chat, streams, completions, embeddings, models, and a share of abusive raw-HTTP requests)
against a real server for a while, sampling every process's resident memory; reports the RSS slope of each (MB/hour).

    python benches/soak.py                      # 30 minutes, 2 worker processes
    python benches/soak.py --minutes 5 --processes 1 --out /tmp/soak.json

A flat RSS (slope near 0 once warm) means no leak per request; restarts (a worker that died) are counted too.
Every server started is stopped (its whole process group) at the end.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import harness
import httpx
import orjson

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 40}
ABUSE = [
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    b"QUERY /v1/models HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data\r\nContent-Length: 5\r\n"
    b"Connection: close\r\n\r\nhello",
    b"GET /health HTTP/1.1\r\nHost: javascript://x/\r\n\r\n",
    b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
]
SOAK_CONFIG = {
    "latency": {"enable": True, "time_scale": 0.05},  # paced streams, but short ones
    "error_injection": {"enable": False},  # any 5xx counted is then a real one
    "rate_limiting": {"enable": False},
    "logging": {"request_log": False},
    "server": {"idle_timeout_seconds": 5.0, "header_timeout_seconds": 2.0, "body_timeout_seconds": 2.0,
               "keepalive_requests": 200},
}


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1


def role_of(server: harness.Server, pid: int) -> str:
    if pid == server.pgid:
        return "supervisor"
    try:
        names = {(task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()}
    except OSError:
        return "gone"
    return "front" if any(n.startswith("sentra-front") for n in names) else "worker"


def client_loop(server: harness.Server, seed: int, stop: threading.Event, tally: Tally) -> None:
    rng = random.Random(seed)
    base = server.url("")
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            draw = rng.random()
            try:
                if draw < 0.40:
                    status = client.post("/v1/chat/completions", json={**CHAT, "seed": rng.randrange(50)}).status_code
                elif draw < 0.60:
                    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
                        body = b"".join(response.iter_bytes())
                        status = response.status_code if body.endswith(b"data: [DONE]\n\n") else 599
                elif draw < 0.70:
                    status = client.post("/v1/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi",
                                                                  "max_tokens": 16}).status_code
                elif draw < 0.80:
                    status = client.post("/v1/embeddings", json={"model": "text-embedding-3-small",
                                                                 "input": f"text {rng.random()}"}).status_code
                elif draw < 0.85:
                    status = client.get("/v1/models").status_code
                elif draw < 0.90:
                    status = httpx.get(base + "/health", timeout=5).status_code  # a fresh connection
                else:
                    status = abuse(server.port, rng)
                tally.add(f"{status // 100}xx" if status else "no reply")
            except httpx.HTTPError as exc:
                tally.add(f"client error {type(exc).__name__}")
            time.sleep(rng.uniform(0.0, 0.01))


def abuse(port: int, rng: random.Random) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if rng.random() < 0.2:  # half a request, then silence: the server must time it out
            sock.sendall(b"GET /health HTTP/1.1\r\nHost")
        else:
            sock.sendall(rng.choice(ABUSE))
        try:
            head = sock.recv(64)
        except TimeoutError:
            return 0
        return int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else 0


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / var * 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-fraction", type=float, default=0.2, help="samples ignored for the slope")
    parser.add_argument("--out", type=Path, default=harness.BENCH_DIR / "results" / "soak.json")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="sentra-soak-"))
    server = harness.start_sentra(workdir, mode="default", processes=args.processes, config=SOAK_CONFIG, name="soak")
    tally, stop = Tally(), threading.Event()
    series: dict[int, list[tuple[float, float]]] = {}
    roles: dict[int, str] = {}
    started = time.monotonic()
    clients = [threading.Thread(target=client_loop, args=(server, seed, stop, tally), daemon=True)
               for seed in range(args.clients)]
    try:
        for thread in clients:
            thread.start()
        deadline = started + args.minutes * 60
        while time.monotonic() < deadline:
            now = time.monotonic() - started
            for row in server.memory():
                series.setdefault(row["pid"], []).append((now, row["rss_mb"]))
                roles.setdefault(row["pid"], role_of(server, row["pid"]))
            time.sleep(min(args.sample_seconds, max(0.0, deadline - time.monotonic())))
        stop.set()
        for thread in clients:
            thread.join(35)
        restarts = server.log().count("exited with code")
    finally:
        server.stop()

    warm_from = args.minutes * 60 * args.warmup_fraction
    processes = []
    for pid, points in sorted(series.items()):
        warm = [p for p in points if p[0] >= warm_from]
        slope = slope_mb_per_hour(warm)
        processes.append({"pid": pid, "role": roles.get(pid, "?"), "samples": len(points),
                          "rss_first_mb": round(points[0][1], 1), "rss_last_mb": round(points[-1][1], 1),
                          "rss_slope_mb_per_hour": None if slope is None else round(slope, 2)})
    result = {"minutes": args.minutes, "processes": args.processes, "clients": args.clients,
              "outcomes": dict(tally.counts), "worker_restarts": restarts, "by_process": processes,
              "machine": harness.machine_info()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"soak {args.minutes:g} min, {args.processes} worker process(es), {args.clients} clients")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.counts.items())))
    print(f"worker restarts: {restarts}")
    for row in processes:
        print(f"  pid {row['pid']:>7} {row['role']:<10} RSS {row['rss_first_mb']:7.1f} -> {row['rss_last_mb']:7.1f} MB, "
              f"slope {row['rss_slope_mb_per_hour']} MB/hour (after warm-up)")
    print(f"results: {args.out}")
    bad = sum(v for k, v in tally.counts.items() if k.startswith("5") or k.startswith("client error"))
    return 1 if bad or restarts else 0


if __name__ == "__main__":
    sys.exit(main())
