"""The mode presets (config/<mode>.yaml over config/default.yaml): what each one turns on, as settings and as a
client of a real server sees it."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from sentra_openai.config import config_dir, load_settings

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 30}


def test_every_mode_is_a_preset_file_and_turns_on_what_the_readme_says():
    for mode in ("production", "fast", "debug"):
        assert (config_dir() / f"{mode}.yaml").is_file()
    default, production, fast, debug = (load_settings(mode=m, environ={}) for m in ("default", "production", "fast",
                                                                                   "debug"))
    # default: real latency and rate limits, no injected faults, a request log without bodies.
    assert default.effective_time_scale == 1.0 and default.rate_limiting.enable
    assert not default.error_injection.enable
    assert default.logging.request_log and not default.logging.log_bodies and default.logging.level == "info"
    # production: default plus rare injected faults, before and during streams.
    assert production.effective_time_scale == 1.0 and production.rate_limiting.enable
    assert production.error_injection.enable
    assert 0 < production.error_injection.base_error_rate <= 0.01
    assert 0 < production.error_injection.midstream_rate <= production.error_injection.base_error_rate
    # fast: no delays, limits, faults or request log.
    assert fast.effective_time_scale == 0 and not fast.rate_limiting.enable and not fast.error_injection.enable
    assert not fast.logging.request_log
    # debug: default plus debug logs with bodies.
    assert debug.effective_time_scale == 1.0 and debug.rate_limiting.enable and not debug.error_injection.enable
    assert debug.logging.level == "debug" and debug.logging.log_bodies
    # Everything else is shared: usage, cost and caching do not depend on the mode.
    for settings in (production, fast, debug):
        assert settings.prompt_caching == default.prompt_caching and settings.seed == default.seed


def test_a_config_file_overrides_its_modes_preset(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("latency: {time_scale: 0.1}\nerror_injection: {base_error_rate: 0.5}\n")
    production = load_settings(path, mode="production", environ={})
    assert production.effective_time_scale == 0.1 and production.error_injection.base_error_rate == 0.5
    # The mode can come from the environment or the file itself.
    assert load_settings(path, environ={"SENTRA_MODE": "fast"}).mode == "fast"
    path.write_text("mode: debug\n")
    assert load_settings(path, environ={}).logging.log_bodies


def post(server, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.api_url}/chat/completions", json=body, timeout=20,
                      headers={"authorization": "Bearer sk-modes", **headers})


@pytest.mark.server
def test_fast_mode_serves_without_delays_or_limits(server_factory):
    server = server_factory({"metrics": {"enable": False}}, mode="fast")
    post(server, CHAT)  # warm up (tokenizer loading)
    started = time.monotonic()
    responses = [post(server, CHAT, **{"x-sentra-time-scale": "1"}) for _ in range(5)]  # the header cannot add delay
    elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in responses)
    # In default mode each of these answers takes about 0.45 s + 30 tokens at 61 tokens/s (catalog, gpt-4o-mini).
    assert all(int(r.headers["openai-processing-ms"]) < 200 for r in responses)
    assert elapsed < 2.0
    assert "x-ratelimit-limit-requests" not in responses[0].headers
    assert "x-sentra-cost-usd" in responses[0].headers
    assert not [line for line in server.log().splitlines() if line.startswith('{"ts"')]  # no request log


@pytest.mark.server
def test_default_mode_delays_and_limits(server_factory):
    server = server_factory({"metrics": {"enable": False}}, mode="default")
    post(server, CHAT, **{"x-sentra-time-scale": "0"})  # warm up
    started = time.monotonic()
    response = post(server, CHAT, **{"x-sentra-time-scale": "0.2"})
    elapsed = time.monotonic() - started
    simulated = int(response.headers["openai-processing-ms"]) / 1000
    assert simulated > 0.05 and elapsed >= simulated - 0.01  # the answer waited its simulated time
    assert response.headers["x-ratelimit-limit-requests"] == "500"  # the catalog's tier 1 for gpt-4o-mini
    assert '"status":200' in server.log()


@pytest.mark.server
def test_production_mode_injects_faults_and_default_does_not(server_factory):
    always = {"metrics": {"enable": False}, "error_injection": {"base_error_rate": 1.0, "weights": {"503": 1}}}
    production = server_factory(always, mode="production")
    default = server_factory(always, mode="default")
    assert [post(production, CHAT, **{"x-sentra-time-scale": "0"}).status_code for _ in range(3)] == [503] * 3
    assert [post(default, CHAT, **{"x-sentra-time-scale": "0"}).status_code for _ in range(3)] == [200] * 3


@pytest.mark.server
def test_debug_mode_logs_bodies_at_debug_level(server_factory):
    server = server_factory({"metrics": {"enable": False}}, mode="debug")
    response = post(server, CHAT, **{"x-sentra-time-scale": "0"})
    lines = [orjson.loads(line) for line in server.log().splitlines() if line.startswith('{"ts"')]
    logged = next(line for line in lines if line["request_id"] == response.headers["x-request-id"])
    assert orjson.loads(logged["request_body"]) == CHAT
    assert orjson.loads(logged["response_body"])["id"] == response.json()["id"]
    assert response.headers["x-ratelimit-limit-requests"]  # otherwise the default behaviour
