"""Process plumbing shared by the benchmarks: free ports, starting servers in their own session, readiness,
resident memory, and stopping every process a benchmark started (the whole process group, never by name).
"""

from __future__ import annotations

import http.client
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
HOST = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on. Checked, because Robyn binds with SO_REUSEPORT: a server started on a port that
    another SO_REUSEPORT server already holds starts without error and silently gets only part of the traffic."""
    for _ in range(20):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        if not listening(port):
            return port
    raise RuntimeError("no free port found")


def listening(port: int) -> int:
    """How many sockets listen on `port` (any address), from /proc/net/tcp{,6}."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                count += 1
    return count


def _health_ok(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=0.5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class Server:
    """A server started in a new session: its pid is its process-group id, so killpg reaches its forked workers."""

    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    startup_s: float | None = None

    @property
    def pgid(self) -> int:
        return self.process.pid

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def pids(self) -> list[int]:
        """Every live process of the group: the parent and, with --processes N, its N workers."""
        found = []
        for entry in os.listdir("/proc"):
            fields = _stat_fields(entry) if entry.isdigit() else None
            if fields is not None and int(fields[2]) == self.pgid and fields[0] != b"Z":
                found.append(int(entry))
        return sorted(found)

    def cpu_by_pid(self) -> dict[int, float]:
        """User + system CPU seconds used so far by each live process of the group (/proc/<pid>/stat)."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = {}
        for pid in self.pids():
            fields = _stat_fields(str(pid))
            if fields is not None:
                used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
        return used

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_pid().values())

    def memory(self) -> list[dict]:
        """RSS and PSS (KiB -> MiB) of each process. PSS splits pages shared by forked workers fairly."""
        rows = []
        for pid in self.pids():
            row = {"pid": pid, "role": "parent" if pid == self.pgid else "worker"}
            row["rss_mb"] = _status_kib(pid, "VmRSS") / 1024
            row["pss_mb"] = _rollup_kib(pid, "Pss") / 1024
            row["threads"] = int(_status_value(pid, "Threads") or 0)
            rows.append(row)
        return rows

    def stop(self, graceful_s: float = 3.0) -> None:
        """SIGTERM to the group, then SIGKILL to whatever is left (Robyn's single process may ignore SIGTERM)."""
        if self.process.poll() is None or self.pids():
            _signal_group(self.pgid, signal.SIGTERM)
            deadline = time.monotonic() + graceful_s
            while time.monotonic() < deadline and self.pids():
                time.sleep(0.05)
            _signal_group(self.pgid, signal.SIGKILL)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class PeakMemory:
    """Highest RSS seen per process of a server, fed by calling `sample()` now and then."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.rows: dict[int, dict] = {}

    def sample(self) -> None:
        for row in self.server.memory():
            if row["rss_mb"] >= self.rows.get(row["pid"], {}).get("rss_mb", 0.0):
                self.rows[row["pid"]] = row


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _status_value(pid: int, key: str) -> str | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return line.split()[1]
    except OSError:
        return None
    return None


def _status_kib(pid: int, key: str) -> float:
    value = _status_value(pid, key)
    return float(value) if value else 0.0


def _rollup_kib(pid: int, key: str) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def start(name: str, command: Sequence[str], port: int, workdir: Path, *, health_path: str = "/health",
          ready_timeout: float = 20.0, env: dict[str, str] | None = None) -> Server:
    """Launches `command`, then measures launch -> first 200 on `health_path` (polled every 5 ms)."""
    log_path = workdir / f"{name}-{port}.log"
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PORT", "METRICS_PORT", "CONFIG_PATH", "SENTRA_MODE", "REDIS_URL")}
    environment.update(env or {})
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=environment, cwd=workdir, start_new_session=True)
    server = Server(name, process, port, log_path)
    deadline = started + ready_timeout
    try:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log()[-3000:]}")
            if _health_ok(port, health_path):
                server.startup_s = time.perf_counter() - started
                return server
            time.sleep(0.005)
        raise RuntimeError(f"{name} did not answer 200 on {health_path} within {ready_timeout} s:\n{server.log()[-3000:]}")
    except BaseException:
        server.stop(graceful_s=0.5)
        raise


def write_config(workdir: Path, name: str, config: dict) -> Path:
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_sentra(workdir: Path, *, mode: str, processes: int, config: dict | None = None,
                 name: str | None = None, env: dict[str, str] | None = None) -> Server:
    """`python -m sentra_openai serve` on free ports; metrics stay on (as users run it), on their own port."""
    port, metrics_port = free_port(), free_port()
    name = name or f"sentra-{mode}-p{processes}"
    command = [sys.executable, "-m", "sentra_openai", "serve", "--mode", mode, "--processes", str(processes),
               "--port", str(port), "--metrics-port", str(metrics_port)]
    if config:
        command += ["--config", str(write_config(workdir, f"{name}-config", config))]
    # Its stored responses go in the run's directory, removed with it (the default, a file per port in the system
    # temp dir, outlives the run: a load run of stored responses leaves ~70 MB there).
    state = {"SENTRA_STATE_PATH": str(workdir / f"{name}-{port}.state.sqlite3")}
    return start(name, command, port, workdir, env={**state, **(env or {})})


def start_ceiling(workdir: Path, *, processes: int) -> Server:
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "robyn_ceiling.py"), "--port", str(port), "--processes", str(processes)]
    return start(f"robyn-ceiling-p{processes}", command, port, workdir)


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in ("robyn", "orjson", "httpx", "tiktoken", "uvloop", "sentra-openai"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "git_head": _git_head(),
        "loadavg_at_start": os.getloadavg(),
    }


def _git_head() -> str | None:
    """The checked-out commit, read from .git without running git."""
    head = REPO / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref_path = REPO / ".git" / ref[5:]
            if ref_path.exists():
                return ref_path.read_text().strip()
            packed = REPO / ".git" / "packed-refs"
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref[5:]):
                    return line.split()[0]
            return None
        return ref
    except OSError:
        return None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _stat_fields(pid: str) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None for a vanished process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name may contain spaces; the fields after its closing paren are positional.
    return stat[stat.rindex(b")") + 2:].split()
