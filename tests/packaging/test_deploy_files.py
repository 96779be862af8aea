"""The container deployment files (Dockerfile, compose.yaml, deploy/) agree with the code they deploy.

A compose variable the server does not read, a Prometheus target on the wrong port or a dashboard query on a metric or
label that metrics.py does not export would all fail silently at run time (an unused setting, an empty panel); these
tests make them fail here. The image itself is built and run by benches/container_check.py.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sentra_openai.config import ENV_VARS, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "sentra-openai.json"
# Variables load_settings reads besides ENV_VARS (config.py: CONFIG_PATH and SENTRA_MODE choose layers).
DOCUMENTED_VARS = set(ENV_VARS) | {"CONFIG_PATH", "SENTRA_MODE"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}
# The six metrics of README "Metrics and logs".
METRICS = {"openai_mock_requests_total", "openai_mock_latency_seconds", "openai_mock_tokens_total",
           "openai_mock_cost_usd_total", "openai_mock_errors_total", "openai_mock_rate_limit_hits_total"}


def exported_metrics() -> dict[str, tuple[str, set[str]]]:
    """name -> (kind, label names), read from the Counter/Histogram constructions in metrics.py."""
    tree = ast.parse((ROOT / "python" / "sentra_openai" / "metrics.py").read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Counter", "Histogram"):
            name = ast.literal_eval(node.args[0])
            labels = ast.literal_eval(node.args[2]) if len(node.args) > 2 else []
            for keyword in node.keywords:
                if keyword.arg == "labelnames":
                    labels = ast.literal_eval(keyword.value)
            found[name] = (node.func.id, set(labels))
    return found


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def simulator_services(spec: dict) -> dict[str, dict]:
    return {name: service for name, service in spec["services"].items() if service.get("build") == "."}


def dashboard_queries(dashboard: dict) -> list[tuple[str, dict]]:
    """(expr, target) of every panel, rows' nested panels included."""
    queries = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            queries += [(target["expr"], target) for target in inner.get("targets", [])]
    return queries


def test_compose_runs_two_simulators_on_one_redis() -> None:
    spec = compose()
    simulators = simulator_services(spec)
    assert len(simulators) >= 2 and "redis" in spec["services"]
    for name, service in simulators.items():
        environment = service["environment"]
        assert environment["REDIS_URL"].startswith("redis://redis:"), name
        assert set(environment) <= DOCUMENTED_VARS, f"{name}: variables the server does not read: " \
                                                    f"{set(environment) - DOCUMENTED_VARS}"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    # Ids come from the seed and the request's position: a shared seed would repeat ids across instances.
    seeds = [service["environment"].get("SENTRA_SEED") for service in simulators.values()]
    assert len(set(seeds)) == len(seeds), seeds


def test_compose_environment_resolves_to_settings_with_redis_limits() -> None:
    service = next(iter(simulator_services(compose()).values()))
    # ${VAR:-default} as compose interpolates it with nothing set in the shell.
    environment = {key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
                   for key, value in service["environment"].items()}
    settings = load_settings(environ=environment)
    assert settings.rate_limiting.store == "redis"
    assert settings.rate_limiting.redis_url == "redis://redis:6379/0"


def test_every_published_port_stays_on_the_host_loopback() -> None:
    for name, service in compose()["services"].items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond the host's loopback"


def test_compose_mounts_files_that_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_prometheus_scrapes_each_simulator_on_its_metrics_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {target for job in config["scrape_configs"] for group in job["static_configs"]
               for target in group["targets"]}
    metrics_port = load_settings(environ={}).metrics.port
    assert targets == {f"{name}:{metrics_port}" for name in simulator_services(compose())}


def test_grafana_provisioning_finds_the_datasource_and_the_dashboard() -> None:
    spec = compose()
    grafana = spec["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/sentra-openai.yaml").read_text())
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert providers["providers"][0]["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in spec["services"]
    dashboard = json.loads(DASHBOARD.read_text())
    used = {json.dumps(target["datasource"], sort_keys=True) for _, target in dashboard_queries(dashboard)}
    assert used == {json.dumps({"type": "prometheus", "uid": source["uid"]}, sort_keys=True)}


def test_dashboard_queries_use_only_exported_metrics_and_labels() -> None:
    exported = exported_metrics()
    assert set(exported) == METRICS  # the README's table and metrics.py agree; the dashboard covers what exists
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    queries = dashboard_queries(dashboard) + [(v["definition"], {}) for v in dashboard["templating"]["list"]]
    used_metrics = set()
    for expr, target in queries:
        series = re.findall(r"\b(openai_mock_\w+)(?:\s*\{([^}]*)\})?", expr)
        assert series, f"no sentra-openai metric in {expr!r}"
        allowed = set(TARGET_LABELS)
        for name, matchers in series:
            base = re.sub(r"_(bucket|sum|count)$", "", name) if name.startswith("openai_mock_latency") else name
            assert base in exported, f"{name} is not exported by metrics.py ({expr!r})"
            kind, labels = exported[base]
            assert name == base or kind == "Histogram", f"{name}: {base} is not a histogram"
            labels = labels | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
            matched = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
            assert matched <= labels, f"{name} has no label {matched - labels} ({expr!r})"
            allowed |= labels
            used_metrics.add(base)
        grouped = {label.strip() for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
                   for label in group.split(",") if label.strip()}
        grouped |= set(re.findall(r"label_values\(\s*\w+\s*,\s*(\w+)\s*\)", expr))
        assert grouped <= allowed, f"grouping by labels no metric has: {grouped - allowed} ({expr!r})"
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert legend <= grouped, f"legend {target.get('legendFormat')!r} names labels the query drops ({expr!r})"
        referenced = set(re.findall(r"\$(?!__)(\w+)", expr))
        assert referenced <= variables, f"undefined dashboard variables {referenced - variables} ({expr!r})"
    assert used_metrics == METRICS, f"metrics no panel shows: {METRICS - used_metrics}"


def test_dashboard_shows_requests_errors_429s_latency_tokens_and_cost() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    by_type = {panel["type"] for panel in panels}
    assert "heatmap" in by_type  # the latency histogram as a histogram, not only its quantiles
    exprs = " ".join(expr for expr, _ in dashboard_queries(dashboard))
    assert "histogram_quantile(" in exprs
    for metric in ("openai_mock_requests_total", "openai_mock_errors_total", "openai_mock_rate_limit_hits_total"):
        assert re.search(rf"by \([^)]*\bmodel\b[^)]*\) \(rate\({metric}", exprs), f"{metric} is not shown by model"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_dockerfile_exposes_the_default_ports_and_installs_the_redis_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    defaults = load_settings(environ={})
    (exposed,) = re.findall(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)
    assert set(exposed.split()) == {str(defaults.server.port), str(defaults.metrics.port)}
    assert '"$1[redis]"' in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^redis = \[", pyproject, re.MULTILINE), "the image installs an extra pyproject.toml lacks"
    assert re.search(r'^ENTRYPOINT \["sentra-openai", "serve", "--host", "0\.0\.0\.0"\]$', dockerfile, re.MULTILINE)


@pytest.mark.parametrize("require, status", [(False, 0), (True, 2)])
def test_container_check_skips_where_podman_is_missing(tmp_path: Path, require: bool, status: int) -> None:
    argv = [sys.executable, str(ROOT / "benches" / "container_check.py")] + (["--require"] if require else [])
    result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == status, result.stderr
    assert "container check skipped:" in result.stdout
