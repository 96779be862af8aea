"""The front replay note (engine/replay.py): which answers the front may answer again itself, and that the note's fills
are exactly where two identical requests' answers differ, so that a replay is the engine's answer byte for byte but
for fresh ids, times and elapsed milliseconds."""

from __future__ import annotations

import base64
import random
import re
import sqlite3
import string
import time

import orjson
import pytest
from sentra_openai.config import load_settings
from sentra_openai.engine import ManualClock, MonotonicClock, Request, build_engine
from sentra_openai.engine.core import ARRIVAL_HEADER
from sentra_openai.engine.replay import DOC_HEADER, MAX_DOC_BYTES, REPLAY_HEADER, TAG_HEADER, TTL_MS, replayed_record
from sentra_openai.state import MemoryStore
from sentra_openai.state.sqlite import SqliteStore

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 40}
RESPONSES = {"model": "gpt-4o-mini", "input": "Tell me about rivers", "store": False, "max_output_tokens": 40}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", "description": "Weather of a city",
                  "parameters": TOOL["function"]["parameters"]}
HEX = "0123456789abcdef"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def make_engine(clock=None, **overrides):
    settings = load_settings(mode="fast", environ={}, cli=overrides)
    return build_engine(settings, clock=clock or MonotonicClock(), state=MemoryStore())


@pytest.fixture(scope="module")
def engine():
    return make_engine()


def send(engine, path, body, stamped=True, **headers):
    sent = {"content-type": "application/json", "authorization": "Bearer sk-replay", **headers}
    if stamped:
        sent[ARRIVAL_HEADER] = f"{time.monotonic():.9f}"
    return engine.handle(Request("POST", path, sent, orjson.dumps(body)))


def repeat(engine, path, body, stamped=True, **headers):
    """The answer to a request's second sending: only content made before is noted."""
    send(engine, path, body, stamped, **headers)
    return send(engine, path, body, stamped, **headers)


def parse_note(value: str):
    parts = dict(part.split("=", 1) for part in value.split(";"))
    assert set(parts) == {"ttl", "body", "headers"}
    return parse_note_parts(value)


def parse_note_parts(value: str):
    """A note's ttl, body fills and header fills, whatever else it has."""
    parts = dict(part.split("=", 1) for part in value.split(";"))
    body = [tuple(int(f) if f.isdigit() else f for f in item.split(":")) for item in parts["body"].split(",") if item]
    headers = [tuple(int(f) if f.isdigit() else f for f in item.split(":")) for item in parts["headers"].split(",")]
    return int(parts["ttl"]), body, headers


def render(template: bytes, fills, values) -> bytes:
    """The template with each fill replaced, in offset order (as the front writes it): `values(kind, length)` gives
    b62/hex/unix/hexunix values; `copy` takes the bytes already written at its source."""
    out = bytearray(template)
    for fill in sorted(fills, key=lambda f: f[1]):
        kind, offset, length = fill[:3]
        new = bytes(out[fill[3]:fill[3] + length]) if kind == "copy" else values(kind, length)
        assert len(new) == length
        out[offset:offset + length] = new
    return bytes(out)


def fresh_values(now: int):
    def values(kind: str, length: int) -> bytes:
        if kind == "b62":
            return "".join(random.choice(BASE62) for _ in range(length)).encode()
        if kind == "hex":
            return "".join(random.choice(HEX) for _ in range(length)).encode()
        if kind == "unix":
            return str(now).encode()
        assert kind == "hexunix"
        return f"{now & 0xFFFFFFFF:0{length}x}".encode()
    return values


def values_of(answer: bytes, fills):
    """The values `answer` shows at the fills' positions, checked against what each kind promises."""
    found = {}
    for fill in fills:
        kind, offset, length = fill[:3]
        text = answer[offset:offset + length].decode()
        if kind == "b62":
            assert all(c in BASE62 for c in text)
        elif kind in ("hex", "hexunix"):
            assert all(c in HEX for c in text)
        elif kind == "unix":
            assert text.isdigit()
        elif kind in ("copy", "ans"):
            continue  # written from its source
        found[offset] = answer[offset:offset + length]
    in_order = iter(sorted(found.items()))  # render asks in offset order
    return lambda kind, length: next(in_order)[1]


def header_values(headers: dict[str, str], fills, chosen_ms: int, chosen_hex: str) -> dict[str, str]:
    out = dict(headers)
    for fill in fills:
        name = fill[0]
        if fill[1] == "ms":
            out[name] = str(chosen_ms)
        else:
            kind, offset, length = fill[1:]
            assert kind == "hex"
            out[name] = out[name][:offset] + chosen_hex[:length] + out[name][offset + length:]
    return out


def without_notes(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in (REPLAY_HEADER, TAG_HEADER)}


CASES = {
    "chat": ("/v1/chat/completions", CHAT),
    "chat, two choices": ("/v1/chat/completions", {**CHAT, "n": 2}),
    "chat, tool call": ("/v1/chat/completions", {**CHAT, "tools": [TOOL], "tool_choice": "required"}),
    "chat, logprobs": ("/v1/chat/completions", {**CHAT, "logprobs": True, "top_logprobs": 2}),
    "chat, json": ("/v1/chat/completions", {**CHAT, "response_format": {"type": "json_object"},
                                            "messages": [{"role": "user", "content": "Answer in JSON"}]}),
    "responses": ("/v1/responses", RESPONSES),
    "responses, tool call": ("/v1/responses", {**RESPONSES, "tools": [RESPONSES_TOOL], "tool_choice": "required"}),
    "responses, reasoning": ("/v1/responses", {**RESPONSES, "model": "gpt-5-mini", "reasoning": {"effort": "low"},
                                               "max_output_tokens": 400}),
    "responses, metadata and instructions": ("/v1/responses", {**RESPONSES, "metadata": {"created_at": "1"},
                                                               "instructions": "Say \"created_at\": 1"}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_fills_are_exactly_where_two_identical_requests_differ(engine, case):
    path, body = CASES[case]
    first, second = repeat(engine, path, body), send(engine, path, body)
    assert first.status == second.status == 200
    ttl, body_fills, header_fills = parse_note(first.headers[REPLAY_HEADER])
    assert ttl == TTL_MS and body_fills
    assert first.body != second.body  # fresh ids: the fills have something to renew
    # The first answer with the second's values at the fills is the second answer, byte for byte.
    assert render(first.body, body_fills, values_of(second.body, body_fills)) == second.body
    ms, request_hex = second.headers["openai-processing-ms"], second.headers["x-request-id"][4:]
    assert header_values(without_notes(first.headers), header_fills, int(ms), request_hex) == without_notes(
        second.headers)
    assert second.headers[REPLAY_HEADER] == first.headers[REPLAY_HEADER]  # the same positions every time


@pytest.mark.parametrize("case", CASES)
def test_a_replay_with_fresh_values_is_a_valid_answer_with_new_ids_and_time(engine, case):
    path, body = CASES[case]
    first = repeat(engine, path, body)
    _, body_fills, _ = parse_note(first.headers[REPLAY_HEADER])
    now = int(time.time()) + 7
    replayed = orjson.loads(render(first.body, body_fills, fresh_values(now)))
    original = orjson.loads(first.body)
    if path == "/v1/chat/completions":
        assert replayed["created"] == now and re.fullmatch(r"chatcmpl-[0-9A-Za-z]{29}", replayed["id"])
        assert replayed["id"] != original["id"] and replayed["choices"] == original["choices"]
        return
    assert replayed["created_at"] == replayed["completed_at"] == now
    ids = [replayed["id"], *(item["id"] for item in replayed["output"])]
    shared = {i.split("_", 1)[1][:16] for i in ids}
    assert len(shared) == 1 and shared != {original["id"][5:21]}  # one fresh prefix for the response and its items
    assert {i.split("_", 1)[1][16:26] for i in ids} == {f"00{now:08x}"}  # each embeds the new time
    for item, before in zip(replayed["output"], original["output"]):
        assert {k: v for k, v in item.items() if k not in ("id", "call_id")} == {
            k: v for k, v in before.items() if k not in ("id", "call_id")}
        if "call_id" in item:
            assert re.fullmatch(r"call_[0-9A-Za-z]{24}", item["call_id"]) and item["call_id"] != before["call_id"]
    assert replayed["usage"] == original["usage"]


def test_the_tag_carries_what_the_metrics_count(engine):
    outcome = repeat(engine, "/v1/chat/completions", CHAT)
    usage = orjson.loads(outcome.body)["usage"]
    tag = outcome.headers[TAG_HEADER]
    assert "\r" not in tag and "\n" not in tag and tag.isascii()
    record = replayed_record(tag.encode(), 12)
    assert (record.model, record.endpoint, record.status) == ("gpt-4o-mini", "chat.completions", 200)
    assert (record.input_tokens, record.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert record.cost_picodollars > 0 and record.latency_s == 0.012


LONG_PROMPT = " ".join(["river"] * 1100)  # above prompt_caching.min_tokens (1024): the prompt cache records it

UNNOTED = {
    "no arrival stamp": ("/v1/chat/completions", CHAT, {}, False),
    "stream": ("/v1/chat/completions", {**CHAT, "stream": True}, {}, True),
    "store": ("/v1/chat/completions", {**CHAT, "store": True}, {}, True),
    "moderation": ("/v1/chat/completions", {**CHAT, "moderation": {"model": "omni-moderation-latest"}}, {}, True),
    "forced error": ("/v1/chat/completions", CHAT, {"x-sentra-error": "500"}, True),
    "pinned seed": ("/v1/chat/completions", CHAT, {"x-sentra-seed": "7"}, True),
    "time scale header": ("/v1/chat/completions", CHAT, {"x-sentra-time-scale": "0"}, True),
    "unknown model": ("/v1/chat/completions", {**CHAT, "model": "gpt-nope"}, {}, True),
    "bad request": ("/v1/chat/completions", {**CHAT, "temperature": 9}, {}, True),
    "cached prompt": ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": LONG_PROMPT}]}, {},
                      True),
    "responses stored (the default), in a memory store": (
        "/v1/responses", {k: v for k, v in RESPONSES.items() if k != "store"}, {}, True),
    "responses background": ("/v1/responses", {**RESPONSES, "background": True, "store": True}, {}, True),
    "responses stream": ("/v1/responses", {**RESPONSES, "stream": True}, {}, True),
    "responses encrypted reasoning": ("/v1/responses", {**RESPONSES, "model": "gpt-5-mini",
                                                        "include": ["reasoning.encrypted_content"]}, {}, True),
    "responses cached prompt": ("/v1/responses", {**RESPONSES, "input": LONG_PROMPT}, {}, True),
    "responses input tokens": ("/v1/responses/input_tokens", RESPONSES, {}, True),
    "embeddings": ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "rivers"}, {}, True),
}


@pytest.mark.parametrize("case", UNNOTED)
def test_answers_that_are_not_a_pure_function_of_the_request_get_no_note(engine, case):
    path, body, headers, stamped = UNNOTED[case]
    outcome = repeat(engine, path, body, stamped, **headers)
    assert outcome.status == {"forced error": 500, "unknown model": 404, "bad request": 400}.get(case, 200)
    assert REPLAY_HEADER not in outcome.headers and TAG_HEADER not in outcome.headers


@pytest.mark.parametrize("overrides", [
    {"rate_limiting.enable": True},
    {"error_injection.enable": True},
    {"logging.request_log": True},
    {"logging.log_bodies": True},
    {"server.front_replay": False},
    {"state.store": "redis", "state.redis_url": "redis://127.0.0.1:9"},
], ids=lambda o: ",".join(o))
def test_a_config_that_makes_answers_differ_or_leaves_a_trace_gives_no_note(overrides):
    outcome = repeat(make_engine(**overrides), "/v1/chat/completions", CHAT)
    assert outcome.status == 200 and REPLAY_HEADER not in outcome.headers


def test_an_azure_deployment_gets_no_note(engine):
    # Its answer is rewritten (headers, sorted keys) after the inner chat request's note would be written.
    headers = {"content-type": "application/json", "api-key": "sk-replay", ARRIVAL_HEADER: f"{time.monotonic():.9f}"}
    for _ in range(2):
        outcome = engine.handle(Request("POST", "/openai/deployments/gpt-4o-mini/chat/completions", headers,
                                        orjson.dumps({"messages": CHAT["messages"]}), (("api-version", "2024-10-21"),)))
    assert outcome.status == 200 and REPLAY_HEADER not in outcome.headers and TAG_HEADER not in outcome.headers


def test_a_clock_tests_drive_gives_no_note():
    outcome = repeat(make_engine(ManualClock()), "/v1/chat/completions", CHAT)
    assert outcome.status == 200 and REPLAY_HEADER not in outcome.headers


def test_an_armed_request_log_or_a_pending_control_fault_gives_no_note():
    engine = make_engine()
    assert REPLAY_HEADER in repeat(engine, "/v1/chat/completions", CHAT).headers
    control = {"content-type": "application/json"}
    assert engine.handle(Request("POST", "/sentra/v1/faults", control,
                                 orjson.dumps({"status": 500, "count": 1, "model": "gpt-4"}))).status == 201
    assert REPLAY_HEADER not in send(engine, "/v1/chat/completions", CHAT).headers  # a fault for another model
    engine.handle(Request("DELETE", "/sentra/v1/faults", control))
    assert REPLAY_HEADER in send(engine, "/v1/chat/completions", CHAT).headers
    assert engine.handle(Request("GET", "/sentra/v1/requests", {})).status == 200  # arms the log
    assert REPLAY_HEADER not in send(engine, "/v1/chat/completions", CHAT).headers


def test_a_fixture_reply_sequence_gives_no_note(tmp_path):
    fixtures = tmp_path / "sequence.yaml"
    fixtures.write_text('fixtures:\n  - name: counting\n    match: {exact: "Count"}\n    replies:\n'
                        '      - content: "one"\n      - content: "two"\n')
    engine = make_engine(**{"fixtures.paths": [str(fixtures)]})
    body = {**CHAT, "messages": [{"role": "user", "content": "Count"}]}
    for expected in ("one", "two"):
        outcome = send(engine, "/v1/chat/completions", body)
        assert orjson.loads(outcome.body)["choices"][0]["message"]["content"] == expected
        assert REPLAY_HEADER not in outcome.headers
    responses = send(engine, "/v1/responses", {**RESPONSES, "input": "Count"})
    assert responses.status == 200 and REPLAY_HEADER not in responses.headers
    assert REPLAY_HEADER in repeat(engine, "/v1/chat/completions", CHAT).headers  # no sequence: noted


@pytest.mark.parametrize("case", ["chat", "responses"])
def test_only_a_repeat_is_noted_so_a_new_prompt_costs_nothing_extra(case):
    path, body = CASES[case]
    if case == "chat":  # outside replay_shape's class, whose new prompts get a generation note (test_replay_shape.py)
        body = {**body, "logprobs": False}
    engine = make_engine()
    first, second = send(engine, path, body), send(engine, path, body)
    assert first.status == second.status == 200
    assert REPLAY_HEADER not in first.headers and TAG_HEADER not in first.headers
    assert REPLAY_HEADER in second.headers and TAG_HEADER in second.headers
    assert orjson.loads(first.body)["usage"] == orjson.loads(second.body)["usage"]
    # The content decides, not the bytes: another field that only changes delivery is a repeat too.
    assert REPLAY_HEADER in send(engine, path, {**body, "user": "someone"}).headers
    for n in range(3):
        prompt = f"A new question, number {n}"
        new = {**body, "messages": [{"role": "user", "content": prompt}]} if "messages" in body else {
            **body, "input": prompt}
        assert REPLAY_HEADER not in send(engine, path, new).headers


STORED = {**RESPONSES, "store": True}


def sqlite_engine(path, **overrides):
    """An engine on a SQLite file, as a host's workers are: the front writes a replay's row into that file."""
    settings = load_settings(mode="fast", environ={}, cli=overrides)
    return build_engine(settings, clock=MonotonicClock(), state=SqliteStore(str(path / "state.sqlite3"),
                                                                         default_ttl=settings.state.ttl_seconds))


@pytest.fixture
def stored_engine(tmp_path):
    return sqlite_engine(tmp_path)


def parse_stored_note(value: str):
    """The note's store and doc parts: ((collection, id_at, id_len, ttl), doc fills)."""
    parts = dict(part.split("=", 1) for part in value.split(";"))
    assert set(parts) == {"ttl", "body", "headers", "store", "doc"}
    collection, *numbers, ttl = parts["store"].split(":")
    doc = [tuple(int(f) if f.isdigit() else f for f in item.split(":")) for item in parts["doc"].split(",") if item]
    return (collection, *map(int, numbers), ttl), doc


def render_doc(doc: bytes, fills, answer: bytes, values) -> bytes:
    """The document with its fills applied as the front applies them: `ans` from the rendered `answer`."""
    plain = [f for f in fills if f[0] != "ans"]
    out = bytearray(render(doc, plain, values))
    for _, offset, length, source in (f for f in fills if f[0] == "ans"):
        out[offset:offset + length] = answer[source:source + length]
    return bytes(out)


def row_of(engine, response_id: str) -> tuple[str, bytes, float]:
    """A stored response's parent, document and time to live, as the SQLite file has them."""
    with sqlite3.connect(engine.services.state.path) as conn:
        return conn.execute("SELECT parent, body, expires_at - created_at FROM docs WHERE collection = 'responses' "
                            "AND id = ?", (response_id,)).fetchone()


def test_a_stored_response_is_noted_with_the_row_the_worker_wrote_and_where_it_differs(stored_engine):
    first, second = repeat(stored_engine, "/v1/responses", STORED), send(stored_engine, "/v1/responses", STORED)
    assert first.status == second.status == 200
    (collection, id_at, id_len, ttl), doc_fills = parse_stored_note(first.headers[REPLAY_HEADER])
    doc = base64.b64decode(first.headers[DOC_HEADER])
    first_id = orjson.loads(first.body)["id"]
    parent, row_doc, lifetime = row_of(stored_engine, first_id)
    assert (parent, row_doc) == (None, doc)  # the very row, byte for byte (the front writes no parent)
    assert collection == "responses" and float(ttl) == pytest.approx(lifetime) == 30 * 86400  # state.ttl_seconds
    assert doc[id_at:id_at + id_len].decode() == first_id
    # The first row with the second answer's values at the fills is the second row, byte for byte.
    _, body_fills, _ = parse_note_parts(first.headers[REPLAY_HEADER])
    second_doc = row_of(stored_engine, orjson.loads(second.body)["id"])[1]
    assert render_doc(doc, doc_fills, second.body, values_of(second_doc, doc_fills)) == second_doc
    # Fresh values: the row shows the replayed answer's ids and time, and its input item shares them.
    now = int(time.time()) + 7
    answer = render(first.body, body_fills, fresh_values(now))
    row = orjson.loads(render_doc(doc, doc_fills, answer, fresh_values(now)))
    assert row["response"] == orjson.loads(answer)
    item_id = row["input_items"][0]["id"]
    assert item_id[4:20] == row["response"]["id"][5:21] and item_id[22:30] == f"{now:08x}"
    assert item_id != orjson.loads(doc)["input_items"][0]["id"]


STORED_UNNOTED = {
    "reasoning (a second row)": {**STORED, "model": "gpt-5-mini", "reasoning": {"effort": "low"},
                                 "max_output_tokens": 400},
    "an input item with its own id": {**STORED, "input": [{"type": "message", "role": "user", "id": "msg_mine",
                                                           "content": "Tell me about rivers"}]},
    "background": {**STORED, "background": True},
}


@pytest.mark.parametrize("case", STORED_UNNOTED)
def test_a_stored_response_that_writes_more_than_its_own_row_gets_no_note(stored_engine, case):
    outcome = repeat(stored_engine, "/v1/responses", STORED_UNNOTED[case])
    assert outcome.status == 200 and REPLAY_HEADER not in outcome.headers and DOC_HEADER not in outcome.headers


def test_a_stored_response_continuing_a_chain_or_in_a_store_the_front_cannot_write_gets_no_note(engine, stored_engine):
    assert REPLAY_HEADER not in repeat(engine, "/v1/responses", STORED).headers  # a memory store: the worker's own
    previous = orjson.loads(send(stored_engine, "/v1/responses", STORED).body)["id"]
    chained = repeat(stored_engine, "/v1/responses", {**STORED, "previous_response_id": previous})
    assert chained.status == 200 and REPLAY_HEADER not in chained.headers


def test_a_stored_response_whose_document_is_too_large_for_the_front_gets_no_note(tmp_path):
    engine = sqlite_engine(tmp_path, **{"prompt_caching.enable": False})  # a long input is not cached, so noted
    long = {**STORED, "input": "Tell me about rivers. " * 500}
    assert DOC_HEADER in repeat(engine, "/v1/responses", long).headers
    longer = {**long, "input": long["input"] * 8}
    assert len(orjson.dumps(longer)) * 4 / 3 > MAX_DOC_BYTES  # its document, in base64, is longer still
    outcome = repeat(engine, "/v1/responses", longer)
    assert outcome.status == 200 and REPLAY_HEADER not in outcome.headers and DOC_HEADER not in outcome.headers
