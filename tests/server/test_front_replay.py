"""Front replay (issue 12) through a real fast-mode server: the front answers a repeat of a request whose answer is a
pure function of the request and the config itself, and a client cannot tell: the same content and usage with fresh
ids and times, no note header, every request in the metrics, and any control API change seen at once."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from conftest import start_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processes import stop, worker_pid
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.server

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 30}
RESPONSES = {"model": "gpt-4o-mini", "input": "Tell me about rivers", "store": False, "max_output_tokens": 30}
STORED = {**RESPONSES, "store": True}
AUTH = {"authorization": "Bearer sk-front-replay-0001"}
NOTE_HEADERS = ("x-sentra-replay", "x-sentra-replay-tag")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("front-replay"), {"server": {"processes": 1}})
    try:
        for path, body in (("/chat/completions", CHAT), ("/responses", RESPONSES)):  # warm up (tokenizers)
            assert httpx.post(f"{running.api_url}{path}", json=body, headers=AUTH, timeout=30).status_code == 200
        yield running
    finally:
        running.stop()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.api_url, headers=AUTH, timeout=30) as client:  # kept alive, as load tests are
        yield client


def scrape(server) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(value for (sample, found), value in samples.items()
               if sample == name and all(pair in found for pair in labels.items()))


def test_repeated_chat_requests_get_the_same_answer_with_fresh_ids_and_no_note(server):
    client = server.client(timeout=2.0)  # one timeout throughout: the SDK sends it in a header the template keys on
    create = client.chat.completions.with_raw_response.create
    first, replays = answered_while_stopped(server, lambda: create(**CHAT), lambda: [create(**CHAT) for _ in range(3)],
                                            openai.APITimeoutError)
    answers = [first, *replays]
    parsed = [answer.parse() for answer in answers]
    assert len({p.id for p in parsed}) == 4 and all(re.fullmatch(r"chatcmpl-[0-9A-Za-z]{29}", p.id) for p in parsed)
    assert len({answer.headers["x-request-id"] for answer in answers}) == 4
    assert {p.choices[0].message.content for p in parsed} == {parsed[0].choices[0].message.content}
    assert {p.usage.model_dump_json() for p in parsed} == {parsed[0].usage.model_dump_json()}
    now = time.time()
    for answer, p in zip(answers, parsed):
        assert abs(p.created - now) < 60
        assert not any(name in answer.headers for name in NOTE_HEADERS)
        assert answer.headers["openai-processing-ms"].isdigit() and answer.headers["date"].endswith(" GMT")


def test_repeated_responses_requests_get_the_same_answer_with_fresh_ids_and_no_note(server):
    client = server.client(timeout=2.0)
    create = client.responses.with_raw_response.create
    first, replays = answered_while_stopped(server, lambda: create(**RESPONSES),
                                            lambda: [create(**RESPONSES) for _ in range(3)], openai.APITimeoutError)
    answers = [first, *replays]
    parsed = [answer.parse() for answer in answers]
    assert len({p.id for p in parsed}) == 4
    assert {p.output_text for p in parsed} == {parsed[0].output_text}
    assert {p.usage.model_dump_json() for p in parsed} == {parsed[0].usage.model_dump_json()}
    for answer, p in zip(answers, parsed):
        assert not any(name in answer.headers for name in NOTE_HEADERS)
        # The response's ids share its prefix and embed its creation time (responses/ids.py).
        ids = [p.id, *(item.id for item in p.output)]
        assert len({i.split("_", 1)[1][:16] for i in ids}) == 1
        assert {i.split("_", 1)[1][16:26] for i in ids} == {f"00{int(p.created_at):08x}"}


def test_the_metrics_count_every_request_replayed_or_not(server, http):
    before = scrape(server)
    sent = [CHAT] * 6 + [RESPONSES] * 5 + [{**CHAT, "max_tokens": 7}] * 3 + [{**CHAT, "temperature": 9}] * 2
    usage = {"input": 0, "output": 0}
    for body in sent:
        path = "/chat/completions" if "messages" in body else "/responses"
        answer = http.post(path, json=body)
        if answer.status_code == 200:
            got = answer.json()["usage"]
            usage["input"] += got.get("prompt_tokens", got.get("input_tokens"))
            usage["output"] += got.get("completion_tokens", got.get("output_tokens"))
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("openai_mock_requests_total") == len(sent)
    assert delta("openai_mock_requests_total", endpoint="chat.completions", status="200") == 9
    assert delta("openai_mock_requests_total", endpoint="responses", status="200") == 5
    assert delta("openai_mock_requests_total", status="400") == 2
    assert delta("openai_mock_latency_seconds_count") == len(sent)
    assert delta("openai_mock_tokens_total", type="input") == usage["input"]
    assert delta("openai_mock_tokens_total", type="output") == usage["output"]


def test_a_control_api_change_reaches_the_next_identical_request(server, http):
    for _ in range(3):
        assert http.post("/chat/completions", json=CHAT).status_code == 200
    fault = {"status": 503, "count": 1, "model": "gpt-4o-mini"}
    assert httpx.post(f"{server.base_url}/sentra/v1/faults", json=fault).status_code == 201
    assert http.post("/chat/completions", json=CHAT).status_code == 503
    assert http.post("/chat/completions", json=CHAT).status_code == 200
    for _ in range(2):
        assert http.post("/chat/completions", json=CHAT).status_code == 200
    limits = {"rate_limiting": {"enable": True}}
    assert httpx.patch(f"{server.base_url}/sentra/v1/config", json=limits).status_code == 200
    try:
        assert "x-ratelimit-limit-requests" in http.post("/chat/completions", json=CHAT).headers
    finally:
        httpx.patch(f"{server.base_url}/sentra/v1/config", json={"rate_limiting": {"enable": False}})
    assert "x-ratelimit-limit-requests" not in http.post("/chat/completions", json=CHAT).headers


def answered_while_stopped(server, prime, repeat, timeout_error=httpx.TimeoutException, then=None):
    """`prime()` (answered by the worker, whose answer becomes the template), then `repeat()` while the worker is
    stopped (SIGSTOP, as tests/realism/test_arrival.py holds one), and `then()` still stopped: only the front can
    answer. A template is replayed for three quarters of the note's ttl (1 s) before a request goes to a worker to
    renew it: on a busy machine the stop may come too late, so a few attempts are allowed."""
    worker = worker_pid(server.log())
    for _ in range(5):
        primed = prime()
        stop(worker)
        try:
            try:
                repeated = repeat()
            except timeout_error:
                continue
            if then is not None:
                then()
            return primed, repeated
        finally:
            os.kill(worker, signal.SIGCONT)
    pytest.fail("no repeat was answered while the worker was stopped")


@pytest.mark.parametrize("path, body", [("/chat/completions", CHAT), ("/responses", RESPONSES)])
def test_the_front_answers_a_repeat_while_the_worker_is_stopped_and_nothing_else(server, http, path, body):
    different = {**body, **({"max_tokens": 29} if "messages" in body else {"max_output_tokens": 29})}

    def a_different_request_waits_for_the_worker():
        with pytest.raises(httpx.TimeoutException):
            http.post(path, json=different, timeout=0.5)

    primed, repeated = answered_while_stopped(server, lambda: http.post(path, json=body),
                                              lambda: http.post(path, json=body, timeout=2),
                                              then=a_different_request_waits_for_the_worker)
    assert primed.status_code == repeated.status_code == 200
    assert repeated.json()["usage"] == primed.json()["usage"] and repeated.json()["id"] != primed.json()["id"]


def stored_rows(server) -> dict[str, bytes]:
    """The stored responses in the server's SQLite file (conftest gives each server its own), by id."""
    path = server.log_path.parent / f"state-{server.port}.sqlite3"
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT id, body FROM docs WHERE collection = 'responses'"))


def _without_ids_and_times(text: str) -> str:
    text = re.sub(r"\b(resp|msg)_[0-9a-f]{50}", r"\1_*", text)
    return re.sub(r'"(created_at|completed_at)": ?\d+', r'"\1":*', text)


def test_a_repeated_stored_response_is_stored_by_the_front_and_every_route_finds_it(server, http):
    primed, repeated = answered_while_stopped(
        server, lambda: http.post("/responses", json=STORED),
        lambda: [http.post("/responses", json=STORED, timeout=2) for _ in range(3)])
    answers = [primed, *repeated]  # the repeats came while the worker was stopped: the front stored them
    rows = stored_rows(server)
    for answer in answers:
        body = answer.json()
        assert answer.status_code == 200 and body["id"] in rows
        assert http.get(f"/responses/{body['id']}").json() == body
        items = http.get(f"/responses/{body['id']}/input_items").json()["data"]
        assert [item["content"][0]["text"] for item in items] == ["Tell me about rivers"]
        assert items[0]["id"][4:20] == body["id"][5:21], "an input item shares its response's prefix"
    # The worker's row and the front's are the same document but for ids and times.
    assert len({_without_ids_and_times(rows[a.json()["id"]].decode()) for a in answers}) == 1
    # A chain can start from a response the front stored; a deleted one is gone.
    latest = repeated[-1].json()
    follow = http.post("/responses", json={**STORED, "input": "And lakes?", "previous_response_id": latest["id"]})
    assert follow.status_code == 200
    assert follow.json()["usage"]["input_tokens"] > latest["usage"]["input_tokens"]
    assert http.delete(f"/responses/{latest['id']}").json()["deleted"] is True
    assert http.get(f"/responses/{latest['id']}").status_code == 404


def test_many_stored_repeats_at_once_are_each_stored_by_the_front_with_their_own_id(server, http):
    body = {**STORED, "input": "Tell me about many rivers"}

    def create(_):
        with httpx.Client(base_url=server.api_url, headers=AUTH, timeout=2) as client:
            return [client.post("/responses", json=body).json()["id"] for _ in range(5)]

    def at_once():
        with ThreadPoolExecutor(max_workers=20) as pool:
            return [made for batch in pool.map(create, range(20)) for made in batch]

    _, ids = answered_while_stopped(server, lambda: http.post("/responses", json=body), at_once)
    assert len(set(ids)) == 100
    rows = stored_rows(server)
    assert all(made in rows for made in ids)


def _normalised(answer: httpx.Response) -> tuple[int, dict[str, str], str]:
    """An answer without what changes from one identical request to the next: ids, times, elapsed ms, date."""
    text = answer.text
    for pattern, stand_in in ((r"chatcmpl-[0-9A-Za-z]{29}", "chatcmpl-*"), (r"\b(resp|msg|rs|fc)_[0-9a-f]{50}", r"\1_*"),
                              (r"call_[0-9A-Za-z]{24}", "call_*"), (r"req_[0-9a-f]{32}", "req_*"),
                              (r'"(created|created_at|completed_at)": \d+', r'"\1": *')):
        text = re.sub(pattern, stand_in, text)
    changing = {"date", "x-request-id", "openai-processing-ms", "x-response-time-ms"}
    headers = {k: v for k, v in answer.headers.items() if k not in changing}
    assert not any(name in headers for name in NOTE_HEADERS)
    return answer.status_code, headers, text


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "bogus"]),
                                            "content": _text | st.integers()}), min_size=0, max_size=3)
_common = {"temperature": st.floats(0, 3) | st.just("hot"), "metadata": st.dictionaries(st.text(max_size=5), _text,
                                                                                          max_size=2)}
_chat = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o-mini", "gpt-4.1-nano", "gpt-nope"]), "messages": _messages},
    optional={"max_tokens": st.integers(-1, 40), "n": st.integers(0, 3), "store": st.booleans(),
              "logprobs": st.booleans(), "seed": st.integers(0, 9), **_common})
_responses = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o-mini", "gpt-5-nano", "gpt-nope"]), "input": _text | _messages},
    optional={"max_output_tokens": st.integers(0, 40), "store": st.booleans(), "instructions": _text, **_common})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=st.one_of(st.tuples(st.just("/chat/completions"), _chat), st.tuples(st.just("/responses"), _responses)))
def test_any_request_sent_again_gets_the_same_answer_but_for_ids_and_times(server, http, request):
    path, body = request
    # The worker notes an answer from the second sight of its content on (engine/replay.py), so the third sending
    # is the first the front can answer itself.
    first, second, third = (http.post(path, json=body) for _ in range(3))
    assert _normalised(first) == _normalised(second) == _normalised(third)


# --- composed answers: a new prompt in a noted shape (engine/replay_shape.py, rust/core/src/front/shape.rs) ---


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory):
    """The same configuration with the front answering nothing itself: every answer is the engine's."""
    running = start_server(tmp_path_factory.mktemp("front-engine"),
                           {"server": {"processes": 1, "front_replay": False}})
    try:
        yield running
    finally:
        running.stop()


def _shaped(prompt: str, max_tokens: int = 30) -> dict:
    return {**CHAT, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
            "max_tokens": max_tokens}


def _fresh(label: str) -> str:
    """A prompt no earlier request sent (the shape is noted with an answer the engine generated, not a cached one)."""
    return f"{label} {time.monotonic_ns()}"


def test_new_prompts_are_answered_by_the_front_while_the_worker_is_stopped_as_the_engine_answers(
        server, engine_server, http):
    prompts = [_fresh("Explain tides to a child, please."), 'Quote "this" and C:\\path\\to it,\nthen a tab\there.',
               _fresh("Summarize the benefits of unit tests"), "x", _fresh("Why is the sky blue? " * 40),
               _fresh("Café “déjà vu”, 日本語の質問 — ёлка")]
    before = scrape(server)
    _, answers = answered_while_stopped(
        server, lambda: http.post("/chat/completions", json=_shaped(_fresh("Tell me about lakes"))),
        lambda: [http.post("/chat/completions", json=_shaped(prompt), timeout=2) for prompt in prompts])
    after = scrape(server)
    with httpx.Client(base_url=engine_server.api_url, headers=AUTH, timeout=30) as engine:
        expected = [engine.post("/chat/completions", json=_shaped(prompt)) for prompt in prompts]
    assert [_normalised(answer) for answer in answers] == [_normalised(answer) for answer in expected]
    contents = [answer.json()["choices"][0]["message"]["content"] for answer in answers]
    assert len(set(contents)) == len(prompts) and all(contents)
    usage = [answer.json()["usage"] for answer in answers]
    assert len({u["prompt_tokens"] for u in usage}) > 1  # counted per prompt, not the noted answer's
    assert total(after, "openai_mock_tokens_total", type="output") - total(
        before, "openai_mock_tokens_total", type="output") >= sum(u["completion_tokens"] for u in usage)


def test_the_front_sends_a_prompt_it_cannot_compose_to_the_worker(server, http):
    def waits_for_the_worker(prompt: str) -> None:
        with pytest.raises(httpx.TimeoutException):
            http.post("/chat/completions", json=_shaped(prompt), timeout=0.5)

    answered_while_stopped(
        server, lambda: http.post("/chat/completions", json=_shaped(_fresh("Tell me about lakes"))),
        lambda: http.post("/chat/completions", json=_shaped(_fresh("Tell me about seas")), timeout=2),
        then=lambda: [waits_for_the_worker(prompt) for prompt in ("Hello!", "Smile 🙂 please", "no\u00a0break", "")])


# ASCII, the characters beyond it that the front composes for (shape.rs printable_beyond_ascii) and their neighbours,
# and any text.
_prompt = (st.text(st.characters(max_codepoint=127), min_size=1, max_size=200)
           | st.text(st.sampled_from("aé “”—…ё日本語の가！\u00a0\u00ad\u3000\u200b🙂"), min_size=1, max_size=40) | _text)
# Fields of the composed class (engine/replay_shape.py CLASS_KEYS) with valid and invalid values, and some outside it.
_shape_fields = st.fixed_dictionaries({}, optional={
    "max_tokens": st.integers(-1, 80), "max_completion_tokens": st.integers(1, 80), "n": st.integers(0, 2),
    "temperature": st.floats(0, 2) | st.just("hot"), "top_p": st.floats(0, 1), "seed": st.integers(0, 9),
    "user": st.text(max_size=8), "frequency_penalty": st.floats(-2, 2), "presence_penalty": st.floats(-2, 2),
    "stream": st.just(False), "stop": st.just(["."]), "logprobs": st.booleans(), "store": st.booleans(),
    "model": st.sampled_from(["gpt-4o-mini", "gpt-4.1-nano", "gpt-3.5-turbo", "o4-mini", "gpt-nope"])})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=_prompt, fields=_shape_fields, system=st.booleans())
def test_any_prompt_of_any_shape_gets_the_engines_answer(server, engine_server, http, prompt, fields, system):
    def body(text: str) -> dict:
        messages = [{"role": "user", "content": text}]
        return {**CHAT, **fields, "messages": [{"role": "system", "content": "Be brief."}, *messages] if system
                else messages}

    # Primed with a prompt of its own, so that this one is composed by the front wherever the shape allows.
    http.post("/chat/completions", json=body(_fresh("Tell me about lakes")))
    answer = http.post("/chat/completions", json=body(prompt))
    expected = httpx.post(f"{engine_server.api_url}/chat/completions", json=body(prompt), headers=AUTH, timeout=30)
    assert _normalised(answer) == _normalised(expected)
