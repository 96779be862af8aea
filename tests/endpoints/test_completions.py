"""POST /v1/completions (legacy) through the official SDK and raw HTTP: prompt shapes, echo, suffix, n/best_of, stop,
max_tokens, logprobs, streaming, OpenAI's errors and the recorded real requests. Every body and stream chunk is
validated against the official OpenAPI schema."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from conftest import CAPTURE_DIR, ROOT, replay_capture
from openapi_schemas import validate
from sentra_openai.tokens import get_encoding

pytestmark = pytest.mark.server

CAPTURES = sorted(CAPTURE_DIR.glob("completion-*.json"))
FIB = "def fib(n):\n    if n <= 1:\n        return n\n    else:\n        return fib(n-1) + fib(n-2)"
CL100K = get_encoding("cl100k_base")  # the packaged copy: tests run offline


def tokens(text: str) -> int:
    return len(CL100K.encode_ordinary(text))


def create(client, **kwargs: Any) -> dict[str, Any]:
    """A completion through the SDK; returns the raw JSON body after validating it against the schema."""
    raw = client.completions.with_raw_response.create(**kwargs)
    body = orjson.loads(raw.http_response.content)
    validate("CreateCompletionResponse", body)
    parsed = raw.parse()
    assert [c.text for c in parsed.choices] == [c["text"] for c in body["choices"]]
    return body


def post(server, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(server.base_url + "/v1/completions", json=body, timeout=30)
    if response.status_code >= 400:
        validate("ErrorResponse", response.json())
    else:
        validate("CreateCompletionResponse", response.json())
    return response


def validate_chunk(chunk: dict[str, Any]) -> None:
    """Stream chunks have CreateCompletionResponse's shape except for two nulls the real stream sends and the schema
    does not allow (capture completion-streaming; see test_real_stream_has_the_same_spec_gaps): `finish_reason`
    before the last chunk and `usage` on text chunks under include_usage. Those are checked here, the rest by the
    schema."""
    copy = json.loads(json.dumps(chunk))
    if "usage" in copy and copy["usage"] is None:
        del copy["usage"]
    for choice in copy["choices"]:
        if choice.get("finish_reason", "missing") is None:
            choice["finish_reason"] = "stop"  # a placeholder: the null itself is the real API's value
    validate("CreateCompletionResponse", copy)


def sse_payloads(text: str) -> list[str]:
    events = [event for event in text.split("\n\n") if event]
    assert all(event.startswith("data: ") for event in events), events
    return [event[len("data: "):] for event in events]


def assert_error(response: httpx.Response, status: int, message: str, param: str | None = None,
                 code: str | None = None, type_: str = "invalid_request_error") -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"message": message, "type": type_, "param": param, "code": code}}


# ---- basics -------------------------------------------------------------------------------------------------------


def test_sdk_completion_counts_usage_and_echoes_the_snapshot(openai_client):
    raw = openai_client.completions.with_raw_response.create(model="babbage-002", prompt=FIB, max_tokens=25,
                                                             temperature=0.4, top_p=0.9)
    body = orjson.loads(raw.http_response.content)
    validate("CreateCompletionResponse", body)
    assert list(body) == ["id", "object", "created", "model", "choices", "usage"]
    assert body["id"].startswith("cmpl-") and len(body["id"]) == len("cmpl-") + 29
    assert body["object"] == "text_completion"
    assert body["model"] == "babbage:2023-07-21-v2"
    assert raw.http_response.headers["openai-model"] == "babbage:2023-07-21-v2"
    assert raw.http_response.headers["content-type"] == "application/json"
    choice = body["choices"][0]
    assert list(choice) == ["text", "index", "logprobs", "finish_reason"]
    assert choice["logprobs"] is None
    usage = body["usage"]
    assert usage["prompt_tokens"] == 31  # the real API's count for this prompt (capture completion-basic)
    assert usage["completion_tokens"] == tokens(choice["text"]) <= 25
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == 25


def test_max_tokens_defaults_to_16(openai_client):
    lengths = []
    for prompt in ["The history of the bicycle", "Write a poem about autumn.", "Once upon a time", "Dear team,"]:
        body = create(openai_client, model="gpt-3.5-turbo-instruct", prompt=prompt)
        choice, usage = body["choices"][0], body["usage"]
        assert usage["completion_tokens"] == tokens(choice["text"]) <= 16
        if choice["finish_reason"] == "length":
            assert usage["completion_tokens"] == 16
        lengths.append(choice["finish_reason"])
    assert "length" in lengths  # natural answers are longer than 16 tokens


def test_same_request_same_text_and_seed_changes_it(openai_client):
    first = create(openai_client, model="babbage-002", prompt="The lighthouse keeper", max_tokens=30, seed=7)
    again = create(openai_client, model="babbage-002", prompt="The lighthouse keeper", max_tokens=30, seed=7)
    other = create(openai_client, model="babbage-002", prompt="The lighthouse keeper", max_tokens=30, seed=8)
    assert first["choices"][0]["text"] == again["choices"][0]["text"]
    assert first["id"] != again["id"]
    assert other["choices"][0]["text"] != first["choices"][0]["text"]


def test_smaller_max_tokens_gives_a_prefix_cut_for_length(openai_client):
    long = create(openai_client, model="davinci-002", prompt="A guide to sourdough", max_tokens=60)
    short = create(openai_client, model="davinci-002", prompt="A guide to sourdough", max_tokens=5)
    assert long["choices"][0]["text"].startswith(short["choices"][0]["text"])
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["usage"]["completion_tokens"] == 5


def test_max_tokens_zero_returns_empty_text_or_just_the_echo(openai_client):
    body = create(openai_client, model="babbage-002", prompt="Hello there", max_tokens=0)
    assert body["choices"][0]["text"] == ""
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 0
    echoed = create(openai_client, model="babbage-002", prompt="Hello there", max_tokens=0, echo=True)
    assert echoed["choices"][0]["text"] == "Hello there"


def test_stop_sequence_cuts_the_text_before_it(openai_client):
    free = create(openai_client, model="gpt-3.5-turbo-instruct", prompt="Explain how tides work.", max_tokens=80)
    text = free["choices"][0]["text"]
    words = [w for w in text.split() if len(w) > 3]
    stop = words[len(words) // 2]
    cut = create(openai_client, model="gpt-3.5-turbo-instruct", prompt="Explain how tides work.", max_tokens=80,
                 stop=[stop, "zzzz-never"])
    choice = cut["choices"][0]
    assert choice["text"] == text[: text.index(stop)]
    assert choice["finish_reason"] == "stop"
    assert cut["usage"]["completion_tokens"] == tokens(choice["text"])


# ---- prompt shapes, n, best_of --------------------------------------------------------------------------------------


def test_token_array_prompt_counts_its_tokens(openai_client):
    ids = CL100K.encode_ordinary(FIB)
    body = create(openai_client, model="babbage-002", prompt=ids, max_tokens=25, echo=True)
    assert body["usage"]["prompt_tokens"] == len(ids) == 31
    assert body["choices"][0]["text"].startswith(FIB)  # the echo is the decoded prompt


def test_prompts_times_n_choices_in_prompt_major_order(openai_client):
    prompts = ["Roses are red,", "The capital of France is"]
    body = create(openai_client, model="babbage-002", prompt=prompts, n=2, max_tokens=6, echo=True)
    choices = body["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2, 3]
    for choice in choices:
        assert choice["text"].startswith(prompts[choice["index"] // 2])
    assert body["usage"]["prompt_tokens"] == sum(tokens(p) for p in prompts)
    generated = sum(tokens(c["text"][len(prompts[c["index"] // 2]):]) for c in choices)
    assert body["usage"]["completion_tokens"] == generated


def test_list_of_token_arrays(openai_client):
    arrays = [CL100K.encode_ordinary("One two three"), CL100K.encode_ordinary("Four five")]
    body = create(openai_client, model="davinci-002", prompt=arrays, max_tokens=3)
    assert len(body["choices"]) == 2
    assert body["usage"]["prompt_tokens"] == len(arrays[0]) + len(arrays[1])


def test_best_of_returns_the_best_of_the_candidates_and_bills_them_all(openai_client):
    args = dict(model="gpt-3.5-turbo-instruct", prompt="Name a colour:", max_tokens=12)
    all_three = create(openai_client, n=3, best_of=3, **args)
    best = create(openai_client, n=1, best_of=3, **args)
    assert len(best["choices"]) == 1
    assert best["choices"][0]["text"] in [c["text"] for c in all_three["choices"]]
    # All three candidates are generated (and billed) either way.
    assert best["usage"]["completion_tokens"] == all_three["usage"]["completion_tokens"]
    assert best["usage"]["completion_tokens"] > tokens(best["choices"][0]["text"])


# ---- echo, suffix, logprobs -----------------------------------------------------------------------------------------


def test_echo_prepends_the_prompt(openai_client):
    body = create(openai_client, model="babbage-002", prompt="Knock knock.", max_tokens=8, echo=True)
    text = body["choices"][0]["text"]
    assert text.startswith("Knock knock.") and len(text) > len("Knock knock.")
    assert body["usage"]["completion_tokens"] == tokens(text[len("Knock knock."):])


def test_suffix_where_supported_counts_as_prompt(openai_client):
    body = create(openai_client, model="gpt-3.5-turbo-instruct", prompt="def add(a, b):\n", suffix="\n    return c",
                  max_tokens=10)
    assert body["usage"]["prompt_tokens"] == tokens("def add(a, b):\n") + tokens("\n    return c")
    assert not body["choices"][0]["text"].endswith("return c")  # the suffix is context, not output


def test_logprobs_describe_every_token(openai_client):
    prompt = "The sky is"
    body = create(openai_client, model="gpt-3.5-turbo-instruct", prompt=prompt, max_tokens=10, logprobs=3)
    choice = body["choices"][0]
    logprobs = choice["logprobs"]
    assert list(logprobs) == ["tokens", "token_logprobs", "top_logprobs", "text_offset"]
    assert "".join(logprobs["tokens"]) == choice["text"]
    assert len(logprobs["tokens"]) == body["usage"]["completion_tokens"]
    offset = len(prompt)  # offsets count from the start of the prompt, echoed or not
    for token, logprob, top, at in zip(logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"],
                                       logprobs["text_offset"]):
        assert at == offset
        offset += len(token)
        assert logprob <= 0
        assert top[token] == logprob and 1 <= len(top) <= 4  # up to logprobs + 1 entries, the sampled one included
        assert all(value <= 0 for value in top.values())


def test_logprobs_zero_lists_only_the_sampled_token_and_large_values_are_capped(openai_client):
    zero = create(openai_client, model="babbage-002", prompt="Once", max_tokens=5, logprobs=0)
    assert all(len(top) == 1 for top in zero["choices"][0]["logprobs"]["top_logprobs"])
    many = create(openai_client, model="babbage-002", prompt="Once", max_tokens=5, logprobs=25)
    sizes = {len(top) for top in many["choices"][0]["logprobs"]["top_logprobs"]}
    assert sizes == {20}  # the live API accepts more than the documented 5 and caps at 20


def test_echo_with_logprobs_is_refused_by_current_models(fast_server):
    response = post(fast_server, {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "echo": True, "logprobs": 1})
    assert_error(response, 400, "Setting 'echo' and 'logprobs' at the same time is not supported for this model.")


def test_echo_with_logprobs_scores_the_prompt_where_the_catalog_allows_it(tmp_path):
    """The legacy scoring trick (prompt tokens in logprobs, the first one unscored) on a model flagged for it."""
    from sentra_openai.catalog import Catalog
    from sentra_openai.config import load_settings
    from sentra_openai.engine import ManualClock, Request, build_engine

    document = orjson.loads(orjson.dumps(_catalog_document()))
    document["models"]["babbage-002"]["supports"].append("echo_logprobs")
    engine = build_engine(load_settings(mode="fast", environ={}), clock=ManualClock(),
                          catalog=Catalog.from_mapping(document))
    prompt = "Paris is the capital of"
    outcome = engine.handle(Request("POST", "/v1/completions", {"content-type": "application/json"}, orjson.dumps(
        {"model": "babbage-002", "prompt": prompt, "max_tokens": 3, "echo": True, "logprobs": 2})))
    assert outcome.status == 200, outcome.body
    body = orjson.loads(outcome.body)
    choice = body["choices"][0]
    logprobs = choice["logprobs"]
    prompt_ids = CL100K.encode_ordinary(prompt)
    assert logprobs["tokens"][: len(prompt_ids)] == [CL100K.decode([t]) for t in prompt_ids]
    assert "".join(logprobs["tokens"]) == choice["text"]
    assert logprobs["text_offset"][0] == 0
    # Nothing precedes the first token, so the real API gives it no score: null, which the OpenAPI schema does not
    # allow; the rest of the body is schema-valid.
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    assert all(value is not None for value in logprobs["token_logprobs"][1:])
    trimmed = json.loads(json.dumps(body))
    for key in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
        trimmed["choices"][0]["logprobs"][key] = trimmed["choices"][0]["logprobs"][key][1:]
    validate("CreateCompletionResponse", trimmed)


def _catalog_document() -> dict[str, Any]:
    import yaml

    path = ROOT / "config" / "models.yaml"
    return yaml.safe_load(path.read_text())


# ---- streaming ----------------------------------------------------------------------------------------------------


def test_sdk_stream_matches_the_non_streamed_answer(openai_client):
    args = dict(model="babbage-002", prompt=FIB, max_tokens=25, temperature=0.4, top_p=0.9)
    whole = create(openai_client, **args)
    pieces, usage = [], None
    with openai_client.completions.with_streaming_response.create(
        stream=True, stream_options={"include_usage": True}, **args
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                payload = json.loads(line[len("data: "):])
                validate_chunk(payload)
                if payload["choices"]:
                    pieces.append(payload["choices"][0])
                else:
                    usage = payload["usage"]
    assert "".join(p["text"] for p in pieces) == whole["choices"][0]["text"]
    assert usage == whole["usage"]
    assert len(pieces) == whole["usage"]["completion_tokens"]  # one chunk per token
    assert [p["finish_reason"] for p in pieces[:-1]] == [None] * (len(pieces) - 1)
    assert pieces[-1]["finish_reason"] == whole["choices"][0]["finish_reason"]

    streamed = openai_client.completions.create(stream=True, **args)
    assert "".join(chunk.choices[0].text for chunk in streamed) == whole["choices"][0]["text"]


def test_raw_stream_is_framed_like_the_real_one(fast_server):
    body = {"model": "babbage-002", "prompt": FIB, "max_tokens": 25, "stream": True,
            "stream_options": {"include_usage": True}}
    response = httpx.post(fast_server.base_url + "/v1/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"  # no charset on legacy completions
    assert response.headers["openai-model"] == "babbage:2023-07-21-v2"
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        validate_chunk(chunk)
    text_chunks, usage_chunk = chunks[:-1], chunks[-1]
    for chunk in text_chunks:
        assert list(chunk) == ["id", "object", "created", "choices", "model", "usage"]
        assert chunk["usage"] is None and chunk["object"] == "text_completion"
        assert "obfuscation" not in chunk
    assert list(usage_chunk) == ["id", "object", "created", "model", "usage", "choices"]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["prompt_tokens"] == 31
    last = text_chunks[-1]["choices"][0]
    assert last["finish_reason"] in ("length", "stop") and last["text"]  # the finish rides on a text chunk
    assert len({c["id"] for c in chunks}) == 1


def test_stream_without_include_usage_has_no_usage_key(fast_server):
    response = httpx.post(fast_server.base_url + "/v1/completions",
                          json={"model": "babbage-002", "prompt": "Hello", "max_tokens": 4, "stream": True})
    chunks = [json.loads(p) for p in sse_payloads(response.text)[:-1]]
    for chunk in chunks:
        validate_chunk(chunk)
    assert chunks and all("usage" not in chunk for chunk in chunks)
    assert all(list(chunk) == ["id", "object", "created", "choices", "model"] for chunk in chunks)


def test_stream_with_n_and_logprobs(fast_server):
    body = {"model": "babbage-002", "prompt": ["Alpha", "Beta"], "n": 2, "max_tokens": 4, "stream": True,
            "logprobs": 1}
    response = httpx.post(fast_server.base_url + "/v1/completions", json=body)
    chunks = [json.loads(p) for p in sse_payloads(response.text)[:-1]]
    texts: dict[int, str] = {}
    finishes: dict[int, list] = {}
    for chunk in chunks:
        validate_chunk(chunk)
        choice = chunk["choices"][0]
        texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
        finishes.setdefault(choice["index"], []).append(choice["finish_reason"])
        assert "".join(choice["logprobs"]["tokens"]) == choice["text"]
    assert sorted(texts) == [0, 1, 2, 3]
    assert all(f[-1] is not None and all(x is None for x in f[:-1]) for f in finishes.values())
    whole = post(fast_server, {**body, "stream": False}).json()
    assert [texts[c["index"]] for c in whole["choices"]] == [c["text"] for c in whole["choices"]]


# ---- errors -------------------------------------------------------------------------------------------------------


def test_chat_model_is_refused_with_openais_hint(fast_server):
    response = post(fast_server, {"model": "gpt-4o-mini", "prompt": "Hi"})
    assert_error(response, 404, "This is a chat model and not supported in the v1/completions endpoint. "
                                "Did you mean to use v1/chat/completions?", param="model")


def test_unknown_and_missing_model(fast_server):
    response = httpx.post(fast_server.base_url + "/v1/completions", json={"model": "babbage-003", "prompt": "Hi"})
    assert_error(response, 404, "The model `babbage-003` does not exist or you do not have access to it.",
                 code="model_not_found")
    validate("ErrorResponse", response.json())
    assert response.content.endswith(b"}\n")  # the outer layer's 4-space JSON with a trailing newline
    assert_error(post(fast_server, {"prompt": "Hi"}), 400, "you must provide a model parameter")


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        ({"logprobs": -1}, "Invalid 'logprobs': integer below minimum value. Expected a value >= 0, but got -1 instead.",
         "logprobs", "integer_below_min_value"),
        ({"temperature": 2.5}, "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 "
         "instead.", "temperature", "decimal_above_max_value"),
        ({"n": 0}, "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.", "n",
         "integer_below_min_value"),
        ({"max_tokens": "ten"}, "Invalid type for 'max_tokens': expected an integer, but got a string instead.",
         "max_tokens", "invalid_type"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "Invalid 'stop': array too long. Expected an array with maximum length 4, "
         "but got an array with length 5 instead.", "stop", "array_above_max_length"),
        ({"suffix": "end"}, "Unsupported parameter: 'suffix' is not supported with this model.", "suffix",
         "unsupported_parameter"),
        ({"stream_options": {"include_usage": True}}, "The 'stream_options' parameter is only allowed when 'stream' is "
         "enabled.", "stream_options", None),
        ({"n": 3, "best_of": 2}, "best_of must be greater than or equal to n.", "best_of", None),
        ({"best_of": 2, "stream": True}, "best_of > 1 is not supported when streaming.", "best_of", None),
        ({"prompt": [100257, 100258]}, "Invalid token in prompt: 100258. Minimum value is 0, maximum value is 100257 "
         "(inclusive).", None, None),
        ({"bogus": 1}, "Unrecognized request argument supplied: bogus", None, None),
    ],
)
def test_validation_errors(fast_server, body, message, param, code):
    request = {"model": "babbage-002", "prompt": "Hi", **body}
    assert_error(post(fast_server, request), 400, message, param=param, code=code)


def test_context_length_uses_the_legacy_message(fast_server):
    prompt = "word " * 200
    response = post(fast_server, {"model": "gpt-3.5-turbo-instruct", "prompt": prompt, "max_tokens": 4000})
    used = tokens(prompt)
    assert_error(response, 400, f"This model's maximum context length is 4096 tokens, however you requested "
                                f"{used + 4000} tokens ({used} in your prompt; 4000 for the completion). Please reduce "
                                "your prompt; or completion length.")


# ---- the recorded real requests -------------------------------------------------------------------------------------




def test_real_stream_has_the_same_spec_gaps():
    """The real stream's chunks fail the schema exactly where validate_chunk makes allowance, and nowhere else."""
    capture = json.loads((CAPTURE_DIR / "completion-streaming.json").read_text())
    chunks = [json.loads(p) for p in sse_payloads(capture["response"]["body"])[:-1]]
    with pytest.raises(AssertionError, match="finish_reason"):
        validate("CreateCompletionResponse", chunks[0])
    for chunk in chunks:
        validate_chunk(chunk)


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_replay_matches_the_real_api(limited_server, path):
    request, expected, response = replay_capture(limited_server, path)
    succeeded = expected["status"] < 400
    if succeeded and request["body"].get("stream"):
        real = [json.loads(p) for p in sse_payloads(expected["body"])[:-1]]
        ours = [json.loads(p) for p in sse_payloads(response.text)[:-1]]
        for chunk in ours:
            validate_chunk(chunk)
        assert {tuple(c) for c in ours} == {tuple(c) for c in real}  # the same keys in the same order
        assert [list(c["choices"][0]) for c in ours[:1]] == [list(c["choices"][0]) for c in real[:1]]
        assert len(ours) <= request["body"]["max_tokens"]  # one chunk per token
        if ours[-1]["choices"][0]["finish_reason"] == "length":
            assert len(ours) == len(real) == request["body"]["max_tokens"]
        assert {c["model"] for c in ours} == {c["model"] for c in real}
    elif succeeded:
        body = response.json()
        validate("CreateCompletionResponse", body)
        real = expected["body"]
        assert body["usage"]["prompt_tokens"] == real["usage"]["prompt_tokens"]
        assert body["usage"]["completion_tokens"] <= request["body"]["max_tokens"]
        if body["choices"][0]["finish_reason"] == "length":
            assert body["usage"]["completion_tokens"] == real["usage"]["completion_tokens"]
        assert body["model"] == real["model"]
        assert sorted(body) == sorted(real)
    for name in expected["headers"]:
        if name.startswith(("x-ratelimit", "openai-")) or name in ("x-request-id", "access-control-allow-origin"):
            assert name in response.headers, name
