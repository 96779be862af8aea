"""Runs a built image's entrypoint the way a container runtime would, without one (container_check.py).

`podman run` cannot work on these machines (the sandbox lacks CAP_SYS_RESOURCE, so the OCI runtime cannot set
rlimits). Instead the container's root filesystem is mounted (`podman create` + `podman mount`) and the entrypoint runs
in it under chroot, as the image's user, with the image's working directory and environment, in a private mount
namespace with its own /proc and the host's /dev. Either on loopback ports of the host (`--host 127.0.0.1` appended,
which wins over the entrypoint's own `--host 0.0.0.0`), or exactly as the image says (0.0.0.0 and its default ports) in
a network namespace of its own that has nothing but a loopback interface: what a container's network is, minus the
bridge, so nothing outside can reach it. Clients then run inside that namespace (nsenter).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import harness

CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello from a container check"}],
             "max_tokens": 8}
# GET a URL from inside a network namespace: prints the status (0 when nothing answers) and the body.
_PROBE = """import sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1], headers=dict(h.split(": ", 1) for h in sys.argv[2:]))
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        status, body = response.status, response.read()
except urllib.error.HTTPError as exc:
    status, body = exc.code, exc.read()
except OSError:
    status, body = 0, b""
sys.stdout.write(f"{status}\\n{body.decode(errors='replace')}")
"""


class CheckFailed(Exception):
    """The image does not behave as the Dockerfile promises."""


def run(argv: Sequence[str], *, timeout: float, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), check=False, capture_output=True, timeout=timeout, **kw)
    if result.returncode != 0:
        tail = (result.stderr or b"").decode(errors="replace")[-3000:]
        raise CheckFailed(f"{' '.join(argv[:4])} ... exited with {result.returncode}:\n{tail}")
    return result


class Mounted:
    """`podman create` + `podman mount`: the container's root filesystem, writable, removed on close."""

    def __init__(self, tag: str) -> None:
        self.container = run(["podman", "create", "--no-healthcheck", tag], timeout=120).stdout.decode().strip()
        self.root = Path(run(["podman", "mount", self.container], timeout=60).stdout.decode().strip())

    def close(self) -> None:
        subprocess.run(["podman", "umount", self.container], check=False, capture_output=True, timeout=60)
        subprocess.run(["podman", "rm", "--force", self.container], check=False, capture_output=True, timeout=120)


def _home_of(root: Path, uid: int) -> str:
    """HOME as a container runtime sets it: the user's entry in the image's /etc/passwd."""
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 5 and fields[2] == str(uid):
            return fields[5]
    return "/"


def in_image(root: Path, meta: dict, argv: Sequence[str], env: dict[str, str], *, own_network: bool = False
             ) -> list[str]:
    """argv run as the image would run it: its user, working directory and environment (plus `env`), chrooted into
    `root` in a private mount namespace with its own /proc (and with `own_network`, a network namespace with only a
    loopback interface); the namespaces and their mounts end with the process."""
    environment = dict(item.split("=", 1) for item in meta["env"])
    environment.setdefault("HOME", _home_of(root, meta["uid"]))
    environment.update(env)
    script = ('mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && '
              'exec chroot --userspec="$SENTRA_CHECK_USER" "$0" "$@"')
    namespaces = ["--mount", "--propagation", "private"]
    if own_network:
        script = "ip link set lo up && " + script
        namespaces.insert(0, "--net")
    return ["unshare", *namespaces, "sh", "-c", script, str(root),
            "/usr/bin/env", "-i", "-C", meta["workdir"], *[f"{k}={v}" for k, v in environment.items()], *argv]


class Instance:
    """The image's entrypoint under chroot: on free loopback ports of the host, or (`own_network`) unchanged, on the
    image's default ports in a network namespace of its own."""

    def __init__(self, root: Path, meta: dict, env: dict[str, str], logdir: Path, name: str, *,
                 own_network: bool = False) -> None:
        self.own_network = own_network
        if own_network:
            self.port, self.metrics_port = meta["ports"]
            argv = [*meta["entrypoint"], *meta["cmd"]]
        else:
            self.port, self.metrics_port = harness.free_port(), harness.free_port()
            env = {"PORT": str(self.port), "METRICS_PORT": str(self.metrics_port), **env}
            argv = [*meta["entrypoint"], *meta["cmd"], "--host", harness.HOST]
        self.root, self.meta, self.env = root, meta, env
        self.stderr_path = logdir / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(in_image(root, meta, argv, env, own_network=own_network),
                                            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
                                            env=self._user_env())

    def _user_env(self) -> dict[str, str]:
        return {**os.environ, "SENTRA_CHECK_USER": f"{self.meta['uid']}:{self.meta['gid']}"}

    def _in_network(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.process.pid}/ns/net", *argv] if self.own_network else argv

    @property
    def base_url(self) -> str:
        return f"http://{harness.HOST}:{self.port}/v1"

    def get(self, port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """GET on one of the server's ports, from wherever the server's network is; status 0 when nothing answers."""
        if not self.own_network:
            connection = http.client.HTTPConnection(harness.HOST, port, timeout=5)
            try:
                connection.request("GET", path, headers=headers or {})
                response = connection.getresponse()
                return response.status, response.read().decode()
            except OSError:
                return 0, ""
            finally:
                connection.close()
        url = f"http://{harness.HOST}:{port}{path}"
        probe = [sys.executable, "-c", _PROBE, url, *[f"{k}: {v}" for k, v in (headers or {}).items()]]
        output = subprocess.run(self._in_network(probe), check=False, capture_output=True, text=True,
                                timeout=30).stdout
        status, _, body = output.partition("\n")
        return int(status or 0), body

    def wait_healthy(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CheckFailed(f"the server exited with {self.process.returncode}:\n{self.stderr()[-3000:]}")
            status, body = self.get(self.port, "/health")
            if status == 200:
                return json.loads(body)
            time.sleep(0.05)
        raise CheckFailed(f"no 200 on /health within {timeout:.0f}s:\n{self.stderr()[-3000:]}")

    def listening(self) -> set[tuple[str, int]]:
        """(address, port) of the IPv4 sockets listening in the server's network namespace."""
        found = set()
        for line in Path(f"/proc/{self.process.pid}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                address, port = fields[1].split(":")
                octets = bytes.fromhex(address)[::-1]  # little-endian in /proc
                found.add((".".join(str(b) for b in octets), int(port, 16)))
        return found

    def healthcheck(self) -> int:
        """The image's HEALTHCHECK command, run as the runtime would (same user, environment and network)."""
        argv = self._in_network(in_image(self.root, self.meta, self.meta["healthcheck"], self.env))
        return subprocess.run(argv, check=False, capture_output=True, timeout=30, env=self._user_env()).returncode

    def uid(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
        raise CheckFailed("cannot read the server's uid")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the server drains and ends its workers itself
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own session, started above
                self.process.wait(timeout=10)


def post_chat(port: int) -> tuple[int, dict[str, str], dict]:
    connection = http.client.HTTPConnection(harness.HOST, port, timeout=30)
    try:
        connection.request("POST", "/v1/chat/completions", json.dumps(CHAT_BODY),
                           {"Content-Type": "application/json", "Authorization": "Bearer sk-container-check"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read())
    finally:
        connection.close()
