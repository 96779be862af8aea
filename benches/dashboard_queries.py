"""Runs the Grafana dashboard's PromQL against a real Prometheus scraping running simulators (container_check.py).

The static test (tests/packaging/test_deploy_files.py) checks that the queries name exported metrics and labels; this
checks that Prometheus parses and evaluates every one of them to a non-empty result, with the dashboard variables set
to "All" and Grafana's interval variables replaced by fixed windows. Prometheus comes from the host (`prometheus` on
PATH) or from Debian's package, extracted into a scratch directory with `apt-get download` (nothing is installed and
no service is started).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import harness

DASHBOARD = harness.REPO / "deploy" / "grafana" / "dashboards" / "sentra-openai.json"
PROMETHEUS_CONFIG = harness.REPO / "deploy" / "prometheus" / "prometheus.yml"
SCRAPE_INTERVAL_S = 1
# What Grafana would substitute, for a scrape every second: $__rate_interval is at least four scrape intervals.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m"}


def find_tools(scratch: Path) -> tuple[Path, Path] | str:
    """(prometheus, promtool), or why there are none."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return Path(prometheus), Path(promtool)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return "no prometheus binary and no apt-get to fetch Debian's"
    scratch.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(["apt-get", "download", "prometheus"], check=False, cwd=scratch, capture_output=True,
                              timeout=300)
    packages = sorted(scratch.glob("prometheus_*.deb"))
    if download.returncode != 0 or not packages:
        return f"apt-get download prometheus failed: {download.stderr.decode(errors='replace')[-300:]}"
    subprocess.run(["dpkg-deb", "-x", str(packages[0]), str(scratch / "root")], check=True, timeout=120)
    return scratch / "root/usr/bin/prometheus", scratch / "root/usr/bin/promtool"


def queries() -> list[str]:
    """Every panel query and every template-variable query of the dashboard, as Prometheus would receive it."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found += [target["expr"] for target in inner.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"]).groups()
        found.append(f"group by ({label}) ({metric})")
    resolved = []
    for expr in found:
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        resolved.append(re.sub(r"\$\w+", ".*", expr))  # every dashboard variable at "All"
    return resolved


class Prometheus:
    def __init__(self, binary: Path, targets: list[str], workdir: Path) -> None:
        self.port = harness.free_port()
        config = workdir / "prometheus.yml"
        # compose's scrape job, on the loopback ports of the instances under test.
        config.write_text(json.dumps({
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": f"{SCRAPE_INTERVAL_S}s"},
            "scrape_configs": [{"job_name": "sentra-openai", "static_configs": [{"targets": targets}]}],
        }))
        with open(workdir / "prometheus.log", "wb") as log:
            self.process = subprocess.Popen(
                [str(binary), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address={harness.HOST}:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def query(self, expr: str) -> dict:
        url = f"http://{harness.HOST}:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # a bad query is a 400 with the parser's message
            return json.loads(exc.read())

    def wait_for(self, expr: str, minimum: float, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}")
            try:
                result = self.query(expr).get("data", {}).get("result", [])
                if result and float(result[0]["value"][1]) >= minimum:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"prometheus: {expr} did not reach {minimum} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def check_config(promtool: Path) -> str | None:
    """promtool's verdict on compose's Prometheus configuration: None when it is valid."""
    result = subprocess.run([str(promtool), "check", "config", str(PROMETHEUS_CONFIG)], check=False,
                            capture_output=True, timeout=60)
    return None if result.returncode == 0 else (result.stdout + result.stderr).decode(errors="replace")


def failing_queries(prometheus: Prometheus) -> list[str]:
    """Dashboard queries that Prometheus rejects or that find no data, each with the reason."""
    failures = []
    for expr in queries():
        answer = prometheus.query(expr)
        if answer.get("status") != "success":
            failures.append(f"{expr}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            failures.append(f"{expr}: no data")
    return failures
