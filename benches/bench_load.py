"""Benchmarks 1 and 2: non-streaming throughput and latency overhead, sentra-openai vs a bare Robyn ceiling.

For each process count N, the Robyn ceiling (benches/robyn_ceiling.py) and `serve --mode fast --processes N` are
started in turn, warmed up, then loaded by wrk at 50 keep-alive connections for `runs` runs; the median run by
requests/s is reported. Ceiling and ours alternate so that drift in the machine's background load hits both alike.

Overhead: at 50 connections the p99 is mostly queueing (50 connections / throughput), so it is reported next to
the ceiling's, and a 1-connection run gives the per-request service time without any queue.
"""

from __future__ import annotations

import time

import harness
import loadgen

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
RESPONSES_BODY = '{"model":"gpt-4o-mini","input":"Summarize the benefits of unit tests.","max_output_tokens":16%s}'
# Extra single runs on the same server as "ours": (name, path, body or None for post_chat.lua's, unique prompts).
# A repeated request whose answer is a pure function of it is answered by the front from its first answer (README
# "Benchmarks": front replay); so is a stored response (Responses' default), whose row the front writes itself.
EXTRA_RUNS = (
    ("ours_unique_prompts", CHAT_PATH, None, True),
    ("ours_responses", RESPONSES_PATH, RESPONSES_BODY % ',"store":false', False),
    ("ours_responses_stored", RESPONSES_PATH, RESPONSES_BODY % "", False),
)
# The same server with front replay off: every request through the engine, as before issue 12's replay.
ENGINE_CONFIG = {"server": {"front_replay": False}}


def _plan(quick: bool) -> dict:
    if quick:
        return {"warmup_s": 1, "run_s": 3, "runs": 1, "single_s": 2}
    return {"warmup_s": 2, "run_s": 6, "runs": 3, "single_s": 3}


def _timed_run(server: harness.Server, tool: str, seconds: float, *, unique: bool = False, path: str = CHAT_PATH,
               body: str | None = None) -> dict:
    before = server.cpu_by_pid()
    measured = loadgen.run(tool, server.url(path), connections=50, seconds=seconds, unique=unique, body=body)
    after = server.cpu_by_pid()
    used = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    # Server CPU per request does not depend on how much CPU the load generator or other work took: it is the
    # efficiency figure that stays comparable on a busy machine.
    measured["server_cpu_us_per_request"] = round(sum(used.values()) * 1e6 / max(measured["requests"], 1), 1)
    # How the work spread over the processes (the parent of a pool only supervises): an uneven split means the
    # shared listen socket handed most connections to one worker.
    measured["cpu_seconds_by_process"] = [round(used[pid], 2) for pid in sorted(used)]
    return measured


def _summary_of(run: dict) -> dict:
    return {k: run[k] for k in ("rps", "latency_ms", "server_cpu_us_per_request", "failed", "requests")}


def _measure(server: harness.Server, tool: str, plan: dict, *, single: bool) -> dict:
    url = server.url(CHAT_PATH)
    loadgen.run(tool, url, connections=50, seconds=plan["warmup_s"])
    runs = [_timed_run(server, tool, plan["run_s"]) for _ in range(plan["runs"])]
    median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    result = {
        "rps": median["rps"],
        "rps_runs": [r["rps"] for r in runs],
        "latency_ms": median["latency_ms"],
        "server_cpu_us_per_request": median["server_cpu_us_per_request"],
        "cpu_seconds_by_process_runs": [r["cpu_seconds_by_process"] for r in runs],
        "failed": sum(r["failed"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "command": median["command"],
        "workers_alive": len(server.pids()),
    }
    # Statuses >= 400 or socket errors mean the figures are not of successful completions: say so loudly.
    result["error_rate"] = round(result["failed"] / max(result["requests"], 1), 4)
    if single:
        one = loadgen.run(tool, url, connections=1, seconds=plan["single_s"])
        result["single_connection"] = {"rps": one["rps"], "latency_ms": one["latency_ms"], "failed": one["failed"]}
    return result


def run(ctx, *, processes: tuple[int, ...] = (1, 2), runs: int | None = None) -> dict:
    plan = _plan(ctx.quick)
    if runs is not None:
        plan["runs"] = runs
    tool = loadgen.ensure_tool()
    by_n: dict[str, dict] = {}
    for n in processes:
        entry: dict = {}
        for kind in ("ceiling", "ours", "ours_engine"):
            if kind == "ceiling":
                server = harness.start_ceiling(ctx.workdir, processes=n)
            else:
                server = harness.start_sentra(ctx.workdir, mode="fast", processes=n, name=f"sentra-{kind}-p{n}",
                                              config=ENGINE_CONFIG if kind == "ours_engine" else None)
            try:
                started = time.monotonic()
                if kind == "ours_engine":  # one run: the engine path's figure, next to the replayed one
                    loadgen.run(tool, server.url(CHAT_PATH), connections=50, seconds=plan["warmup_s"])
                    entry[kind] = _summary_of(_timed_run(server, tool, plan["run_s"]))
                    continue
                entry[kind] = _measure(server, tool, plan, single=(n == 1))
                if kind == "ours" and tool == "wrk":
                    for name, path, body, unique in EXTRA_RUNS:
                        if not unique:
                            loadgen.run(tool, server.url(path), connections=50, seconds=1, body=body)
                        entry[name] = _summary_of(_timed_run(server, tool, plan["run_s"], unique=unique, path=path,
                                                             body=body))
                        if entry[name]["failed"]:
                            ctx.say(f"  WARNING: ours N={n} {name}: {entry[name]['failed']} failed requests")
                entry[kind]["wall_s"] = round(time.monotonic() - started, 1)
                if entry[kind]["error_rate"] > 0:
                    ctx.say(f"  WARNING: {kind} N={n}: {entry[kind]['failed']} failed requests "
                            f"({entry[kind]['error_rate']:.1%}); see {server.log_path}")
            finally:
                server.stop()
        entry["ratio_ours_to_ceiling"] = round(entry["ours"]["rps"] / entry["ceiling"]["rps"], 3)
        entry["cpu_ratio_ceiling_to_ours"] = round(entry["ceiling"]["server_cpu_us_per_request"]
                                                   / max(entry["ours"]["server_cpu_us_per_request"], 1e-9), 3)
        for name in ("ours_engine", *(run[0] for run in EXTRA_RUNS)):
            if name in entry:
                entry[name]["ratio_to_ceiling"] = round(entry[name]["rps"] / entry["ceiling"]["rps"], 3)
        by_n[f"processes_{n}"] = entry
        others = ", ".join(f"{name} {entry[name]['rps']:.0f}" for name in ("ours_engine", *(r[0] for r in EXTRA_RUNS))
                           if name in entry)
        ctx.say(f"  load N={n}: ours {entry['ours']['rps']:.0f} rps ({others} rps), ceiling "
                f"{entry['ceiling']['rps']:.0f} rps (ratio {entry['ratio_ours_to_ceiling']:.2f})")
    load = {
        "what": "non-streaming POST /v1/chat/completions, fast mode, wrk -t1 -c50 (median of runs); one repeated "
                "prompt (answered by the front's replay after the first), plus one run each with a new prompt per "
                "request (ours_unique_prompts), POST /v1/responses repeated with store false (ours_responses) and "
                "stored (ours_responses_stored), and the repeated chat prompt with server.front_replay off "
                "(ours_engine: every request through the engine)",
        "tool": tool,
        "plan": plan,
        "request_body": loadgen._lua_body(),
        "results": by_n,
    }
    return {"load": load, "overhead": _overhead(by_n)}


def _overhead(by_n: dict) -> dict:
    """p99 at 50 connections with 1 process (ours vs ceiling), and the unqueued service time at 1 connection."""
    entry = by_n.get("processes_1")
    if entry is None:
        return {"skipped": "needs the 1-process load runs"}
    ours, ceiling = entry["ours"], entry["ceiling"]
    out = {
        "what": "server latency at 50 concurrent connections (wrk --latency, 1 process) and at 1 connection",
        "c50": {
            "ours_ms": {k: ours["latency_ms"][k] for k in ("p50", "p90", "p99")},
            "ceiling_ms": {k: ceiling["latency_ms"][k] for k in ("p50", "p90", "p99")},
            "added_p99_ms": round(ours["latency_ms"]["p99"] - ceiling["latency_ms"]["p99"], 3),
        },
    }
    if "single_connection" in ours and "single_connection" in ceiling:
        o, c = ours["single_connection"], ceiling["single_connection"]
        out["c1"] = {
            "ours_ms": {k: o["latency_ms"][k] for k in ("p50", "p90", "p99")},
            "ceiling_ms": {k: c["latency_ms"][k] for k in ("p50", "p90", "p99")},
            "added_p50_ms": round(o["latency_ms"]["p50"] - c["latency_ms"]["p50"], 3),
            "ours_rps": o["rps"],
            "ceiling_rps": c["rps"],
        }
    out["ours_p99_ms"] = ours["latency_ms"]["p99"]
    return out
