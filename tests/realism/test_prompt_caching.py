"""Automatic prompt caching as OpenAI reports it: prompts of 1024 tokens or more whose prefix the same API key sent
recently to the same model report usage.prompt_tokens_details.cached_tokens in 128-token steps (1024, 1152, ...).

Source of the rules: OpenAI's prompt-caching guide (1024-token minimum, 128-token increments, exact prefix match,
5-10 minutes of inactivity; `prompt_cache_retention: "24h"`; `prompt_cache_key`).
"""

from __future__ import annotations

from dataclasses import replace

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sentra_openai.config import PromptCachingSettings, load_settings
from sentra_openai.engine import ManualClock, Request, build_engine
from sentra_openai.engine.realism.prompt_cache import PromptCache

SYSTEM = "You are a careful hydrologist who answers precisely. " + "Rivers carry sediment from the mountains to the sea. " * 200


def is_step(tokens: int) -> bool:
    """0, or 1024 + a multiple of 128."""
    return tokens == 0 or (tokens >= 1024 and (tokens - 1024) % 128 == 0)


def step_floor(tokens: int) -> int:
    return 0 if tokens < 1024 else 1024 + (tokens - 1024) // 128 * 128


def messages(user: str, system: str = SYSTEM) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def ask(server, key: str, msgs: list[dict], model: str = "gpt-4o-mini", **extra) -> dict:
    response = httpx.post(f"{server.api_url}/chat/completions", timeout=10,
                          json={"model": model, "messages": msgs, "max_tokens": 10, **extra},
                          headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()["usage"]


def cached(usage: dict) -> int:
    return usage["prompt_tokens_details"]["cached_tokens"]


@pytest.mark.server
def test_a_repeated_long_prompt_is_cached_in_128_token_steps(fast_server):
    first = ask(fast_server, "sk-cache-repeat", messages("Why do rivers meander?"))
    again = ask(fast_server, "sk-cache-repeat", messages("Why do rivers meander?"))
    assert first["prompt_tokens"] >= 1500 and cached(first) == 0
    assert again["prompt_tokens"] == first["prompt_tokens"]
    # The whole prompt is the prefix: everything up to its last full step is cached.
    assert cached(again) == step_floor(again["prompt_tokens"])


@pytest.mark.server
def test_a_shared_prefix_is_cached_up_to_where_the_prompts_differ(fast_server):
    system_only = ask(fast_server, "sk-cache-measure", [{"role": "system", "content": SYSTEM}])["prompt_tokens"]
    ask(fast_server, "sk-cache-prefix", messages("Why do rivers meander?"))
    other = ask(fast_server, "sk-cache-prefix", messages("What is an oxbow lake, and how does one form?"))
    # The shared part is the system message (its tokens plus a few framing tokens on either side).
    assert is_step(cached(other))
    assert step_floor(system_only - 6) <= cached(other) <= step_floor(system_only + 6)
    assert cached(other) < other["prompt_tokens"] - 8


@pytest.mark.server
def test_the_1024_token_threshold_and_the_128_token_steps(fast_server):
    base = ask(fast_server, "sk-cache-measure", [{"role": "user", "content": ""}])["prompt_tokens"]
    for target in (1023, 1024, 1151, 1152, 1153):
        # "word" repeated is one token per repetition (o200k): pad an empty message up to `target` tokens.
        msgs = [{"role": "user", "content": " word" * (target - base)}]
        first = ask(fast_server, f"sk-cache-{target}", msgs)
        assert first["prompt_tokens"] == target
        assert cached(ask(fast_server, f"sk-cache-{target}", msgs)) == step_floor(target)


@pytest.mark.server
def test_short_prompts_other_keys_other_models_and_other_cache_keys_do_not_hit(fast_server):
    short = messages("Why?", system="Be brief. " * 300)
    first_short = ask(fast_server, "sk-cache-short", short)
    assert first_short["prompt_tokens"] < 1024
    assert cached(ask(fast_server, "sk-cache-short", short)) == 0

    ask(fast_server, "sk-cache-owner", messages("Name three rivers."))
    assert cached(ask(fast_server, "sk-cache-stranger", messages("Name three rivers."))) == 0  # per API key
    assert cached(ask(fast_server, "sk-cache-owner", messages("Name three rivers."), model="gpt-4.1-mini")) == 0
    assert cached(ask(fast_server, "sk-cache-owner", messages("Name three rivers."), prompt_cache_key="b")) == 0
    assert cached(ask(fast_server, "sk-cache-owner", messages("Name three rivers."), prompt_cache_key="b")) >= 1024
    assert cached(ask(fast_server, "sk-cache-owner", messages("Name three rivers."))) >= 1024


@pytest.mark.server
def test_long_tool_definitions_are_part_of_the_cached_prefix(fast_server):
    tools = [{"type": "function", "function": {
        "name": f"lookup_river_{i}", "description": "Looks up the flow, length and basin of a named river. " * 8,
        "parameters": {"type": "object", "properties": {"name": {"type": "string", "description": "The river"}}}}}
        for i in range(12)]
    first = ask(fast_server, "sk-cache-tools", [{"role": "user", "content": "Hi"}], tools=tools, tool_choice="none")
    other = ask(fast_server, "sk-cache-tools", [{"role": "user", "content": "Hello there"}], tools=tools,
                tool_choice="none")
    assert first["prompt_tokens"] >= 1200 and cached(first) == 0
    assert cached(other) >= 1024 and is_step(cached(other))


@pytest.mark.server
def test_streamed_usage_reports_cached_tokens(fast_server):
    ask(fast_server, "sk-cache-stream", messages("Describe a delta."))
    body = {"model": "gpt-4o-mini", "messages": messages("Describe a delta."), "max_tokens": 10, "stream": True,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{fast_server.api_url}/chat/completions", json=body, timeout=10,
                      headers={"authorization": "Bearer sk-cache-stream"}) as response:
        events = [e for e in b"".join(response.iter_bytes()).split(b"\n\n") if e]
    usage = orjson.loads(events[-2].removeprefix(b"data: "))["usage"]
    assert cached(usage) >= 1024


# ---- time-to-live, in-process with a ManualClock -------------------------------------------------------------------


def engine(**caching):
    settings = load_settings(mode="fast", environ={})
    settings = replace(settings, prompt_caching=replace(settings.prompt_caching, **caching))
    clock = ManualClock()
    return build_engine(settings, clock=clock), clock


def cached_in_process(eng, **extra) -> int:
    body = orjson.dumps({"model": "gpt-4o", "messages": messages("Why do rivers meander?"), "max_tokens": 5, **extra})
    outcome = eng.handle(Request("POST", "/v1/chat/completions", {"authorization": "Bearer sk-ttl"}, body))
    return cached(orjson.loads(outcome.body)["usage"])


def test_entries_expire_after_the_ttl_and_each_use_refreshes_them():
    eng, clock = engine(ttl_seconds=300.0)
    assert cached_in_process(eng) == 0
    clock.advance(299)
    assert cached_in_process(eng) >= 1024  # and this use starts a new 300 s
    clock.advance(299)
    assert cached_in_process(eng) >= 1024
    clock.advance(301)
    assert cached_in_process(eng) == 0


def test_extended_retention_keeps_prefixes_for_a_day():
    eng, clock = engine(ttl_seconds=300.0)
    cached_in_process(eng, prompt_cache_retention="24h")
    clock.advance(6 * 3600)
    assert cached_in_process(eng, prompt_cache_retention="24h") >= 1024
    clock.advance(24 * 3600 + 1)
    assert cached_in_process(eng, prompt_cache_retention="24h") == 0


def test_caching_can_be_turned_off_and_its_thresholds_configured():
    off, _ = engine(enable=False)
    cached_in_process(off)
    assert cached_in_process(off) == 0
    coarse, _ = engine(min_tokens=1536, increment=256)
    cached_in_process(coarse)
    hit = cached_in_process(coarse)
    assert hit >= 1536 and (hit - 1536) % 256 == 0


# ---- the cache against a brute-force reference ------------------------------------------------------------------

BASE = list(range(100, 160))  # prompts share prefixes of this sequence, then go their own way
TTL = 10.0
requests_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=TTL * 1.5),                 # seconds since the previous request
        st.sampled_from(["key-a", "key-b"]),                         # scope
        st.integers(min_value=0, max_value=len(BASE)),               # how much of BASE the prompt starts with
        st.lists(st.integers(min_value=0, max_value=3), max_size=30),  # then its own tokens
    ),
    min_size=1, max_size=25)


@hsettings(max_examples=500, deadline=None)
@given(requests_strategy)
def test_cached_tokens_is_the_longest_live_shared_prefix_in_steps(requests):
    """For every request: cached = the longest prefix, at a step boundary, that an earlier request of the same scope
    sent no more than TTL seconds ago (min_tokens 8, increment 4 here)."""
    cache = PromptCache(PromptCachingSettings(enable=True, min_tokens=8, increment=4, ttl_seconds=TTL))
    history: list[tuple[float, str, list[int]]] = []
    now = 0.0
    for gap, scope, shared, own in requests:
        now += gap
        prompt = BASE[:shared] + own
        expected = 0
        for boundary in range(8, len(prompt) + 1, 4):
            # Live means now <= sent + TTL, computed as the cache does: `now - sent <= TTL` rounds differently at the
            # boundary for some floats (Hypothesis found one), and either is a fair reading of "no more than TTL ago".
            if any(s == scope and now <= t + TTL and len(p) >= boundary and p[:boundary] == prompt[:boundary]
                   for t, s, p in history):
                expected = boundary
        assert cache.cached_tokens(scope, prompt, now) == expected
        history.append((now, scope, prompt))
