"""Runs sentra-openai's benchmarks and writes benches/results/latest.json plus a short summary on stdout.

    python benches/run.py                 # everything (about 3 minutes on a 2-core machine)
    python benches/run.py --quick         # shorter runs, fewer repeats (about 45 s); noisier figures
    python benches/run.py load stream     # only some: load, overhead, stream, startup, micro

Benchmarks: load (non-streaming req/s vs a bare Robyn ceiling, wrk), overhead (p99 latency at 50 connections and
service time at 1), stream (100/500/1000 concurrent paced streams vs their exact ideal timing), startup (launch to
first 200, RSS/PSS idle and under load), micro (native limiter, cost, SSE framing, seeding the content RNG vs pure
Python). Running a subset
updates only those sections of latest.json. Every server started is stopped (its whole process group) before exit.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
import orjson

BENCHMARKS = ("load", "overhead", "stream", "startup", "micro")
DEFAULT_OUT = harness.BENCH_DIR / "results" / "latest.json"

# The project's targets on the 2-core reference machine (issues 5 and 12).
TARGETS = {
    "rps_2_processes": 10_000,
    "ratio_to_ceiling": 0.70,
    "unique_ratio_to_ceiling": 0.50,
    "cpu_ratio_to_ceiling": 1.5,
    "p99_ms_at_50_connections": 10.0,
    "stream_1000_median_error": 0.10,
    "rss_mb_per_process": 200.0,
    "startup_s": 1.0,
}


@dataclass
class Context:
    quick: bool
    workdir: Path
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)


def _run_selected(selected: list[str], ctx: Context) -> dict[str, dict]:
    import bench_load
    import bench_micro
    import bench_startup
    import bench_stream

    sections: dict[str, dict] = {}

    def stamp(section: dict, started: float) -> dict:
        section["ran_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        section["quick"] = ctx.quick
        section["seconds"] = round(time.monotonic() - started, 1)
        section["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        return section

    if "load" in selected or "overhead" in selected:
        started = time.monotonic()
        ctx.say("load/overhead ...")
        if "load" in selected:
            both = bench_load.run(ctx)
        else:  # overhead alone: only the 1-process pair, one run each
            both = bench_load.run(ctx, processes=(1,), runs=1)
        if "load" in selected:
            sections["load"] = stamp(both["load"], started)
        if "overhead" in selected:
            sections["overhead"] = stamp(both["overhead"], started)
    for name, module in (("stream", bench_stream), ("startup", bench_startup), ("micro", bench_micro)):
        if name in selected:
            started = time.monotonic()
            ctx.say(f"{name} ...")
            sections[name] = stamp(module.run(ctx), started)
    return sections


def _get(data: dict, *path: str):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def evaluate_targets(results: dict) -> dict:
    """Each target with the measured value and whether it is met (None when that benchmark has not run)."""
    checks: dict[str, dict] = {}

    def check(name: str, measured, goal, ok) -> None:
        checks[name] = {"measured": measured, "target": goal, "met": None if measured is None else bool(ok(measured))}

    rps2 = _get(results, "load", "results", "processes_2", "ours", "rps")
    check("rps_fast_2_processes", rps2, f">= {TARGETS['rps_2_processes']}", lambda v: v >= TARGETS["rps_2_processes"])
    for n in (1, 2):
        ratio = _get(results, "load", "results", f"processes_{n}", "ratio_ours_to_ceiling")
        check(f"ratio_to_robyn_ceiling_{n}_process{'es' if n > 1 else ''}", ratio, f">= {TARGETS['ratio_to_ceiling']}",
              lambda v: v >= TARGETS["ratio_to_ceiling"])
        plural = "es" if n > 1 else ""
        ours_cpu = _get(results, "load", "results", f"processes_{n}", "ours", "server_cpu_us_per_request")
        ceiling_cpu = _get(results, "load", "results", f"processes_{n}", "ceiling", "server_cpu_us_per_request")
        cpu_ratio = round(ours_cpu / ceiling_cpu, 2) if ours_cpu and ceiling_cpu else None
        check(f"cpu_per_request_vs_ceiling_{n}_process{plural}", cpu_ratio, f"<= {TARGETS['cpu_ratio_to_ceiling']}",
              lambda v: v <= TARGETS["cpu_ratio_to_ceiling"])
        for run, target in (("ours_unique_prompts", "unique_ratio_to_ceiling"), ("ours_responses", "ratio_to_ceiling"),
                            ("ours_responses_stored", "ratio_to_ceiling")):
            ratio = _get(results, "load", "results", f"processes_{n}", run, "ratio_to_ceiling")
            check(f"{run}_ratio_{n}_process{plural}", ratio, f">= {TARGETS[target]}", lambda v, t=target: v >= TARGETS[t])
    p99 = _get(results, "overhead", "ours_p99_ms")
    check("p99_ms_at_50_connections", p99, f"< {TARGETS['p99_ms_at_50_connections']}",
          lambda v: v < TARGETS["p99_ms_at_50_connections"])
    # The best process count that ran: the target names no process count.
    errors = [e for e in (_get(results, "stream", "results", key, "1000", "total", "p50_error_pct")
                          for key in (_get(results, "stream", "results") or {})) if e is not None]
    error = min(errors, key=abs) if errors else None
    check("stream_1000_median_duration_error_pct", error, f"within +-{TARGETS['stream_1000_median_error'] * 100:g}%",
          lambda v: abs(v) <= TARGETS["stream_1000_median_error"] * 100)
    startup = _get(results, "startup", "results")
    if isinstance(startup, dict) and startup:
        worst_rss = max(max(e["memory_idle"]["max_rss_mb"], e["memory_under_load"]["max_rss_mb"]) for e in startup.values())
        worst_start = max(e["startup_ms_median"] for e in startup.values()) / 1000
    else:
        worst_rss = worst_start = None
    check("max_rss_mb_per_process", worst_rss, f"< {TARGETS['rss_mb_per_process']:g}",
          lambda v: v < TARGETS["rss_mb_per_process"])
    check("startup_s", worst_start, f"< {TARGETS['startup_s']:g}", lambda v: v < TARGETS["startup_s"])
    return checks


def _summary(results: dict) -> list[str]:
    lines = []
    load = _get(results, "load", "results") or {}
    for key, entry in load.items():
        o, c = entry["ours"], entry["ceiling"]
        lines.append(f"load {key}: ours {o['rps']:,.0f} rps (p50 {o['latency_ms']['p50']} ms, p99 "
                     f"{o['latency_ms']['p99']} ms, {o['server_cpu_us_per_request']} us server CPU/request) | Robyn "
                     f"ceiling {c['rps']:,.0f} rps ({c['server_cpu_us_per_request']} us CPU/request) | ratio "
                     f"{entry['ratio_ours_to_ceiling']:.2f}" + (f" | {o['failed']} FAILED requests" if o["failed"] else ""))
        for name in ("ours_engine", "ours_unique_prompts", "ours_responses", "ours_responses_stored"):
            run = entry.get(name)
            if run:
                lines.append(f"load {key} {name}: {run['rps']:,.0f} rps (ratio {run.get('ratio_to_ceiling')}, p99 "
                             f"{run['latency_ms']['p99']} ms, {run['server_cpu_us_per_request']} us server CPU/request)")
    overhead = results.get("overhead") or {}
    if "c50" in overhead:
        lines.append(f"overhead c50 (1 process): ours p99 {overhead['c50']['ours_ms']['p99']} ms vs ceiling "
                     f"{overhead['c50']['ceiling_ms']['p99']} ms")
    if "c1" in overhead:
        lines.append(f"overhead c1: ours p50 {overhead['c1']['ours_ms']['p50']} ms vs ceiling "
                     f"{overhead['c1']['ceiling_ms']['p50']} ms (+{overhead['c1']['added_p50_ms']} ms per request)")
    stream = results.get("stream") or {}
    ideal = stream.get("ideal") or {}
    for key, levels in (stream.get("results") or {}).items():
        for level, s in levels.items():
            lines.append(f"stream {key} x{level}: ttft p50/p99 {s['ttft']['p50_s']}/{s['ttft']['p99_s']} s "
                         f"(ideal {ideal.get('ideal_ttft_s')}), total p50/p99 {s['total']['p50_s']}/{s['total']['p99_s']} s "
                         f"(ideal {ideal.get('ideal_total_s')}, p50 error {s['total']['p50_error_pct']}%), "
                         f"{s['completed']}/{s['streams']} ok")
    for key, e in ((_get(results, "startup", "results")) or {}).items():
        lines.append(f"startup {key}: {e['startup_ms_median']} ms to first /health 200; first chat "
                     f"{e['first_chat_completion_ms']} ms; RSS max idle {e['memory_idle']['max_rss_mb']} MB, "
                     f"under load {e['memory_under_load']['max_rss_mb']} MB; PSS sum under load "
                     f"{e['memory_under_load']['sum_pss_mb']} MB")
    for group, e in ((_get(results, "micro", "results")) or {}).items():
        rates = ", ".join(f"{k} {v:,}/s" for k, v in e["ops_per_s"].items())
        lines.append(f"micro {group}: {rates} (native x{e['native_speedup_vs_python']})")
    for name, t in (results.get("targets") or {}).items():
        mark = {True: "MET ", False: "MISS", None: "n/a "}[t["met"]]
        lines.append(f"target {mark} {name}: {t['measured']} (target {t['target']})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run sentra-openai's benchmarks.")
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                        help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="shorter runs and fewer repeats")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results file (default {DEFAULT_OUT})")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and configs")
    args = parser.parse_args(argv)
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    selected = args.benchmarks or list(BENCHMARKS)

    machine = harness.machine_info()
    print(f"machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, Python "
          f"{machine['python']}, robyn {machine['versions']['robyn']}; load average now "
          f"{', '.join(f'{x:.2f}' for x in machine['loadavg_at_start'])}", flush=True)
    if machine["loadavg_at_start"][0] > 0.5:
        print("warning: the machine is already busy; figures will be lower and noisier than on an idle machine",
              flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="sentra-bench-"))
    ctx = Context(quick=args.quick, workdir=workdir)
    failed = False
    try:
        sections = _run_selected(selected, ctx)
    except Exception as exc:  # report where the logs are, then fail
        print(f"benchmark failed: {exc}\nserver logs kept in {workdir}", file=sys.stderr)
        failed = True
        raise
    finally:
        if not failed and not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)

    results: dict = {}
    if args.out.exists():
        try:
            results = orjson.loads(args.out.read_bytes())
        except orjson.JSONDecodeError:
            results = {}
    results.pop("targets", None)
    results["machine"] = machine
    results.update(sections)
    results["targets"] = evaluate_targets(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print("\n== summary ==")
    for line in _summary(results):
        print(line)
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
