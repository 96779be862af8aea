"""What the front layer costs: wrk against the public port (through the front) and straight at a worker's loopback
port (bypassing it), interleaved round by round so both see the same background load. Reports requests/s and the
server's CPU per request (every process of the group, and the front process's share) and the p99 for both paths.

    python benches/front_overhead.py                     # 5 rounds of 5 s each way, 1 worker
    python benches/front_overhead.py --rounds 3 --seconds 8 --processes 2
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

import harness
import loadgen


def worker_ports(server: harness.Server) -> list[int]:
    for _ in range(100):
        match = re.search(r"workers listen on (.+)", server.log())
        if match:
            return [int(part.rsplit(":", 1)[1]) for part in match.group(1).split(", ")]
        import time

        time.sleep(0.05)
    raise RuntimeError("the server did not log its worker ports")


def front_pid(server: harness.Server) -> int | None:
    """The front process: the one with a thread named sentra-front…"""
    for pid in server.pids():
        try:
            names = {Path(task, "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()}
        except OSError:
            continue
        if any(name.startswith("sentra-front") for name in names):
            return pid
    return None


def measure(server: harness.Server, tool: str, port: int, seconds: float) -> tuple[float, float, float, float]:
    """req/s, server CPU µs per request, the front process's share of it, p99 ms."""
    front = front_pid(server)
    before = server.cpu_by_pid()
    result = loadgen.run(tool, f"http://{harness.HOST}:{port}/v1/chat/completions", connections=50, seconds=seconds)
    after = server.cpu_by_pid()
    requests = max(1, result["requests"])
    used = sum(after.values()) - sum(before.values())
    front_used = after.get(front, 0.0) - before.get(front, 0.0)
    return result["rps"], used / requests * 1e6, front_used / requests * 1e6, result["latency_ms"]["p99"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    tool = loadgen.ensure_tool()
    server = harness.start_sentra(Path(tempfile.mkdtemp(prefix="sentra-front-")), mode="fast", processes=args.processes)
    try:
        direct_port = worker_ports(server)[0] if args.processes == 1 else None
        if direct_port is None:
            raise SystemExit("bypassing the front needs --processes 1 (wrk can aim at one worker only)")
        loadgen.run(tool, server.url("/v1/chat/completions"), connections=50, seconds=2)  # warm-up
        rows = {"through the front": [], "straight to the worker": []}
        for _ in range(args.rounds):
            rows["through the front"].append(measure(server, tool, server.port, args.seconds))
            rows["straight to the worker"].append(measure(server, tool, direct_port, args.seconds))
    finally:
        server.stop()
    medians = {}
    for name, values in rows.items():
        rps = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        front = statistics.median(v[2] for v in values)
        p99 = statistics.median(v[3] for v in values)
        medians[name] = rps
        print(f"{name:<24} median {rps:8.0f} rps  {cpu:6.1f} us server CPU/request (front process {front:5.1f})  "
              f"p99 {p99:6.2f} ms  (runs: {', '.join(f'{v[0]:.0f}' for v in values)})")
    ratio = medians["through the front"] / medians["straight to the worker"]
    print(f"front/direct throughput ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
