"""Prometheus metrics of design.md on the metrics port (also summed across --processes 2), and the request log:
one JSON line per request, with bodies in debug mode.

Expected values are what the responses themselves reported (usage, X-Sentra-Cost-USD, statuses).
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.server

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 20}
KEY = "sk-metrics-secret-key-0001"


def scrape(server) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the metrics port."""
    text = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).text
    assert KEY not in text and "sk-" not in text  # never an API key as a label
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def log_lines(server) -> list[dict]:
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            lines.append(orjson.loads(line))
    return lines


def post(server, body: dict, **headers: str) -> httpx.Response:
    # A fresh connection per request, so that with several processes the kernel spreads them.
    return httpx.post(f"{server.api_url}/chat/completions", json=body, timeout=10,
                      headers={"authorization": f"Bearer {KEY}", "x-sentra-time-scale": "0", **headers})


def post_cut(server, body: dict, **headers: str) -> httpx.Response:
    """A stream whose connection breaks off mid-way (X-Sentra-Error: 500@chunk=N): its head, without the body."""
    with httpx.stream("POST", f"{server.api_url}/chat/completions", json=body, timeout=10,
                      headers={"authorization": f"Bearer {KEY}", "x-sentra-time-scale": "0", **headers}) as response:
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    return response


def test_metrics_count_what_the_responses_reported(server_factory):
    server = server_factory({"rate_limiting": {"overrides": {"gpt-4o": {"rpm": 1, "tpm": 100000}}}}, mode="default")
    ok = [post(server, CHAT) for _ in range(3)]
    streamed = post(server, {**CHAT, "stream": True}, **{"x-sentra-time-scale": "0.05"})
    bad = post(server, {**CHAT, "temperature": 7})
    failed = post(server, CHAT, **{"x-sentra-error": "500"})
    injected = post(server, CHAT, **{"x-sentra-error": "429"})
    cut = post_cut(server, {**CHAT, "stream": True}, **{"x-sentra-error": "500@chunk=2"})
    limited = [post(server, {**CHAT, "model": "gpt-4o"}) for _ in range(2)]
    assert [r.status_code for r in ok + [streamed, bad, failed, injected, cut] + limited] == \
        [200, 200, 200, 200, 400, 500, 429, 200, 200, 429]

    m = scrape(server)
    assert value(m, "openai_mock_requests_total", model="gpt-4o-mini", endpoint="chat.completions", status="200") == 5
    assert value(m, "openai_mock_requests_total", model="gpt-4o-mini", endpoint="chat.completions", status="400") == 1
    assert value(m, "openai_mock_requests_total", model="gpt-4o", endpoint="chat.completions", status="429") == 1
    usages = [r.json()["usage"] for r in ok]
    assert value(m, "openai_mock_tokens_total", model="gpt-4o-mini", type="output") >= sum(
        u["completion_tokens"] for u in usages)
    input_tokens = value(m, "openai_mock_tokens_total", model="gpt-4o-mini", type="input")
    assert input_tokens == 5 * usages[0]["prompt_tokens"]  # the same prompt, answered 5 times (3 + stream + cut)
    cost = value(m, "openai_mock_cost_usd_total", model="gpt-4o-mini")
    charged = sum(Decimal(r.headers["x-sentra-cost-usd"]) for r in ok + [streamed, cut])
    assert cost == pytest.approx(float(charged), rel=1e-9)
    assert value(m, "openai_mock_errors_total", model="gpt-4o-mini", error_type="server_error") == 1
    assert value(m, "openai_mock_errors_total", model="gpt-4o-mini", error_type="midstream_cut") == 1
    assert value(m, "openai_mock_errors_total", model="gpt-4o-mini", error_type="rate_limit_exceeded") == 1
    assert value(m, "openai_mock_errors_total", model="gpt-4o", error_type="rate_limit_exceeded") == 1
    assert value(m, "openai_mock_rate_limit_hits_total", model="gpt-4o", limit="rpm") == 1
    assert value(m, "openai_mock_rate_limit_hits_total", model="gpt-4o-mini", limit="injected") == 1
    assert sum(v for (name, labels), v in m.items() if name == "openai_mock_errors_total"
               and ("model", "gpt-4o-mini") in labels) == 4  # 400, 500, injected 429, cut
    histogram_count = value(m, "openai_mock_latency_seconds_count", model="gpt-4o-mini", endpoint="chat.completions")
    assert histogram_count == 8  # every gpt-4o-mini request: 3 + stream + 400 + 500 + 429 + cut
    # The paced stream's latency is its whole duration, not the time to build it.
    assert value(m, "openai_mock_latency_seconds_bucket", model="gpt-4o-mini", endpoint="chat.completions",
                 le="0.005") < histogram_count


def test_one_json_log_line_per_request(server_factory):
    server = server_factory({"metrics": {"enable": False}}, mode="default")
    before = len(log_lines(server))
    responses = [post(server, CHAT), post(server, {**CHAT, "n": 0}), post(server, CHAT, **{"x-sentra-error": "503"})]
    lines = log_lines(server)[before:]
    assert [line["request_id"] for line in lines] == [r.headers["x-request-id"] for r in responses]
    assert [line["status"] for line in lines] == [200, 400, 503]
    first = lines[0]
    usage = responses[0].json()["usage"]
    assert first["model"] == "gpt-4o-mini" and first["endpoint"] == "chat.completions"
    assert (first["input_tokens"], first["output_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert first["cost_usd"] == responses[0].headers["x-sentra-cost-usd"]
    assert first["latency_ms"] >= 0
    assert "request_body" not in first and "response_body" not in first
    assert lines[2]["error"] == "server_error"


def test_debug_mode_logs_request_and_response_bodies(server_factory):
    server = server_factory({"metrics": {"enable": False}}, mode="debug")
    plain = post(server, CHAT)
    streamed = post(server, {**CHAT, "stream": True})
    lines = {line["request_id"]: line for line in log_lines(server) if "request_id" in line}
    logged = lines[plain.headers["x-request-id"]]
    assert orjson.loads(logged["request_body"]) == CHAT
    assert orjson.loads(logged["response_body"]) == plain.json()
    logged_stream = lines[streamed.headers["x-request-id"]]
    assert orjson.loads(logged_stream["request_body"])["stream"] is True
    assert logged_stream["response_body"].endswith("data: [DONE]\n\n")

    def text(sse: str) -> str:
        chunks = [orjson.loads(e[6:]) for e in sse.split("\n\n") if e.startswith("data: {")]
        return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])

    assert text(logged_stream["response_body"]) == text(streamed.text)


def test_metrics_are_summed_across_processes(server_factory):
    server = server_factory({"rate_limiting": {"enable": False}}, mode="default", args=["--processes", "2"])
    try:
        total = 80
        for _ in range(total):
            assert post(server, CHAT).status_code == 200
        served_by = {line["pid"] for line in log_lines(server) if line.get("endpoint") == "chat.completions"}
        assert len(served_by) == 2, "both processes should have served some requests"
        m = scrape(server)
        assert value(m, "openai_mock_requests_total", model="gpt-4o-mini", endpoint="chat.completions",
                     status="200") == total
        assert value(m, "openai_mock_latency_seconds_count", model="gpt-4o-mini", endpoint="chat.completions") == total
    finally:
        # SIGTERM: the parent forwards it to its workers (the fixture's final SIGKILL would orphan them).
        server.stop()
    assert server.process.returncode == 0
