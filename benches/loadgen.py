"""HTTP load from a real tool: wrk (Debian's package) with benches/post_chat.lua, or oha when wrk cannot be had.

Both report the same shape: {"tool", "rps", "requests", "errors", "latency_ms": {p50, p75, p90, p99, ...}}.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "post_chat.lua"


def _lua_body() -> str:
    """The request body the Lua script sends, so that oha sends the very same one."""
    match = re.search(r"^local default_body = '(.*)'$", LUA_SCRIPT.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no wrk.body line in {LUA_SCRIPT}")
    return match.group(1)


def ensure_tool() -> str:
    """'wrk' if it is (or can be made) available, else 'oha' (installed with cargo), else an error."""
    if shutil.which("wrk"):
        return "wrk"
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
        if not shutil.which("wrk"):  # the package list may be missing on a fresh machine
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
        if shutil.which("wrk"):
            return "wrk"
    if shutil.which("oha") or _cargo_bin("oha").exists():
        return "oha"
    if shutil.which("cargo"):
        subprocess.run(["cargo", "install", "oha", "--locked"], capture_output=True, check=False)
        if _cargo_bin("oha").exists() or shutil.which("oha"):
            return "oha"
    raise RuntimeError("no load generator: `apt-get install wrk` and `cargo install oha` both failed")


def _cargo_bin(name: str) -> Path:
    return Path.home() / ".cargo" / "bin" / name


UNIQUE_LUA_SCRIPT = BENCH_DIR / "post_chat_unique.lua"


def run(tool: str, url: str, *, connections: int, seconds: float, threads: int = 1, unique: bool = False,
        body: str | None = None) -> dict:
    """`unique`: a new prompt on every request (wrk only; oha can only repeat one body). `body`: another body to
    repeat than post_chat.lua's (for another endpoint in `url`)."""
    if tool == "wrk":
        return _run_wrk(url, connections=connections, seconds=seconds, threads=threads, unique=unique, body=body)
    if unique:
        raise RuntimeError("unique prompts need wrk's Lua scripting; oha repeats one body")
    return _run_oha(url, connections=connections, seconds=seconds, body=body)


def _run_wrk(url: str, *, connections: int, seconds: float, threads: int, unique: bool = False,
             body: str | None = None) -> dict:
    duration = f"{max(1, round(seconds))}s"
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency", "--timeout", "5s",
               "-s", str(UNIQUE_LUA_SCRIPT if unique else LUA_SCRIPT), url]
    env = {**os.environ, "SENTRA_BENCH_BODY": body} if body is not None else None
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30,
                               check=False, env=env)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(line[len("WRKJSON "):])
    seconds_run = data["duration_us"] / 1e6
    errors = data["errors"]
    return {
        "tool": "wrk",
        "command": " ".join(command),
        "connections": connections,
        "duration_s": round(seconds_run, 3),
        "requests": data["requests"],
        "rps": round(data["requests"] / seconds_run, 1) if seconds_run else 0.0,
        "errors": errors,
        "failed": sum(errors.values()),
        "latency_ms": {key: round(value / 1000, 3) for key, value in data["latency_us"].items()},
    }


def _run_oha(url: str, *, connections: int, seconds: float, body: str | None = None) -> dict:
    binary = shutil.which("oha") or str(_cargo_bin("oha"))
    command = [binary, "-z", f"{max(1, round(seconds))}s", "-c", str(connections), "-m", "POST",
               "-H", "Content-Type: application/json", "-H", "Authorization: Bearer sk-bench-0001",
               "-d", body if body is not None else _lua_body(), "--no-tui", "-j", url]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30,
                               check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"oha failed (exit {completed.returncode}):\n{completed.stderr}")
    data = json.loads(completed.stdout)
    statuses = {int(code): count for code, count in data.get("statusCodeDistribution", {}).items()}
    requests = sum(statuses.values())
    bad_status = sum(count for code, count in statuses.items() if code >= 400)
    transport = sum(data.get("errorDistribution", {}).values())
    summary = data["summary"]
    percentiles = data["latencyPercentiles"]  # seconds
    return {
        "tool": "oha",
        "command": " ".join(command),
        "connections": connections,
        "duration_s": round(summary["total"], 3),
        "requests": requests,
        "rps": round(summary["requestsPerSec"], 1),
        "errors": {"status": bad_status, "transport": transport},
        "failed": bad_status + transport,
        "latency_ms": {
            "min": summary["fastest"] * 1000, "mean": summary["average"] * 1000,
            "p50": percentiles["p50"] * 1000, "p75": percentiles["p75"] * 1000, "p90": percentiles["p90"] * 1000,
            "p99": percentiles["p99"] * 1000, "p999": percentiles["p99.9"] * 1000, "max": summary["slowest"] * 1000,
        },
    }
