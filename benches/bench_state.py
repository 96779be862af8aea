"""State store throughput: put / get / update / list per second for each store (memory, sqlite, redis when a
redis-server binary exists), from one process and from two processes writing at once (sqlite and redis: the shared
stores). Documents are the size of a small stored response (~2 KB of JSON).

Usage: python benches/bench_state.py [--seconds S]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sentra_openai.state import MemoryStore
from sentra_openai.state.sqlite import SqliteStore

DOC = {"response": {"id": "resp_x", "output": [{"type": "message", "content": [{"text": "word " * 350}]}]}}


def _rate(seconds: float, operation) -> float:
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(50):
            operation(done)
            done += 1
    return done / elapsed


def measure(store, seconds: float, tag: str = "") -> dict[str, float]:
    now = time.time()
    rates = {"put": _rate(seconds, lambda n: store.put("bench", f"{tag}d{n}", DOC, parent="p", created_at=now))}
    rates["get"] = _rate(seconds, lambda n: store.get("bench", f"{tag}d{n % 1000}"))
    rates["update"] = _rate(seconds, lambda n: store.update("bench", f"{tag}d{n % 1000}", lambda d: {**d, "n": n}))
    rates["list(20)"] = _rate(seconds, lambda n: store.list("bench", parent="p", limit=20))
    return rates


def _worker(store, seconds, tag, queue) -> None:
    queue.put(measure(store, seconds, tag))


def two_processes(store, seconds: float) -> dict[str, float]:
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    workers = [fork.Process(target=_worker, args=(store, seconds, f"w{i}", queue)) for i in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    return {op: sum(r[op] for r in results) for op in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    stores = {"memory": MemoryStore(), "sqlite": SqliteStore(str(tmp / "bench.sqlite3"))}
    redis_server = None
    if shutil.which("redis-server"):
        from redis_server import RedisServer
        from sentra_openai.state.redis_store import RedisStore

        redis_server = RedisServer(tmp)
        redis_server.start()
        stores["redis"] = RedisStore(redis_server.url)
    try:
        print(f"{'store':<8} {'procs':>5} " + " ".join(f"{op:>10}" for op in ("put", "get", "update", "list(20)")))
        for name, store in stores.items():
            for procs in (1, 2) if name != "memory" else (1,):
                store.clear()
                rates = measure(store, args.seconds) if procs == 1 else two_processes(store, args.seconds)
                print(f"{name:<8} {procs:>5} " + " ".join(f"{rates[op]:>10.0f}" for op in rates))
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
