"""Configuration layering and error messages, as a user configuring the server meets them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sentra_openai.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sentra.yaml"
    path.write_text(text)
    return path


def test_defaults_come_from_the_packaged_default_yaml():
    s = load_settings(environ={})
    assert s.mode == "default"
    assert s.server.port == 8080 and s.server.host == "127.0.0.1"
    assert s.rate_limiting.enable and s.rate_limiting.default_tier == "tier1"
    assert s.latency.time_scale == 1.0


@pytest.mark.parametrize(
    ("mode", "delays", "limits", "faults"),
    [("fast", False, False, False), ("production", True, True, True), ("default", True, True, False)],
)
def test_mode_presets(mode, delays, limits, faults):
    s = load_settings(mode=mode, environ={})
    assert (s.effective_time_scale > 0) is delays
    assert s.rate_limiting.enable is limits
    assert s.error_injection.enable is faults


def test_debug_mode_logs_bodies():
    s = load_settings(mode="debug", environ={})
    assert s.logging.level == "debug" and s.logging.log_bodies


def test_layer_order_file_then_env_then_cli(tmp_path):
    path = write(tmp_path, "server: {port: 9001, processes: 2}\nseed: 5\n")
    s = load_settings(config_path=path, environ={})
    assert (s.server.port, s.server.processes, s.seed) == (9001, 2, 5)
    s = load_settings(config_path=path, environ={"PORT": "9002", "SENTRA_SEED": "6"})
    assert (s.server.port, s.seed) == (9002, 6)
    s = load_settings(config_path=path, environ={"PORT": "9002"}, cli={"server.port": 9003, "seed": None})
    assert s.server.port == 9003 and s.seed == 5


def test_config_path_env_and_mode_env(tmp_path):
    path = write(tmp_path, "rate_limiting: {default_tier: tier3}\n")
    s = load_settings(environ={"CONFIG_PATH": str(path), "SENTRA_MODE": "fast"})
    assert s.rate_limiting.default_tier == "tier3"
    assert s.mode == "fast" and s.effective_time_scale == 0


def test_file_overrides_the_mode_preset(tmp_path):
    path = write(tmp_path, "latency: {enable: true, time_scale: 0.5}\n")
    s = load_settings(config_path=path, mode="fast", environ={})
    assert s.effective_time_scale == 0.5


def test_redis_url_env_selects_the_redis_store():
    s = load_settings(environ={"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert s.rate_limiting.store == "redis" and s.rate_limiting.redis_url == "redis://127.0.0.1:6379/0"


def test_overrides_per_model(tmp_path):
    path = write(tmp_path, "rate_limiting: {overrides: {gpt-4o: {rpm: 3, tpm: 1000}}}\n")
    s = load_settings(config_path=path, environ={})
    assert s.rate_limiting.overrides["gpt-4o"] == {"rpm": 3, "tpm": 1000}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("server: {prot: 1}\n", "unknown key 'server.prot'"),
        ("server: {port: abc}\n", "server.port: expected an integer, got 'abc'"),
        ("latency: {time_scale: -1}\n", "latency.time_scale"),
        ("rate_limiting: {default_tier: tier9}\n", "rate_limiting.default_tier"),
        ("rate_limiting: {overrides: {gpt-4o: {rpx: 3}}}\n", "rate_limiting.overrides.gpt-4o.rpx"),
        ("error_injection: {weights: {'418': 1}}\n", "unknown fault '418'"),
        ("server: [1, 2]\n", "server: expected a mapping"),
        ("server: {port: 1\n", "not valid YAML"),
        ("- 1\n- 2\n", "top level must be a mapping"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=path, environ={})
    assert fragment in str(info.value)


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigError, match="PORT"):
        load_settings(environ={"PORT": "eighty"})


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    path = write(tmp_path, "server: {port: nope}\n")
    result = subprocess.run([sys.executable, "-m", "sentra_openai", "serve", "--config", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "server.port: expected an integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_shows_our_options_not_robyns():
    result = subprocess.run([sys.executable, "-m", "sentra_openai", "serve", "--help"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0
    for flag in ("--host", "--port", "--config", "--mode", "--processes", "--seed", "--metrics-port", "--log-level"):
        assert flag in result.stdout
    assert "--dev" not in result.stdout  # a Robyn flag
