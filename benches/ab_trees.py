"""A/B of two trees of this repo under the same load: a git revision ("old", built in a worktree of its own) against
the current checkout ("new"), served side by side and loaded in alternated rounds.

    python benches/ab_trees.py 5df5d74                         # stored Responses, 1 and 2 processes, 3 x 6 s rounds
    python benches/ab_trees.py HEAD~2 --case chat --procs 2 --rounds 5
    python benches/ab_trees.py 5df5d74 --keep /tmp/ab-5df5d74  # keep the built worktree: the next run skips the build

old: `git worktree add --detach` of REV in a temporary directory, its wheel built by `maturin build --release`, the
wheel's sentra_openai/_native.abi3.so put into the worktree's python/sentra_openai/, served with
PYTHONPATH=<worktree>/python. new: the package installed from this checkout (PYTHONPATH emptied), as its working
tree is now, uncommitted changes included.

Cases are bench_load's figures: stored (ours_responses_stored: POST /v1/responses repeated, stored by default),
responses (ours_responses: the same with store false), chat (ours: post_chat.lua's repeated request), unique
(ours_unique_prompts: a new prompt on every request) and engine (ours_engine: the repeated chat request with
server.front_replay off). For each process count both servers are started (fast mode, a workdir each, so no state
file is shared), checked (the case's request answers 200, a stored response reads back, every process maps the native
module of its own tree), warmed up, then loaded by wrk -t1 -c50 in alternated rounds, old first. Per round: req/s,
server CPU us per request (bench_load._timed_run), p50, p99; then the medians and the new/old ratios.

Why alternate: on the 2-core reference machine a single run moves by a quarter from one to the next (the bare Robyn
ceiling alone gave 15.2-19.1 k req/s with 1 process, README "Latest figures"), more than most changes worth
measuring. Rounds of the two trees taken in turn within one session see the same drift, so their ratio holds where
two separate runs, or two sessions, would not.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import bench_load
import harness
import loadgen

REPO = harness.REPO
NATIVE = Path("python/sentra_openai/_native.abi3.so")
WHEEL_NATIVE = "sentra_openai/_native.abi3.so"
AUTH = {"Authorization": "Bearer sk-bench-0001"}  # post_chat.lua's key, so the preflight is the load's request


@dataclass(frozen=True)
class Case:
    figure: str  # bench_load's name for it in results/latest.json
    path: str
    body: str | None  # None: post_chat.lua's body
    unique: bool = False
    config: dict | None = None
    stored: bool = False


_EXTRA = {name: (path, body, unique) for name, path, body, unique in bench_load.EXTRA_RUNS}
CASES = {
    "stored": Case("ours_responses_stored", *_EXTRA["ours_responses_stored"], stored=True),
    "responses": Case("ours_responses", *_EXTRA["ours_responses"]),
    "chat": Case("ours", bench_load.CHAT_PATH, None),
    "unique": Case("ours_unique_prompts", *_EXTRA["ours_unique_prompts"]),
    "engine": Case("ours_engine", bench_load.CHAT_PATH, None, config=bench_load.ENGINE_CONFIG),
}


def _on_term(signum, frame):  # an exception, so the finally blocks stop the servers and remove the worktree
    raise SystemExit(128 + signum)


def _git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _toplevel(path: Path) -> Path | None:
    # --show-toplevel, not HEAD alone: inside a directory of another repo, git would answer for that repo.
    done = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          check=False)
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


def prepare_old(commit: str, tree: Path, scratch: Path) -> None:
    """A worktree of `commit` at `tree` with its own native module built; reused as is if it already has both."""
    if tree.exists() and _toplevel(tree) == tree.resolve():
        head = _git("rev-parse", "HEAD", cwd=tree)
        if head != commit:
            raise SystemExit(f"{tree} is a worktree of {head[:12]}, not {commit[:12]}: remove it or --keep elsewhere")
        if (tree / NATIVE).exists():
            print(f"old: reusing {tree} and its built {NATIVE.name}")
            return
    elif tree.exists() and any(tree.iterdir()):
        raise SystemExit(f"{tree} exists and is not a worktree of this repo")
    else:
        _git("worktree", "add", "--detach", str(tree), commit)
    maturin = shutil.which("maturin")
    if maturin is None:
        raise SystemExit("maturin is needed to build the old tree (pip install maturin)")
    dist, log = scratch / "dist", scratch / "maturin.log"
    print(f"old: building {commit[:12]} in {tree} (maturin build --release) ...", flush=True)
    started = time.monotonic()
    with open(log, "wb") as out:
        # The interpreter given, so maturin does not go looking for others; the wheel is abi3 either way. A session
        # of its own, so that an interrupted run stops cargo and rustc too, not only maturin.
        build = subprocess.Popen([maturin, "build", "--release", "--quiet", "-i", sys.executable, "-o", str(dist)],
                                 cwd=tree, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            build.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(build.pid, signal.SIGKILL)
            build.wait()
            raise
    if build.returncode != 0:
        raise SystemExit(f"maturin build of {commit[:12]} failed (exit {build.returncode}):\n"
                         f"{log.read_text(errors='replace')[-3000:]}")
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {dist}, found {[w.name for w in wheels]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        native = wheel.read(WHEEL_NATIVE)
    target = tree / NATIVE
    target.write_bytes(native)
    target.chmod(0o755)
    print(f"old: built in {time.monotonic() - started:.0f} s, {wheels[0].name} -> {target}")


def remove_worktree(tree: Path) -> None:
    # Only our path: `git worktree prune` would also drop other people's worktrees whose directory is gone.
    if tree.exists() and _toplevel(tree) == tree.resolve():
        done = subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"WARNING: could not remove the worktree {tree}: {done.stderr.strip()}", file=sys.stderr)


def native_report(old_tree: Path) -> None:
    """Warns when the current checkout's built native module predates its Rust sources: "new" would run old Rust."""
    new_so, old_so = REPO / NATIVE, old_tree / NATIVE
    if not new_so.exists():
        print(f"WARNING: no {NATIVE} in {REPO}: the 'new' side imports whatever sentra_openai is installed")
        return
    sources = [p for p in (REPO / "rust").rglob("*") if p.is_file() and "target" not in p.parts]
    sources += [REPO / "Cargo.toml", REPO / "Cargo.lock"]
    newest = max((p for p in sources if p.exists()), key=lambda p: p.stat().st_mtime)
    same = filecmp.cmp(new_so, old_so, shallow=False)
    print(f"native: new .so built {time.ctime(new_so.stat().st_mtime)}, newest Rust input "
          f"{newest.relative_to(REPO)} {time.ctime(newest.stat().st_mtime)}; the two .so files "
          f"{'are IDENTICAL' if same else 'differ'}")
    if newest.stat().st_mtime > new_so.stat().st_mtime:
        print(f"WARNING: {new_so} is older than {newest.relative_to(REPO)}: the 'new' side runs stale Rust "
              f"(rebuild: maturin develop --release, or pip install -e .)")


def tree_stamp() -> dict:
    """What a 'new' server loads at its start: the checkout's .so and its newest .py file. Another change to the
    working tree during a block would leave the figures of a mix of versions."""
    so = REPO / NATIVE
    so_stat = so.stat() if so.exists() else None
    newest = max((REPO / "python/sentra_openai").rglob("*.py"), key=lambda p: p.stat().st_mtime_ns)
    return {"so": (so_stat.st_ino, so_stat.st_mtime_ns, so_stat.st_size) if so_stat else None,
            "py": (str(newest), newest.stat().st_mtime_ns)}


def native_paths(server: harness.Server) -> dict[int, list[str]]:
    """Per live process of the server: the sentra_openai _native shared objects it has mapped (/proc/<pid>/maps)."""
    out = {}
    for pid in server.pids():
        found = set()
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    if "_native" in line and "sentra_openai" in line:
                        found.add(os.path.realpath(line.split(None, 5)[-1].strip()))
        except OSError:
            continue
        out[pid] = sorted(found)
    return out


def check_native(side: str, server: harness.Server, processes: int, root: Path) -> dict[int, list[str]]:
    """Every process of the server (the parent and its workers) maps the native module of its own tree, and only it:
    a module found on the wrong path (an editable install shadowing PYTHONPATH) would compare a tree with itself."""
    prefix = os.path.realpath(root) + "/"
    wanted = processes + 1 if processes > 1 else 1
    deadline = time.monotonic() + 10
    while True:
        paths = native_paths(server)  # workers import the module after their fork: wait until each has it
        if len(paths) >= wanted and all(paths.values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{side}: the native module is not mapped in every process: {paths}")
        time.sleep(0.2)
    for pid, files in paths.items():
        if not all(f.startswith(prefix) for f in files):
            raise RuntimeError(f"{side}: pid {pid} maps {files}, expected under {prefix}")
    print(f"  {side}: port {server.port}, pids {sorted(paths)}, native {sorted({f for v in paths.values() for f in v})}")
    return paths


def _request(server: harness.Server, path: str, body: str | None = None) -> tuple[int, dict | str]:
    headers = {**AUTH, "Content-Type": "application/json"} if body is not None else AUTH
    request = urllib.request.Request(server.url(path), data=body.encode() if body is not None else None,
                                     method="POST" if body is not None else "GET", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def preflight(side: str, server: harness.Server, case: Case) -> None:
    """wrk only counts statuses >= 400 as failed: a tree that answers the case with an error at once would otherwise
    show as fast. Checked by hand first, with the load's own request."""
    body = case.body if case.body is not None else loadgen._lua_body()
    status, answer = _request(server, case.path, body)
    if status != 200 or not isinstance(answer, dict):
        raise RuntimeError(f"{side}: POST {case.path} answered {status}: {str(answer)[:500]}\n{server.log()[-2000:]}")
    line = f"  {side}: POST {case.path} -> {status}, id {answer.get('id')}"
    if case.stored:
        # Stored means readable afterwards: a tree that answered without writing the row would skip the cost measured.
        got, _ = _request(server, f"{case.path}/{answer.get('id')}")
        line += f", store={answer.get('store')}; GET {case.path}/{{id}} -> {got}"
        if got != 200:
            raise RuntimeError(f"{side}: the stored response {answer.get('id')} cannot be read back ({got})")
    print(line)


def _fmt(side: str, r: int, m: dict) -> str:
    lat = m["latency_ms"]
    fail = f"  FAILED {m['failed']} {m['errors']}" if m["failed"] else ""
    return (f"  round {r} {side}: {m['rps']:9.1f} req/s  cpu {m['server_cpu_us_per_request']:7.1f} us/req  "
            f"p50 {lat['p50']:7.3f} ms  p99 {lat['p99']:7.3f} ms  cpu_s/proc {m['cpu_seconds_by_process']}  "
            f"n={m['requests']}{fail}")


def _medians(runs: list[dict]) -> dict:
    return {
        "rps": statistics.median(m["rps"] for m in runs),
        "cpu_us": statistics.median(m["server_cpu_us_per_request"] for m in runs),
        "p50_ms": statistics.median(m["latency_ms"]["p50"] for m in runs),
        "p99_ms": statistics.median(m["latency_ms"]["p99"] for m in runs),
        "failed": sum(m["failed"] for m in runs),
    }


def run_block(n: int, case: Case, sides: dict[str, tuple[dict, Path]], scratch: Path, tool: str,
              args: argparse.Namespace) -> dict:
    servers: dict[str, harness.Server] = {}
    stamp = tree_stamp()
    try:
        for side, (env, _) in sides.items():
            workdir = scratch / "runs" / f"{side}-p{n}"  # its own: state files and logs are never shared
            workdir.mkdir(parents=True)
            servers[side] = harness.start_sentra(workdir, mode="fast", processes=n, config=case.config,
                                                 name=f"{side}-p{n}", env=env)
        native = {side: check_native(side, server, n, sides[side][1]) for side, server in servers.items()}
        for side, server in servers.items():
            preflight(side, server, case)
        for server in servers.values():
            loadgen.run(tool, server.url(case.path), connections=50, seconds=args.warmup, unique=case.unique,
                        body=case.body)
        rounds: dict[str, list[dict]] = {side: [] for side in servers}
        for r in range(1, args.rounds + 1):
            for side, server in servers.items():  # dict order: old first in every round
                m = bench_load._timed_run(server, tool, args.seconds, unique=case.unique, path=case.path,
                                          body=case.body)
                rounds[side].append(m)
                print(_fmt(side, r, m), flush=True)
    finally:
        for server in servers.values():
            server.stop()
    changed = tree_stamp() != stamp
    if changed:
        print("  WARNING: this checkout's native .so or Python sources changed during the block (the 'new' servers "
              "may have loaded a mix): these figures are not valid, rerun")
    med = {side: _medians(runs) for side, runs in rounds.items()}
    for side, m in med.items():
        print(f"  median {side}: {m['rps']:.1f} req/s, {m['cpu_us']:.1f} us/req, p50 {m['p50_ms']:.3f} ms, "
              f"p99 {m['p99_ms']:.3f} ms, failed {m['failed']}")
    o, w = med["old"], med["new"]
    ratio = {k: round(w[k] / max(o[k], 1e-9), 3) for k in ("rps", "cpu_us", "p50_ms", "p99_ms")}
    print(f"  new/old: req/s x{ratio['rps']:.3f}, cpu/req x{ratio['cpu_us']:.3f}, p50 x{ratio['p50_ms']:.3f}, "
          f"p99 x{ratio['p99_ms']:.3f}")
    return {
        "native": {side: {str(pid): files for pid, files in paths.items()} for side, paths in native.items()},
        "median": med,
        "ratio_new_to_old": ratio,
        "tree_changed_during_block": changed,
        "rounds": {side: [{k: m[k] for k in ("rps", "server_cpu_us_per_request", "latency_ms", "failed", "errors",
                                             "requests", "cpu_seconds_by_process")} for m in runs]
                   for side, runs in rounds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", metavar="REV", help="the old tree: any git revision of this repo")
    parser.add_argument("--case", choices=CASES, default="stored")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="process counts, one block each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each round (wrk -d, whole seconds)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load on each server before the rounds")
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="the old worktree's place, kept after the run; reused (no build) if it holds REV built")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write every round's figures to FILE")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_term)

    case = CASES[args.case]
    commit = _git("rev-parse", "--verify", f"{args.rev}^{{commit}}")
    tool = loadgen.ensure_tool()
    if case.unique and tool != "wrk":
        raise SystemExit("--case unique needs wrk (a new prompt per request is a wrk Lua script)")
    head = _git("rev-parse", "HEAD")
    dirty = bool(_git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no"))
    scratch = Path(tempfile.mkdtemp(prefix="sentra-ab-"))
    tree = args.keep.resolve() if args.keep else scratch / "old"
    results: dict = {}
    prepared = False
    try:
        prepare_old(commit, tree, scratch)
        prepared = True
        native_report(tree)
        # An empty PYTHONPATH is ignored by Python, so "new" imports the package installed from this checkout.
        sides = {"old": ({"PYTHONPATH": str(tree / "python")}, tree), "new": ({"PYTHONPATH": ""}, REPO)}
        body = case.body if case.body is not None else ("(unique prompts)" if case.unique else loadgen._lua_body())
        print(f"case {args.case} ({case.figure}): POST {case.path} {body}"
              f"{'; config ' + json.dumps(case.config) if case.config else ''}")
        print(f"old {commit[:12]} ({args.rev}), new {head[:12]}{' + uncommitted changes' if dirty else ''}; "
              f"{tool} -t1 -c50 -d{max(1, round(args.seconds))}s, {args.rounds} rounds each, old first; "
              f"loadavg {os.getloadavg()}")
        results = {"rev": args.rev, "old_commit": commit, "new_head": head, "new_dirty": dirty, "case": args.case,
                   "figure": case.figure, "path": case.path, "body": body, "config": case.config, "tool": tool,
                   "seconds": args.seconds, "rounds": args.rounds, "machine": harness.machine_info(), "by_procs": {}}
        for n in args.procs:
            print(f"\n=== processes {n} ===")
            results["by_procs"][str(n)] = run_block(n, case, sides, scratch, tool, args)
    finally:
        # Cleaned up before anything is printed: a print can fail too (a closed pipe) and would skip the rest.
        if not args.keep:
            remove_worktree(tree)
        shutil.rmtree(scratch, ignore_errors=True)
        if args.keep and prepared:
            print(f"\nkept the old worktree {tree} (git worktree remove --force {tree})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    failed = sum(m["failed"] for block in results["by_procs"].values() for m in block["median"].values())
    if failed:
        print(f"WARNING: {failed} failed requests: the figures are not of successful completions")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
