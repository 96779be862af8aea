"""Processes in tests: races between processes (the limiter stores shared across processes), and finding a
server's worker process (to stop it while the front answers)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def run_together(ctx: Any, target: Callable[..., None], args_per_child: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Starts one `ctx` process per args tuple running `target(start, results, *args)`, releases them at once
    (`start` is an Event) so their work overlaps, and returns the one value each puts in `results` (a Queue), in
    the order they arrive; every child must exit cleanly."""
    start, results = ctx.Event(), ctx.Queue()
    children = [ctx.Process(target=target, args=(start, results, *args)) for args in args_per_child]
    for child in children:
        child.start()
    start.set()
    values = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(10)
        assert child.exitcode == 0
    return values


def listener_pid(port: int) -> int:
    """The process holding the loopback listening socket of `port`: a worker, found by its socket rather than by
    its place among the supervisor's children (which also include the front and any helper process)."""
    inodes = {fields[9] for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
              if fields[1].endswith(f":{port:04X}") and fields[3] == "0A"}  # 0A: LISTEN
    assert inodes, f"nothing listens on {port}"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            return int(pid)
    raise AssertionError(f"no process holds the socket listening on {port}")


def worker_port(server_log: str) -> int:
    """The loopback port of a one-process server's worker, as its log names it."""
    match = re.search(r"workers listen on 127\.0\.0\.1:(\d+)", server_log)
    assert match, "the server log names no worker port"
    return int(match.group(1))


def worker_pid(server_log: str) -> int:
    """The worker of a one-process server, from the port its log says the workers listen on."""
    return listener_pid(worker_port(server_log))


def stop(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP, then wait until every thread of `pid` has stopped: the signal only asks, and a thread that has not
    yet seen it (one waiting for a CPU on a busy machine) can still answer a request sent meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                states.append(Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()[0])
            except OSError:
                continue  # the thread ended
        if all(state in "Tt" for state in states):
            return
        time.sleep(0.001)
    raise AssertionError(f"process {pid} did not stop within {timeout} s")
