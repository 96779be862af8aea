"""Builds the container image (Dockerfile) with podman and checks it the way a container runtime would run it.

    python benches/container_check.py                         # build, check, print timings as JSON
    python benches/container_check.py --wheel-dir target/wheels   # hand in a prebuilt abi3 wheel
    python benches/container_check.py --require               # a missing tool is a failure, not a skip
    python benches/container_check.py --from-source           # the default build: the wheel compiled in the build

Where no registry and no working `podman run` are available (these machines: no CAP_SYS_RESOURCE, so the OCI
runtime cannot set rlimits), the check
1. makes a local base image once (debootstrap bookworm minbase with python3, python3-venv and ca-certificates;
   it trusts what the host trusts, so pip works behind a TLS-inspecting egress proxy) and keeps it as BASE_IMAGE;
2. builds a wheel on the host (maturin) and hands it to the build with `--build-context wheel=DIR`, which replaces
   the Dockerfile's `wheel` stage: no Rust toolchain is needed inside the build (the default build compiles from
   source in a rust image instead; --from-source runs that path too, with a local builder image made of the base,
   gcc and the host's Rust toolchain, cargo fetching crates.io);
3. `podman build --isolation chroot --format docker` with RUNTIME_IMAGE=BASE_IMAGE, then checks the image's
   metadata (non-root numeric user, ports 8080 and 9090, health check, entrypoint on 0.0.0.0);
4. `podman create` + `podman mount`, and runs the image's entrypoint and environment under chroot, as the image's
   user, in a private mount namespace (its own /proc, the host's /dev), first with `--host 127.0.0.1` appended (flags
   appended to the entrypoint win, and servers on the host's network listen on loopback only). It must answer /health, a chat
   completion through the official SDK and /metrics, honour the documented environment variables, and the image's
   HEALTHCHECK command must pass while the server runs and fail once it is stopped. Then the entrypoint unchanged
   (0.0.0.0, ports 8080 and 9090) in a network namespace of its own, reachable only from inside it: it must listen
   there, and keep the control API off on that bind unless control.token is set (container_runtime.py);
5. where a redis-server binary exists: two instances of the image sharing one set of limits through Redis, as in
   compose.yaml (an RPM of 2 across both: the third request, whichever instance gets it, is a 429), scraped by a
   Prometheus on which every query of the Grafana dashboard must find data (dashboard_queries.py).
Skips with exit status 0 where podman, root, unshare or chroot (or debootstrap, for the first base) are missing.
Needs network for Debian packages (debootstrap) and PyPI (the image installs the wheel's dependencies).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import dashboard_queries
import harness
from container_runtime import CHAT_BODY, CheckFailed, Instance, Mounted, post_chat
from container_runtime import run as _run

REPO = harness.REPO
BASE_IMAGE = "localhost/sentra-check-base:bookworm"
CHECK_IMAGE = "localhost/sentra-openai:check"
BUILDER_IMAGE = "localhost/sentra-check-builder:bookworm"
# debootstrap's defaults: a Debian mirror is the only network the base needs.
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
API_PORT, METRICS_PORT = 8080, 9090  # the image's EXPOSE, which are the config defaults (test_deploy_files.py)


class Skip(Exception):
    """A tool the check needs is missing here."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --------------------------------------------------------------------------------------------------------------------
# Tools, base image, wheel, image


def require_tools(need_debootstrap: bool) -> None:
    if os.geteuid() != 0:
        raise Skip("needs root (chroot, mount namespaces, podman's storage)")
    tools = ["podman", "unshare", "chroot"] + (["debootstrap"] if need_debootstrap else [])
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise Skip(f"{', '.join(missing)} not installed (apt-get install podman debootstrap)")


def image_exists(name: str) -> bool:
    exists = subprocess.run(["podman", "image", "exists", name], check=False, capture_output=True, timeout=60)
    return exists.returncode == 0


def make_base(name: str, workdir: Path) -> None:
    """A minimal Debian with python3 and python3-venv, imported as a podman image; no registry involved."""
    rootfs = workdir / "rootfs"
    _run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", DEBIAN_SUITE,
          str(rootfs), DEBIAN_MIRROR], timeout=900)
    # The host's trust store, so that pip in the build passes a TLS-inspecting proxy as the host's pip does.
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
    (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(rootfs / cache, ignore_errors=True)
        (rootfs / cache).mkdir(parents=True, exist_ok=True)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        _run(["podman", "import", "-", name], stdin=tar.stdout, timeout=300)
    finally:
        tar.stdout.close()
        tar.wait(timeout=60)
    shutil.rmtree(rootfs, ignore_errors=True)


def build_wheel(out: Path) -> Path:
    """The abi3 wheel of the working tree, built on the host (maturin reuses target/ from earlier builds)."""
    if shutil.which("maturin"):
        argv = ["maturin", "build", "--release", "--locked", "--out", str(out)]
    else:
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(REPO)]
    try:
        _run(argv, cwd=REPO, timeout=1800)
    except CheckFailed:
        # target/ is shared with whoever else builds in this tree; a build racing another one can fail once.
        _run(argv, cwd=REPO, timeout=1800)
    wheels = sorted(out.glob("sentra_openai-*.whl"))
    _expect(len(wheels) == 1, f"expected one wheel in {out}, found {wheels}")
    return wheels[0]


def make_builder(base: str, name: str, workdir: Path) -> None:
    """A stand-in for the default rust image: the base plus a C linker and the host's Rust toolchain (rustc and cargo
    cannot be fetched inside a build here). The Dockerfile's wheel-build stage then runs as it would by default."""
    sysroot = Path(_run(["rustc", "--print", "sysroot"], timeout=60).stdout.decode().strip())
    containerfile = workdir / "Containerfile.builder"
    containerfile.write_text(
        f"FROM {base}\n"
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev"
        " && rm -rf /var/lib/apt/lists/*\n"
        "COPY --from=toolchain bin /usr/local/rust/bin\n"
        "COPY --from=toolchain lib /usr/local/rust/lib\n"
        "ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        " CARGO_HOME=/usr/local/cargo\n")
    _run(["podman", "build", "--isolation", "chroot", "--build-context", f"toolchain={sysroot}", "-t", name,
          "-f", str(containerfile), str(workdir)], timeout=1800)


def build_image(base: str, wheel_dir: Path | None, tag: str, builder: str | None = None) -> None:
    """The Dockerfile as it is: with `wheel_dir`, its wheel stage replaced by that directory, else compiled in
    `builder`."""
    argv = ["podman", "build", "--isolation", "chroot", "--format", "docker", "--build-arg", f"RUNTIME_IMAGE={base}"]
    # Without a wheel, --layers=false: the 1.3 GB compiling stage is not kept as an untagged image afterwards.
    argv += (["--build-context", f"wheel={wheel_dir}"] if wheel_dir
             else ["--layers=false", "--build-arg", f"BUILDER_IMAGE={builder}"])
    _run([*argv, "-t", tag, "-f", str(REPO / "Dockerfile"), str(REPO)], timeout=3600)


def inspect(tag: str) -> dict:
    return json.loads(_run(["podman", "image", "inspect", tag], timeout=60).stdout)[0]


def check_metadata(image: dict) -> dict:
    config = image["Config"]
    user = config.get("User", "")
    uid, _, gid = user.partition(":")
    _expect(uid.isdigit() and int(uid) != 0, f"the image must run as a numeric non-root user, not {user!r}")
    exposed = set(config.get("ExposedPorts", {}))
    _expect(exposed == {f"{API_PORT}/tcp", f"{METRICS_PORT}/tcp"}, f"exposed ports: {exposed}")
    health = image.get("Healthcheck") or config.get("Healthcheck")
    _expect(bool(health and health.get("Test", [""])[0] == "CMD"), f"no exec-form HEALTHCHECK: {health}")
    entrypoint = config.get("Entrypoint") or []
    _expect(entrypoint[:2] == ["sentra-openai", "serve"] and entrypoint[-2:] == ["--host", "0.0.0.0"],
            f"entrypoint {entrypoint}: the server must listen on 0.0.0.0 inside the container")
    return {"uid": int(uid), "gid": int(gid or uid), "env": config.get("Env", []), "entrypoint": entrypoint,
            "cmd": config.get("Cmd") or [], "workdir": config.get("WorkingDir") or "/",
            "healthcheck": health["Test"][1:], "ports": (API_PORT, METRICS_PORT)}


def check_contents(root: Path) -> None:
    """Runtime stage only: the wheel installed, no compiler, no sources, no wheel file left in a layer."""
    for tool in ("usr/bin/cc", "usr/bin/gcc", "usr/local/cargo/bin/cargo", "usr/bin/rustc"):
        _expect(not (root / tool).exists(), f"/{tool} is in the runtime image")
    _expect(not (root / "src").exists(), "/src (the sources) is in the runtime image")
    _expect(not list((root / "tmp").glob("wheel/*.whl")), "the wheel file was left in the image")
    _expect(bool(list(root.glob("opt/sentra-openai/lib/python3*/site-packages/redis"))), "the redis extra is missing")


# --------------------------------------------------------------------------------------------------------------------
# The checks


def check_single(root: Path, meta: dict, logdir: Path) -> dict:
    """One instance configured through the environment only."""
    from openai import OpenAI

    env = {"SENTRA_MODE": "fast", "SENTRA_SEED": "7", "LOG_LEVEL": "warning"}
    server = Instance(root, meta, env, logdir, "single")
    try:
        started = time.perf_counter()
        health = server.wait_healthy()
        startup_s = time.perf_counter() - started
        _expect(health.get("mode") == "fast", f"SENTRA_MODE=fast not applied: /health says {health}")
        _expect(server.uid() == meta["uid"], f"the server runs as uid {server.uid()}, not the image's {meta['uid']}")
        client = OpenAI(base_url=server.base_url, api_key="sk-container-check", max_retries=0)
        completion = client.chat.completions.create(**CHAT_BODY)
        _expect(completion.object == "chat.completion" and completion.usage.prompt_tokens > 0,
                f"unexpected chat completion: {completion}")
        status, metrics = server.get(server.metrics_port, "/metrics")
        _expect(status == 200 and 'openai_mock_requests_total{endpoint="chat.completions",model="gpt-4o-mini",'
                'status="200"} 1.0' in metrics, "METRICS_PORT does not serve the chat completion's sample")
        _expect(server.healthcheck() == 0, "the image's HEALTHCHECK fails against a healthy server")
        _expect('"request_id"' not in server.stderr(), "LOG_LEVEL=warning not applied: the request log is on")
    finally:
        server.stop()
    _expect(server.healthcheck() != 0, "the image's HEALTHCHECK passes with the server stopped")
    return {"startup_to_health_s": round(startup_s, 2)}


def check_own_network(root: Path, meta: dict, logdir: Path) -> dict:
    """The entrypoint unchanged (0.0.0.0, the default ports, no port variables) in a network namespace of its own, as
    in a container. On that bind the control API is off without `control.token`, and asks for the token with one."""
    server = Instance(root, meta, {"SENTRA_MODE": "fast"}, logdir, "own-network", own_network=True)
    try:
        server.wait_healthy()
        listening = server.listening()
        for port in (API_PORT, METRICS_PORT):
            _expect(("0.0.0.0", port) in listening, f"nothing listens on 0.0.0.0:{port} in the container: {listening}")
        _expect(server.get(METRICS_PORT, "/metrics")[0] == 200, "no metrics on the image's metrics port")
        _expect(server.healthcheck() == 0, "the image's HEALTHCHECK fails against the image's own defaults")
        status, _ = server.get(API_PORT, "/sentra/v1/requests")
        _expect(status == 404, f"the control API answers {status} on a 0.0.0.0 bind without control.token")
    finally:
        server.stop()
    config = root / "tmp/sentra-control.yaml"
    config.write_text("control: {token: container-check-token}\n")
    config.chmod(0o644)
    env = {"SENTRA_MODE": "fast", "CONFIG_PATH": "/tmp/sentra-control.yaml"}
    server = Instance(root, meta, env, logdir, "own-network-token", own_network=True)
    try:
        server.wait_healthy()
        without = server.get(API_PORT, "/sentra/v1/requests")[0]
        with_token = server.get(API_PORT, "/sentra/v1/requests", {"X-Sentra-Control-Token": "container-check-token"})[0]
        _expect((without, with_token) == (401, 200),
                f"control API with control.token: {without} without the token, {with_token} with it (want 401, 200)")
    finally:
        server.stop()
    return {"listening": f"0.0.0.0:{API_PORT}, 0.0.0.0:{METRICS_PORT}", "control_api": "off without token, 401/200 with"}


def check_shared_limits(root: Path, meta: dict, logdir: Path) -> dict:
    """Two instances, one Redis (compose.yaml's setup), limits from a CONFIG_PATH file inside the container."""
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        return {"skipped": "redis-server not installed"}
    config = root / "tmp/sentra-check.yaml"
    config.write_text("latency: {time_scale: 0}\nrate_limiting: {overrides: {gpt-4o-mini: {rpm: 2}}}\n")
    config.chmod(0o644)
    redis_port = harness.free_port()
    redis = subprocess.Popen([redis_binary, "--port", str(redis_port), "--bind", harness.HOST, "--save", "",
                              "--appendonly", "no", "--dir", str(logdir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    env = {"REDIS_URL": f"redis://{harness.HOST}:{redis_port}/0", "CONFIG_PATH": "/tmp/sentra-check.yaml"}
    tools = dashboard_queries.find_tools(logdir / "prometheus-package")
    report: dict = {}
    instances, prometheus = [], None
    try:
        instances = [Instance(root, meta, {**env, "SENTRA_SEED": str(seed)}, logdir, f"shared-{seed}")
                     for seed in (1, 2)]
        for instance in instances:
            instance.wait_healthy()
        if isinstance(tools, tuple):
            prometheus = dashboard_queries.Prometheus(tools[0], [f"{harness.HOST}:{i.metrics_port}" for i in instances],
                                                      logdir)
        a, b = instances
        answers = [post_chat(a.port), post_chat(b.port), post_chat(a.port)]
        statuses = [status for status, _, _ in answers]
        remaining = [headers.get("x-ratelimit-remaining-requests") for _, headers, _ in answers[:2]]
        _expect(statuses == [200, 200, 429], f"an RPM of 2 shared through Redis should give 200, 200, 429: {statuses}")
        _expect(remaining == ["1", "0"], f"x-ratelimit-remaining-requests across the instances: {remaining}")
        _expect(answers[2][2].get("error", {}).get("code") == "rate_limit_exceeded", f"429 body: {answers[2][2]}")
        _expect('"request_id"' in a.stderr(), "the request log (LOG_LEVEL's default, info) is missing")
        _, metrics = a.get(a.metrics_port, "/metrics")
        _expect('openai_mock_rate_limit_hits_total{limit="rpm",model="gpt-4o-mini"} 1.0' in metrics,
                "the 429 is not counted in openai_mock_rate_limit_hits_total")
        if prometheus is not None:
            report["dashboard"] = check_dashboard(prometheus, tools[1])
        else:
            report["dashboard"] = {"skipped": tools}
    finally:
        if prometheus is not None:
            prometheus.stop()
        for instance in instances:
            instance.stop()
        redis.terminate()
        redis.wait(timeout=10)
    return {"statuses": statuses, **report}


def check_dashboard(prometheus: dashboard_queries.Prometheus, promtool: Path) -> dict:
    """compose's Prometheus config is valid, and every dashboard query finds data once both instances are scraped."""
    verdict = dashboard_queries.check_config(promtool)
    _expect(verdict is None, f"promtool rejects deploy/prometheus/prometheus.yml:\n{verdict}")
    # Both instances scraped, and a few scrapes since the 429, so that rate() has two samples of every series.
    prometheus.wait_for("count(group by (instance) (openai_mock_requests_total))", 2)
    prometheus.wait_for("min(count_over_time(openai_mock_rate_limit_hits_total[1m]))", 3)
    failures = dashboard_queries.failing_queries(prometheus)
    _expect(not failures, "dashboard queries that fail or find nothing:\n" + "\n".join(failures))
    return {"queries": len(dashboard_queries.queries()), "all_found_data": True}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel-dir", type=Path, help="a directory holding one prebuilt sentra_openai wheel")
    parser.add_argument("--from-source", action="store_true",
                        help="build the wheel inside the image build, as the default build does (with the host's Rust "
                             "toolchain in a local builder image; cargo fetches crates.io)")
    parser.add_argument("--base", default=BASE_IMAGE, help=f"runtime base image (default {BASE_IMAGE}, made once)")
    parser.add_argument("--rebuild-base", action="store_true", help="make the local base image again")
    parser.add_argument("--keep-image", action="store_true", help=f"keep {CHECK_IMAGE} afterwards")
    parser.add_argument("--require", action="store_true", help="fail (exit 2) instead of skipping")
    args = parser.parse_args(argv)

    timings: dict[str, float] = {}
    report: dict = {"timings_s": timings}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now

    with tempfile.TemporaryDirectory(prefix="sentra-container-check-") as scratch:
        workdir = Path(scratch)
        built = False
        mounted = None
        try:
            have_base = shutil.which("podman") is not None and image_exists(BASE_IMAGE)
            make = args.base == BASE_IMAGE and (args.rebuild_base or not have_base)
            require_tools(need_debootstrap=make)
            if make:
                if image_exists(BASE_IMAGE):
                    _run(["podman", "rmi", "--force", BASE_IMAGE], timeout=120)
                make_base(BASE_IMAGE, workdir)
            lap("base_image" if make else "base_image_cached")
            if args.from_source:
                if shutil.which("rustc") is None:
                    raise Skip("--from-source needs a Rust toolchain on the host")
                make_builder(args.base, BUILDER_IMAGE, workdir)
                lap("builder_image")
                build_image(args.base, None, CHECK_IMAGE, builder=BUILDER_IMAGE)
            else:
                wheel_dir = args.wheel_dir
                if wheel_dir is None:
                    wheel_dir = workdir / "wheel"
                    report["wheel"] = build_wheel(wheel_dir).name
                    lap("wheel")
                build_image(args.base, wheel_dir.resolve(), CHECK_IMAGE)
            built = True
            lap("image_build")
            image = inspect(CHECK_IMAGE)
            report["image_size_mb"] = round(image.get("Size", 0) / 1e6, 1)
            meta = check_metadata(image)
            mounted = Mounted(CHECK_IMAGE)
            check_contents(mounted.root)
            report["single"] = check_single(mounted.root, meta, workdir)
            lap("single_instance")
            report["own_network"] = check_own_network(mounted.root, meta, workdir)
            lap("own_network")
            report["shared_limits"] = check_shared_limits(mounted.root, meta, workdir)
            lap("two_instances_redis")
        except Skip as exc:
            print(f"container check skipped: {exc}")
            return 2 if args.require else 0
        except (CheckFailed, RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"container check FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            if mounted is not None:
                mounted.close()
            if built and not args.keep_image:
                subprocess.run(["podman", "rmi", "--force", CHECK_IMAGE], check=False, capture_output=True, timeout=120)
            if args.from_source and not args.keep_image:
                subprocess.run(["podman", "rmi", "--force", BUILDER_IMAGE], check=False, capture_output=True,
                               timeout=120)
    timings["total"] = round(time.perf_counter() - started, 1)
    print(json.dumps({"container_check": "passed", **report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
