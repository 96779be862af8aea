"""Rate limiting as a client meets it: per (API key, model) RPM / TPM / RPD buckets, the six x-ratelimit-* headers,
OpenAI's 429 bodies with retry-after, and the openai SDK's own retry loop recovering by honouring them.

Expected numbers come from the configured overrides and the packaged catalog, never from the code under test.
Messages: shared/reference/openai-wire.md §2.4; header formats: §1.2.
"""

from __future__ import annotations

import math
import re
import time

import httpx
import pytest
from sentra_openai.catalog import Catalog

pytestmark = pytest.mark.server

_GO_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")
ORG = r"org-[0-9A-Za-z]{24}"


def go_seconds(text: str) -> float:
    """Parses a Go duration as OpenAI prints it ("0s", "120ms", "17.28s", "6m0s", "1h4m48s")."""
    match = _GO_DURATION.match(text)
    assert match and text, f"not a Go duration: {text!r}"
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0) + int(millis or 0) / 1000


LIMITS = {
    "gpt-4o-mini": {"rpm": 600, "tpm": 60000},  # 0.1 s per request, 1000 tokens per second
    "gpt-4o": {"rpm": 2, "tpm": 1000000},
    "gpt-4.1-mini": {"rpm": 10, "tpm": 1000},  # a request drips back every 6 s: none refills during the test
    "gpt-4.1": {"rpm": 1000, "tpm": 1000000, "rpd": 2},
    "text-embedding-3-small": {"rpm": 60, "tpm": 6000},
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """Real one-minute windows (time scale 1); requests ask X-Sentra-Time-Scale: 0 so no response is delayed."""
    from conftest import start_server

    # `requested`: these tests are about that charge (prompt + max output); the default, `observed`, is checked
    # against the real captures in test_capture_headers.py
    server = start_server(tmp_path_factory.mktemp("limits"), {
        "metrics": {"enable": False},
        "rate_limiting": {"overrides": LIMITS, "token_charge": "requested"},
    }, mode="default")
    yield server
    server.stop()


def post(server, path: str, body: dict, key: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.api_url}{path}", json=body, timeout=10,
                      headers={"authorization": f"Bearer {key}", "x-sentra-time-scale": "0", **headers})


def chat(server, key: str, model: str = "gpt-4o-mini", **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello"}], **extra}
    return post(server, "/chat/completions", body, key)


RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-requests",
                "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")


def test_all_six_headers_on_success_stream_validation_error_and_server_error(limited):
    key = "sk-headers-all-kinds"
    responses = {
        "200": chat(limited, key, max_tokens=5),
        "stream": chat(limited, key, max_tokens=5, stream=True),
        "400": chat(limited, key, max_tokens=5, temperature=9),
        "500": post(limited, "/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
                    key, **{"x-sentra-error": "500"}),
        "embeddings": post(limited, "/embeddings", {"model": "text-embedding-3-small", "input": "hello"}, key),
    }
    assert [r.status_code for r in responses.values()] == [200, 200, 400, 500, 200]
    for kind, response in responses.items():
        missing = [h for h in RATE_HEADERS if h not in response.headers]
        assert not missing, f"{kind}: missing {missing}"
        for name in RATE_HEADERS[4:]:
            go_seconds(response.headers[name])
    assert responses["200"].headers["x-ratelimit-limit-requests"] == "600"
    assert responses["embeddings"].headers["x-ratelimit-limit-tokens"] == "6000"


def test_a_request_is_charged_one_request_and_prompt_plus_max_output(limited):
    key = "sk-charge-accounting"
    first = chat(limited, key, max_tokens=50)
    usage = first.json()["usage"]
    assert int(first.headers["x-ratelimit-remaining-requests"]) == 600 - 1
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 60000 - (usage["prompt_tokens"] + 50)
    # Reset = time until full again: 1 request at 600 RPM is 100 ms; (prompt + 50) tokens at 1000/s as many ms.
    assert 0.07 <= go_seconds(first.headers["x-ratelimit-reset-requests"]) <= 0.1
    charged_ms = usage["prompt_tokens"] + 50
    assert charged_ms - 30 <= go_seconds(first.headers["x-ratelimit-reset-tokens"]) * 1000 <= charged_ms

    # n choices reserve n outputs; no maximum at all reserves the catalog's default estimate.
    before = int(chat(limited, "sk-charge-n", max_tokens=1).headers["x-ratelimit-remaining-tokens"])
    second = chat(limited, "sk-charge-n", max_tokens=40, n=3)
    spent = before - int(second.headers["x-ratelimit-remaining-tokens"])
    charge = second.json()["usage"]["prompt_tokens"] + 3 * 40
    assert charge - spent in range(40)  # less what refilled (1 token per ms) between the two requests
    estimate = Catalog.default()["gpt-4o-mini"].default_max_output_estimate
    third = chat(limited, "sk-charge-default", max_tokens=None)
    assert 60000 - int(third.headers["x-ratelimit-remaining-tokens"]) == third.json()["usage"]["prompt_tokens"] + estimate


def test_rpm_429_with_openais_body_retry_after_and_its_own_buckets_per_key_and_model(limited):
    key = "sk-rpm-exhaust"
    assert [chat(limited, key, model="gpt-4o", max_tokens=5).status_code for _ in range(2)] == [200, 200]
    refused = chat(limited, key, model="gpt-4o", max_tokens=5)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded" and error["param"] is None
    match = re.fullmatch(
        rf"Rate limit reached for gpt-4o in organization {ORG} on requests per min \(RPM\): Limit 2, Used 2, "
        r"Requested 1\. Please try again in (\S+)\. Visit https://platform\.openai\.com/account/rate-limits to learn more\.",
        error["message"])
    assert match, error["message"]
    wait = go_seconds(match[1])
    assert 29.0 < wait <= 30.0  # one request every 30 s at 2 RPM
    assert refused.headers["retry-after"] == str(math.ceil(wait))
    assert abs(int(refused.headers["retry-after-ms"]) - wait * 1000) <= 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    # Another key, and another model of the same key, have buckets of their own.
    assert chat(limited, "sk-rpm-other-key", model="gpt-4o", max_tokens=5).status_code == 200
    assert chat(limited, key, model="gpt-4o-mini", max_tokens=5).status_code == 200


def test_tpm_429_charges_nothing_and_request_too_large(limited):
    key = "sk-tpm-exhaust"
    ok = chat(limited, key, model="gpt-4.1-mini", max_tokens=700)
    assert ok.status_code == 200
    remaining_requests = int(ok.headers["x-ratelimit-remaining-requests"])
    refused = chat(limited, key, model="gpt-4.1-mini", max_tokens=700)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "tokens"
    requested = ok.json()["usage"]["prompt_tokens"] + 700
    match = re.fullmatch(
        rf"Rate limit reached for gpt-4\.1-mini in organization {ORG} on tokens per min \(TPM\): Limit 1000, "
        rf"Used (\d+), Requested {requested}\. Please try again in (\S+)\. "
        r"Visit https://platform\.openai\.com/account/rate-limits to learn more\.", error["message"])
    assert match, error["message"]
    used, wait = int(match[1]), go_seconds(match[2])
    assert used <= requested  # what is left of the first request after some refill
    # GCRA: the wait is the time for (used + requested - limit) tokens to drip back at 1000/60 per second; `used` is
    # the whole-token usage rounded up, so the exact usage lies within one token (60 ms) below it.
    assert (used - 1 + requested - 1000) * 0.06 <= wait <= (used + requested - 1000) * 0.06 + 0.001
    # All or nothing: the refused request took no request from the RPM bucket.
    assert int(refused.headers["x-ratelimit-remaining-requests"]) == remaining_requests
    assert int(refused.headers["retry-after-ms"]) >= wait * 1000 - 1

    too_large = chat(limited, "sk-too-large", model="gpt-4.1-mini", max_tokens=5000)
    assert too_large.status_code == 429
    big = too_large.json()["error"]
    prompt = ok.json()["usage"]["prompt_tokens"]
    assert big["type"] == "tokens" and big["code"] == "rate_limit_exceeded"
    assert re.fullmatch(
        rf"Request too large for gpt-4\.1-mini in organization {ORG} on tokens per min \(TPM\): Limit 1000, "
        rf"Requested {prompt + 5000}\. The input or output tokens must be reduced in order to run successfully\.",
        big["message"]), big["message"]
    assert "retry-after" not in too_large.headers  # waiting never helps
    assert too_large.headers["x-ratelimit-remaining-requests"] == "10"  # and it charged nothing


def test_rpd_429(limited):
    key = "sk-rpd-exhaust"
    assert [chat(limited, key, model="gpt-4.1", max_tokens=5).status_code for _ in range(2)] == [200, 200]
    refused = chat(limited, key, model="gpt-4.1", max_tokens=5)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "requests"
    assert re.fullmatch(
        rf"Rate limit reached for gpt-4\.1 in organization {ORG} on requests per day \(RPD\): Limit 2, Used 2, "
        r"Requested 1\. Please try again in 12h0m0s\. Visit https://platform\.openai\.com/account/rate-limits to learn "
        r"more\.", _round_rpd(error["message"])), error["message"]
    assert int(refused.headers["retry-after"]) > 120  # the SDK does not retry waits this long


def _round_rpd(message: str) -> str:
    """The RPD wait is 12 hours minus the few milliseconds since the first request: print it as 12h0m0s."""
    match = re.search(r"try again in (\S+)\.", message)
    assert match
    assert 12 * 3600 - 5 <= go_seconds(match[1]) <= 12 * 3600
    return message.replace(match[1], "12h0m0s")


def test_default_tier_comes_from_the_catalog(server_factory):
    catalog = Catalog.default()
    server = server_factory({"metrics": {"enable": False}, "rate_limiting": {"default_tier": "tier2"}}, mode="default")
    response = chat(server, "sk-tier2", model="gpt-4o", max_tokens=5)
    tier2 = catalog["gpt-4o"].limits["tier2"]
    assert response.headers["x-ratelimit-limit-requests"] == str(tier2.rpm)
    assert response.headers["x-ratelimit-limit-tokens"] == str(tier2.tpm)


def test_the_sdk_retry_loop_recovers_by_honouring_retry_after(server_factory):
    # time_scale 0.04 makes a rate-limit minute last 2.4 s: at 2 RPM one request comes back every 1.2 s.
    server = server_factory({"metrics": {"enable": False}, "latency": {"time_scale": 0.04},
                             "rate_limiting": {"overrides": {"gpt-4o-mini": {"rpm": 2, "tpm": 1000000}}}},
                            mode="default")
    client = server.client(max_retries=2)
    results = []
    for _ in range(3):
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5,
            extra_headers={"x-sentra-time-scale": "0"})
        results.append((raw, time.monotonic() - started))
    assert [raw.retries_taken for raw, _ in results] == [0, 0, 1]
    third, elapsed = results[2]
    assert third.http_request.headers["x-stainless-retry-count"] == "1"
    assert third.parse().choices[0].message.content
    # One retry after waiting what retry-after-ms said (about 1.2 s); the SDK's own backoff would have retried after
    # at most 0.5 s, been refused again, and needed a second retry.
    assert 1.0 <= elapsed < 3.0
    log = server.log()
    assert log.count('"status":429') == 1 and log.count('"status":200') >= 3
