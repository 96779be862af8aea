"""The control API under /sentra/v1/ (design.md "Control API, pytest plugin, Azure"): the request log, count-based
faults that fail exactly as X-Sentra-Error would, config changes without a restart, reset, and its security rule.
Seen through the openai SDK against real servers, one of them with several worker processes."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import openai
import orjson
import pytest
from sentra_openai.config import load_settings
from sentra_openai.engine import Request, build_engine
from sentra_openai.state import MemoryStore

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 20}
pytestmark = pytest.mark.server


def control(server, method: str, path: str, body=None, **headers) -> httpx.Response:
    return httpx.request(method, f"{server.base_url}/sentra/v1{path}", json=body, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    running = start_server(tmp_path_factory.mktemp("control"), {"metrics": {"enable": False}})
    yield running
    running.stop()


@pytest.fixture
def fresh(server):
    assert control(server, "POST", "/reset").status_code == 200
    assert control(server, "DELETE", "/config").status_code == 200
    return server


def test_the_request_log_lists_what_was_sent_oldest_first_without_the_api_key(fresh):
    client = fresh.client(api_key="sk-secret-key-123", default_headers={"x-trace": "t-1"})
    client.chat.completions.create(**CHAT)
    client.embeddings.create(model="text-embedding-3-small", input="a river")
    log = control(fresh, "GET", "/requests").json()
    assert log["object"] == "list"
    first, second = log["data"]
    assert (first["method"], first["path"], first["endpoint"], first["status"]) == \
        ("POST", "/v1/chat/completions", "chat.completions", 200)
    assert first["body"] == CHAT
    assert first["model"] == "gpt-4o-mini"
    assert second["path"] == "/v1/embeddings" and second["body"]["input"] == "a river"
    assert first["headers"]["x-trace"] == "t-1"
    assert "authorization" not in first["headers"]
    assert "sk-secret-key-123" not in orjson.dumps(log).decode()
    assert first["ts"] <= second["ts"]
    assert control(fresh, "DELETE", "/requests").status_code == 200
    assert control(fresh, "GET", "/requests").json()["data"] == []


def test_a_fault_fails_the_next_count_matching_requests_then_stops(fresh):
    created = control(fresh, "POST", "/faults", {"status": 429, "count": 2, "model": "gpt-4o-mini"})
    assert created.status_code == 201
    assert created.json()["remaining"] == 2 and created.json()["id"].startswith("fault_")
    client = fresh.client()
    # A request for another model is not matched and does not use the fault up.
    assert client.chat.completions.create(**{**CHAT, "model": "gpt-4o"}).choices
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(**CHAT)
        # The same 429 X-Sentra-Error: 429 gives: OpenAI's RPM message, with retry-after.
        assert caught.value.body["code"] == "rate_limit_exceeded"
        assert "Rate limit reached for gpt-4o-mini" in caught.value.body["message"]
        assert caught.value.response.headers["retry-after"]
    assert client.chat.completions.create(**CHAT).choices
    assert control(fresh, "GET", "/faults").json()["data"] == []
    statuses = [r["status"] for r in control(fresh, "GET", "/requests").json()["data"]]
    assert statuses == [200, 429, 429, 200]


def test_a_fault_matches_by_endpoint_and_gives_the_header_s_body(fresh):
    control(fresh, "POST", "/faults", {"status": 503, "endpoint": "embeddings"})
    client = fresh.client()
    assert client.chat.completions.create(**CHAT).choices
    forced = httpx.post(f"{fresh.api_url}/embeddings", json={"model": "text-embedding-3-small", "input": "x"},
                        headers={"x-sentra-error": "503"})
    by_control = httpx.post(f"{fresh.api_url}/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
    assert by_control.status_code == forced.status_code == 503
    assert by_control.json()["error"] == forced.json()["error"] or \
        by_control.json()["error"]["type"] == forced.json()["error"]["type"]
    assert client.embeddings.create(model="text-embedding-3-small", input="x").data


def test_a_fault_at_a_chunk_cuts_the_stream_there(fresh):
    control(fresh, "POST", "/faults", {"status": "error-event", "at_chunk": 2})
    stream = fresh.client().chat.completions.create(**{**CHAT, "max_tokens": 40}, stream=True)
    received = 0
    with pytest.raises(openai.APIError):
        for _chunk in stream:
            received += 1
    assert received == 2


def test_a_bad_fault_is_a_400_naming_the_field(fresh):
    for body, param in (({"status": 404}, "status"), ({"count": 1}, "status"), ({"status": 500, "count": 0}, "count"),
                        ({"status": 500, "colour": "red"}, None)):
        answer = control(fresh, "POST", "/faults", body)
        assert answer.status_code == 400, body
        if param:
            assert answer.json()["error"]["param"] == param


def test_patch_config_changes_fault_rates_without_a_restart(fresh):
    answer = control(fresh, "PATCH", "/config", {"error_injection": {"enable": True, "base_error_rate": 1.0,
                                                                      "weights": {"503": 1}}})
    assert answer.status_code == 200
    assert answer.json()["error_injection"]["base_error_rate"] == 1.0
    with pytest.raises(openai.InternalServerError) as caught:
        fresh.client().chat.completions.create(**CHAT)
    assert caught.value.status_code == 503
    assert control(fresh, "DELETE", "/config").status_code == 200
    assert fresh.client().chat.completions.create(**CHAT).choices


def test_patch_config_names_an_unknown_key(fresh):
    answer = control(fresh, "PATCH", "/config", {"latency": {"time_scael": 0.5}})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "latency.time_scael"
    assert "latency.time_scael" in answer.json()["error"]["message"]
    answer = control(fresh, "PATCH", "/config", {"server": {"port": 1}})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "server"
    answer = control(fresh, "PATCH", "/config", {"error_injection": {"base_error_rate": 2}})
    assert answer.status_code == 400 and "error_injection.base_error_rate" in answer.json()["error"]["message"]
    answer = control(fresh, "PATCH", "/config", {"latency": {"enable": True}})  # a fast-mode server never waits
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "latency.enable"


def test_patch_config_turns_rate_limits_on_and_reset_refills_the_buckets(fresh):
    limits = {"rate_limiting": {"enable": True, "overrides": {"gpt-4o-mini": {"rpm": 2, "tpm": 100000}}}}
    assert control(fresh, "PATCH", "/config", limits).status_code == 200
    client = fresh.client()
    client.chat.completions.create(**CHAT)
    client.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**CHAT)
    assert control(fresh, "POST", "/reset").status_code == 200
    assert client.chat.completions.create(**CHAT).choices  # fresh buckets; the config change stayed
    with_limits = client.chat.completions.with_raw_response.create(**CHAT)
    assert with_limits.headers["x-ratelimit-limit-requests"] == "2"


def test_patch_config_swaps_fixtures(fresh, tmp_path):
    fixture = tmp_path / "extra.yaml"
    fixture.write_text("fixtures:\n  - name: rivers\n    match: {regex: rivers}\n    priority: 1000\n"
                       "    response: {content: Rivers flow.}\n")
    assert control(fresh, "PATCH", "/config", {"fixtures": {"paths": [str(fixture)]}}).status_code == 200
    assert fresh.client().chat.completions.create(**CHAT).choices[0].message.content == "Rivers flow."
    missing = control(fresh, "PATCH", "/config", {"fixtures": {"paths": [str(tmp_path / "nope.yaml")]}})
    assert missing.status_code == 400


def test_reset_clears_faults_and_the_log(fresh):
    control(fresh, "POST", "/faults", {"status": 500, "count": 5})
    fresh.client(max_retries=0).models.list()
    assert control(fresh, "POST", "/reset").json() == {"reset": True}
    assert control(fresh, "GET", "/faults").json()["data"] == []
    assert control(fresh, "GET", "/requests").json()["data"] == []
    assert fresh.client(max_retries=0).chat.completions.create(**CHAT).choices


def test_the_control_api_is_not_under_v1(fresh):
    assert httpx.get(f"{fresh.api_url}/sentra/v1/requests").status_code == 404
    assert httpx.get(f"{fresh.base_url}/v1/requests").status_code == 404


def test_several_workers_share_faults_config_and_the_log(server_factory):
    server = server_factory({"metrics": {"enable": False}}, args=["--processes", "2"])
    control(server, "POST", "/reset")
    control(server, "POST", "/faults", {"status": 500, "count": 3})
    statuses = []
    for _ in range(8):  # fresh connections: the front spreads them over both workers
        statuses.append(httpx.post(f"{server.api_url}/chat/completions", json=CHAT).status_code)
    assert statuses.count(500) == 3 and statuses[:3] == [500, 500, 500]
    control(server, "PATCH", "/config", {"error_injection": {"enable": True, "base_error_rate": 1.0,
                                                              "weights": {"502": 1}}})
    assert {httpx.post(f"{server.api_url}/chat/completions", json=CHAT).status_code for _ in range(6)} == {502}
    assert len(control(server, "GET", "/requests").json()["data"]) == 14


# ---- security, in process ----------------------------------------------------------------------------------------


def engine_bound_to(host: str, token: str | None):
    settings = load_settings(mode="fast", environ={})
    settings = replace(settings, server=replace(settings.server, host=host),
                       control=replace(settings.control, token=token))
    return build_engine(settings, state=MemoryStore())


def get_requests(engine, **headers):
    return engine.handle(Request("GET", "/sentra/v1/requests", headers, b""))


def test_on_a_loopback_bind_the_control_api_is_open():
    assert get_requests(engine_bound_to("127.0.0.1", None)).status == 200


def test_on_another_bind_it_is_off_without_a_token():
    answer = get_requests(engine_bound_to("0.0.0.0", None))
    assert answer.status == 404
    unknown = engine_bound_to("0.0.0.0", None).handle(Request("GET", "/sentra/v1/nothing", {}, b""))
    assert orjson.loads(answer.body)["error"]["message"] == "Invalid URL (GET /sentra/v1/requests)"
    assert orjson.loads(answer.body)["error"].keys() == orjson.loads(unknown.body)["error"].keys()


def test_on_another_bind_it_needs_the_token():
    engine = engine_bound_to("0.0.0.0", "s3cret")
    assert get_requests(engine).status == 401
    assert get_requests(engine, **{"x-sentra-control-token": "wrong"}).status == 401
    assert get_requests(engine, **{"x-sentra-control-token": "s3cret"}).status == 200


def test_the_log_stays_empty_until_someone_asks_for_it():
    engine = engine_bound_to("127.0.0.1", None)
    body = orjson.dumps(CHAT)
    engine.handle(Request("POST", "/v1/chat/completions", {}, body))
    assert orjson.loads(get_requests(engine).body)["data"] == []  # this call starts the log
    engine.handle(Request("POST", "/v1/chat/completions", {}, body))
    assert len(orjson.loads(get_requests(engine).body)["data"]) == 1


def test_two_hosts_sharing_a_redis_store_share_the_control_state(server_factory, tmp_path):
    from redis_server import REDIS_BINARY, RedisServer

    if REDIS_BINARY is None:
        pytest.skip("redis-server is not installed")
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        config = {"metrics": {"enable": False}, "state": {"store": "redis", "redis_url": redis.url}}
        host_a, host_b = server_factory(config), server_factory(config)
        control(host_a, "POST", "/reset")
        control(host_a, "POST", "/faults", {"status": 503, "count": 1})
        # Host B polls the shared document (at most POLL_SECONDS late); the fault fails exactly one request.
        statuses = []
        for _ in range(200):
            statuses.append(httpx.post(f"{host_b.api_url}/chat/completions", json=CHAT).status_code)
            if 503 in statuses:
                break
            time.sleep(0.05)
        assert statuses.count(503) == 1
        assert httpx.post(f"{host_a.api_url}/chat/completions", json=CHAT).status_code == 200
        logged = control(host_a, "GET", "/requests").json()["data"]
        # One log for both hosts (B's requests before it saw the reset were not logged yet).
        assert [r["status"] for r in logged][-2:] == [503, 200]
    finally:
        redis.stop()
