"""The generation note (engine/replay_shape.py): a generated chat answer in the simple class carries what the front
needs to answer a request of the same shape with a new prompt itself, and the answer the front would render from it
(the note's holes filled with what the composer makes of the new prompt) is the engine's own answer to that request,
byte for byte but for the ordinary fills."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import random
import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentra_openai import costing
from sentra_openai.config import load_settings
from sentra_openai.engine import MonotonicClock, Request, build_engine, replay_shape
from sentra_openai.engine.content import textgen
from sentra_openai.engine.core import ARRIVAL_HEADER
from sentra_openai.engine.replay import REPLAY_HEADER, TAG_HEADER, replayed_record
from sentra_openai.engine.replay_shape import GEN_HEADER
from sentra_openai.state import MemoryStore
from sentra_openai.tokens.offline_encodings import get_encoding

from .test_replay_note import parse_note_parts, render, values_of

_FRESH = itertools.count()


def reference_choice(key: str, prompt: str, limit: int, budget: int, encoding: str, verbosity: str):
    """The composer's draws for the class in Python (generate.generate_choice's): what the native one must give."""
    enc = get_encoding(encoding)
    rng = random.Random(key)
    rng.random()  # the fixture draw
    answer = textgen.generate_answer(rng, limit, enc, prompt, verbosity)
    text, finish = answer.text, answer.finish_reason
    tokens = len(enc.encode_ordinary(text))
    if tokens > budget:
        text, finish = textgen.truncate_to_tokens(enc, text, budget), "length"
        tokens = len(enc.encode_ordinary(text))
    return text, tokens, finish


def make_engine(**overrides):
    settings = load_settings(mode="fast", environ={}, cli=overrides)
    return build_engine(settings, clock=MonotonicClock(), state=MemoryStore())


@pytest.fixture(scope="module")
def engine():
    return make_engine()


def fresh(prompt: str = "Tell me about rivers") -> str:
    """A prompt no request asked before: only generated content gets the note."""
    return f"{prompt}, take {next(_FRESH)} of {time.time_ns()}"


def chat(prompt: str, **fields):
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}], "max_tokens": 60, **fields}


def send_raw(engine, raw: bytes, **headers):
    sent = {"content-type": "application/json", "authorization": "Bearer sk-shape",
            ARRIVAL_HEADER: f"{time.monotonic():.9f}", **headers}
    return engine.handle(Request("POST", "/v1/chat/completions", sent, raw))


def send(engine, body, **headers):
    return send_raw(engine, orjson.dumps(body), **headers)


def parse_gen(value: str) -> dict[str, str]:
    parts = dict(part.split("=", 1) for part in value.split(";"))
    assert list(parts) == ["hole", "seed", "key", "enc", "verbosity", "limit", "budget", "prompt", "content", "finish",
                           "usage", "price", "fixtures"]
    return parts


def span(text: str) -> tuple[int, int]:
    start, end = text.split(":")
    return int(start), int(end)


@pytest.fixture(autouse=True)
def unlimited_notes(monkeypatch):
    """These tests note far more shapes a second than a load test does (replay_shape.NOTES_PER_SECOND)."""
    monkeypatch.setattr(replay_shape, "NOTES_PER_SECOND", 10**9)


def test_past_the_seconds_budget_a_worker_notes_no_more_shapes(engine, monkeypatch):
    seconds = iter([100.2, 100.5, 100.9, 101.1])
    monkeypatch.setattr(replay_shape, "NOTES_PER_SECOND", 2)
    monkeypatch.setattr(replay_shape, "_budget", replay_shape._Budget(clock=lambda: next(seconds)))
    noted = [GEN_HEADER in send(engine, chat(fresh())).headers for _ in range(4)]
    assert noted == [True, True, False, True]


def test_a_generated_answer_in_the_class_carries_both_notes(engine):
    outcome = send(engine, chat(fresh()))
    assert outcome.status == 200
    assert {REPLAY_HEADER, TAG_HEADER, GEN_HEADER} <= set(outcome.headers)
    note = outcome.headers[GEN_HEADER]
    assert "\r" not in note and "\n" not in note and note.isascii()
    parse_gen(note)
    # The tag keeps its shape: the front renders it anew with the new prompt's tokens and cost.
    usage = orjson.loads(outcome.body)["usage"]
    record = replayed_record(outcome.headers[TAG_HEADER].encode(), 3)
    assert (record.input_tokens, record.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])


def test_the_ranges_point_at_the_prompt_and_at_the_answers_content_finish_and_usage(engine):
    prompt = fresh('Explain "quoted" words, back\\slashes and\nnew lines')
    raw = orjson.dumps({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
                        "model": "gpt-4o-mini", "temperature": 0.5, "max_completion_tokens": 80})
    outcome = send_raw(engine, raw)
    parts = parse_gen(outcome.headers[GEN_HEADER])
    start, end = span(parts["hole"])
    assert raw[start - 1:end + 1] == orjson.dumps(prompt)
    answer = orjson.loads(outcome.body)
    body = outcome.body
    start, end = span(parts["content"])
    assert body[start - 1:end + 1] == orjson.dumps(answer["choices"][0]["message"]["content"])
    start, end = span(parts["finish"])
    assert body[start - 1:end + 1] == orjson.dumps(answer["choices"][0]["finish_reason"])
    usage = [body[slice(*span(item))] for item in parts["usage"].split(",")]
    assert usage == [str(answer["usage"][name]).encode() for name in ("prompt_tokens", "completion_tokens",
                                                                      "total_tokens")]
    assert (parts["limit"], parts["budget"], parts["enc"], parts["verbosity"]) == ("80", "80", "o200k_base", "medium")


def key_of(parts: dict[str, str], text: str) -> str:
    pre, suf = (base64.b64decode(item) for item in parts["key"].split(":"))
    seed = base64.b64decode(parts["seed"]).decode()
    return seed + hashlib.blake2b(pre + repr(text).encode() + suf, digest_size=16).hexdigest()


def test_the_key_parts_rebuild_the_engines_content_key_and_the_base_its_prompt_count(engine):
    prompt = fresh("What makes a good 'quote'?")
    body = chat(prompt, seed=7, user="someone")
    outcome = send(engine, body)
    parts = parse_gen(outcome.headers[GEN_HEADER])
    from sentra_openai.engine.endpoints.chat.pipeline import content_parts

    engine_key = f"{engine.settings.seed}:" + hashlib.blake2b(
        repr(content_parts("gpt-4o-mini", body)).encode(), digest_size=16).hexdigest()
    assert key_of(parts, prompt) == engine_key
    base, longest = map(int, parts["prompt"].split(":"))
    count = len(get_encoding("o200k_base").encode_ordinary(prompt))
    assert base + count == orjson.loads(outcome.body)["usage"]["prompt_tokens"]
    assert longest == engine.settings.prompt_caching.min_tokens - 1  # a longer prompt would be cached


def test_without_prompt_caching_the_longest_prompt_is_the_context_window_beside_the_output():
    outcome = send(make_engine(**{"prompt_caching.enable": False}), chat(fresh(), max_tokens=100))
    parts = parse_gen(outcome.headers[GEN_HEADER])
    assert int(parts["prompt"].split(":")[1]) == 128000 - 100


def test_the_prices_are_the_models(engine):
    outcome = send(engine, chat(fresh()))
    parts = parse_gen(outcome.headers[GEN_HEADER])
    prices = engine.services.catalog.get("gpt-4o-mini").prices
    assert parts["price"] == f"{prices.input_micros}:{prices.cached_input_micros}:{prices.output_micros}"


def render_new(template, new_text: str, second):
    """The answer the front renders for `new_text` from `template`'s notes (the fills' values taken from `second`,
    the engine's own answer to that request), by the note alone: composer, key, counts and prices."""
    parts = parse_gen(template.headers[GEN_HEADER])
    _, fills, _ = parse_note_parts(template.headers[REPLAY_HEADER])
    key = key_of(parts, new_text)
    base = int(parts["prompt"].split(":")[0])
    text, completion, finish = reference_choice(key, new_text, int(parts["limit"]), int(parts["budget"]),
                                                parts["enc"], parts["verbosity"])
    prompt_tokens = base + len(get_encoding(parts["enc"]).encode_ordinary(new_text))
    # Fills are in template offsets, and apart from the holes: fill first, then splice the holes in from the end.
    out = bytearray(render(template.body, fills, values_of(second.body, fills)))
    usage = [span(item) for item in parts["usage"].split(",")]
    holes = [(span(parts["content"]), orjson.dumps(text)[1:-1]), (span(parts["finish"]), finish.encode()),
             *zip(usage, (str(n).encode() for n in (prompt_tokens, completion, prompt_tokens + completion)))]
    for (start, end), value in sorted(holes, reverse=True):
        out[start:end] = value
    input_micro, cached_micro, output_micro = map(int, parts["price"].split(":"))
    cost = costing.cost_usd(prompt_tokens, 0, completion, costing.Prices(input_micro, cached_micro, output_micro))
    return bytes(out), cost


def new_request(template_request: bytes, parts: dict[str, str], new_text: str) -> bytes:
    start, end = span(parts["hole"])
    return template_request[:start] + orjson.dumps(new_text)[1:-1] + template_request[end:]


RENDERED = {
    "short limit": chat("Tell me about mountains", max_tokens=12),
    "no limit": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Describe the sea"}]},
    "a conversation": {"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Describe the sea"}],
        "temperature": 0.2, "n": 1, "stream": False},
}


@pytest.mark.parametrize("case", RENDERED)
@pytest.mark.parametrize("new_text", ["Why is the sky blue?", 'Say "hi" \\ twice\n\tplease', "x", ""])
def test_the_front_rendering_from_the_note_is_the_engines_answer_to_a_new_prompt(engine, case, new_text):
    body = copy.deepcopy(RENDERED[case])
    body["messages"][-1]["content"] = fresh(body["messages"][-1]["content"])
    raw = orjson.dumps(body)
    template = send_raw(engine, raw)
    parts = parse_gen(template.headers[GEN_HEADER])
    request = new_request(raw, parts, new_text)
    assert orjson.loads(request)["messages"][-1]["content"] == new_text
    second = send_raw(engine, request)
    assert second.status == 200
    rendered, cost = render_new(template, new_text, second)
    assert rendered == second.body
    assert cost == second.headers["x-sentra-cost-usd"]


_PROMPT_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=120)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(new_text=_PROMPT_TEXT)
def test_any_ascii_prompt_the_front_may_take_renders_as_the_engine_answers_it(engine, new_text):
    if engine.services.fixtures.answers_last_user("gpt-4o-mini", new_text) or "```json" in new_text:
        return  # the front forwards these
    raw = orjson.dumps(chat(fresh(), max_tokens=30))
    template = send_raw(engine, raw)
    parts = parse_gen(template.headers[GEN_HEADER])
    second = send_raw(engine, new_request(raw, parts, new_text))
    rendered, cost = render_new(template, new_text, second)
    assert (rendered, cost) == (second.body, second.headers["x-sentra-cost-usd"])


def test_the_fixture_rules_are_those_that_could_answer_the_model(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text('fixtures:\n'
                    '  - {name: mini, match: {exact: "Ping", model: "gpt-4o-mini*"}, response: {content: "pong"}}\n'
                    '  - {name: other, match: {exact: "Ping", model: "gpt-4.1"}, response: {content: "pong"}}\n'
                    '  - {name: any, match: {regex: "(?i)\\\\bzebra\\\\b"}, response: {content: "stripes"}}\n')
    engine = make_engine(**{"fixtures.paths": [str(path)]})
    outcome = send(engine, chat(fresh()))
    rules = orjson.loads(base64.b64decode(parse_gen(outcome.headers[GEN_HEADER])["fixtures"]))
    assert rules == [{"exact": "Ping", "regex": None, "model": "gpt-4o-mini*"},
                     {"exact": None, "regex": "(?i)\\bzebra\\b", "model": None}]
    for prompt in ("Ping", fresh("A zebra")):
        matched = send(engine, chat(prompt))
        assert matched.status == 200 and GEN_HEADER not in matched.headers


def test_conversational_fixtures_give_no_note(tmp_path):
    path = tmp_path / "conversation.yaml"
    path.write_text('fixtures:\n  - {name: sys, match: {system: "Be a pirate"}, response: {content: "Arr"}}\n')
    outcome = send(make_engine(**{"fixtures.paths": [str(path)]}), chat(fresh()))
    assert outcome.status == 200 and GEN_HEADER not in outcome.headers and REPLAY_HEADER not in outcome.headers


TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a word up",
                                         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}

EXCLUDED = {
    "stream": lambda p: chat(p, stream=True),
    "tools": lambda p: chat(p, tools=[TOOL], tool_choice="none"),
    "response_format": lambda p: chat(p, response_format={"type": "text"}),
    "n=2": lambda p: chat(p, n=2),
    "stop": lambda p: chat(p, stop=["zzz"]),
    "reasoning model": lambda p: {"model": "gpt-5-mini", "messages": [{"role": "user", "content": p}],
                                  "max_completion_tokens": 400},
    "fixture match": lambda p: chat("Say this is a test"),
    "non-string content": lambda p: {**chat(p), "messages": [{"role": "user", "content": [{"type": "text",
                                                                                           "text": p}]}]},
    "tool result last": lambda p: {**chat(p), "messages": [
        {"role": "user", "content": p},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                                                               "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a result"}]},
    "assistant last": lambda p: {**chat(p), "messages": [{"role": "user", "content": p},
                                                         {"role": "assistant", "content": "Go on?"}]},
    "store true": lambda p: chat(p, store=True),
    "a key outside the list": lambda p: chat(p, logprobs=False),
    "metadata": lambda p: chat(p, metadata={"k": "v"}),
    "hole not unique": lambda p: {**chat(p), "messages": [{"role": "system", "content": p},
                                                          {"role": "user", "content": p}]},
    "a json code block asked for": lambda p: chat(p + " in a ```json block"),
    "non-ASCII prompt": lambda p: chat(p + " caf\u00e9"),
}


@pytest.mark.parametrize("case", EXCLUDED)
def test_requests_outside_the_class_get_no_generation_note(engine, case):
    outcome = send(engine, EXCLUDED[case](fresh()))
    assert outcome.status == 200
    assert GEN_HEADER not in outcome.headers
    if case != "fixture match":  # generated content: no ordinary note either (a fixture's answer is seen before)
        assert REPLAY_HEADER not in outcome.headers and TAG_HEADER not in outcome.headers


def test_the_prompt_written_with_escapes_elsewhere_is_not_taken_for_the_hole(engine):
    # The last message's text appears once as orjson writes it, but in the system message: the user's is escaped.
    prompt = fresh("Hello there friend")
    escaped = orjson.dumps(prompt).decode().replace("e", "\\u0065", 1)
    system = orjson.dumps(prompt).decode()
    raw = (f'{{"model": "gpt-4o-mini", "messages": [{{"role": "system", "content": {system}}}, '
           f'{{"role": "user", "content": {escaped}}}]}}').encode()
    assert raw.count(orjson.dumps(prompt)) == 1 and orjson.loads(raw)["messages"][1]["content"] == prompt
    outcome = send_raw(engine, raw)
    assert outcome.status == 200 and GEN_HEADER not in outcome.headers


@pytest.mark.parametrize("overrides", [{"rate_limiting.enable": True}, {"server.max_body_bytes": 4096}],
                         ids=lambda o: ",".join(o))
def test_a_config_the_front_cannot_follow_gives_no_note(overrides):
    outcome = send(make_engine(**overrides), chat(fresh()))
    assert outcome.status == 200 and GEN_HEADER not in outcome.headers and REPLAY_HEADER not in outcome.headers


def test_a_request_not_through_the_front_gets_no_note(engine):
    sent = {"content-type": "application/json", "authorization": "Bearer sk-shape"}
    outcome = engine.handle(Request("POST", "/v1/chat/completions", sent, orjson.dumps(chat(fresh()))))
    assert outcome.status == 200 and GEN_HEADER not in outcome.headers


def test_a_repeat_gets_only_the_ordinary_note(engine):
    body = chat(fresh())
    assert GEN_HEADER in send(engine, body).headers
    again = send(engine, body)
    assert REPLAY_HEADER in again.headers and GEN_HEADER not in again.headers


def test_a_composer_that_disagrees_gives_no_note(engine, monkeypatch):
    monkeypatch.setattr(replay_shape, "native_choice", lambda *args: ("something else", 3, "stop"))
    outcome = send(engine, chat(fresh()))
    assert outcome.status == 200 and GEN_HEADER not in outcome.headers and REPLAY_HEADER not in outcome.headers


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(max_size=40), prompt=_PROMPT_TEXT, limit=st.integers(1, 600), extra=st.integers(0, 50))
def test_the_native_composer_matches_the_reference_on_ordinary_prompts(key, prompt, limit, extra):
    for budget in (limit, limit + extra):
        assert replay_shape.native_choice(key, prompt, limit, budget, "o200k_base", "medium") == reference_choice(
            key, prompt, limit, budget, "o200k_base", "medium")
