"""serve --record DIR --upstream URL, then serve --replay DIR: an agent's conversation recorded through the proxy
(from an upstream on loopback, itself a sentra server) is answered the same way offline; secrets never reach the
files."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
import yaml
from sentra_openai.engine.tooling.recording import redact

pytestmark = pytest.mark.server
SECRET = "sk-proj-TopSecretKey0123456789abcdef"
TOOL = {"type": "function", "function": {"name": "lookup_order", "description": "Look up an order by id",
                                         "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                                                        "required": ["order_id"]}}}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Records a session against an upstream, stops both, and returns what the client saw and the folder."""
    from conftest import start_server

    root = tmp_path_factory.mktemp("record")
    folder = root / "recorded"
    upstream = start_server(root, {"metrics": {"enable": False},
                                   "auth": {"require_api_key": True, "api_keys": [SECRET]}})
    seen: dict[str, object] = {}
    try:
        proxy = start_server(root, {"metrics": {"enable": False}},
                             args=["--record", str(folder), "--upstream", upstream.api_url])
        try:
            client = proxy.client(api_key=SECRET)
            question = [{"role": "system", "content": "You are a support bot."},
                        {"role": "user", "content": f"Where is order 42? My key is {SECRET}"}]
            first = client.chat.completions.create(model="gpt-4o-mini", messages=question, tools=[TOOL],
                                                   tool_choice="required")
            call = first.choices[0].message.tool_calls[0]
            followup = [*question, first.choices[0].message.model_dump(exclude_none=True),
                        {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'}]
            second = client.chat.completions.create(model="gpt-4o-mini", messages=followup, tools=[TOOL])
            plain = [{"role": "user", "content": "Tell me about rivers"}]
            repeated = [client.chat.completions.create(model="gpt-4o-mini", messages=plain, max_tokens=15,
                                                       seed=seed).choices[0].message.content for seed in (1, 2)]
            streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream about lakes"}], max_tokens=12,
                stream=True) if c.choices)
            response = client.responses.create(model="gpt-4o-mini", input="Describe a forest", max_output_tokens=20)
            client.embeddings.create(model="text-embedding-3-small", input="proxied, not a fixture")
            with pytest.raises(openai.AuthenticationError):
                proxy.client(api_key="sk-wrong").chat.completions.create(model="gpt-4o-mini", messages=plain)
            seen.update(question=question, first=first, followup=followup, second=second, plain=plain,
                        repeated=repeated, streamed=streamed, response=response)
        finally:
            proxy.stop()
    finally:
        upstream.stop()
    return root, folder, seen


@pytest.fixture(scope="module")
def replay(recorded):
    from conftest import start_server

    root, folder, _ = recorded
    server = start_server(root, {"metrics": {"enable": False}}, args=["--replay", str(folder)])
    yield server
    server.stop()


def test_the_recording_proxy_answered_as_the_upstream(recorded):
    _, _, seen = recorded
    assert seen["first"].choices[0].message.tool_calls[0].function.name == "lookup_order"
    assert seen["second"].choices[0].message.content


def test_no_secret_reaches_the_files(recorded):
    _, folder, _ = recorded
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".yaml" for p in files) and any(p.suffix == ".json" for p in files)
    for path in files:
        assert SECRET not in path.read_text(), path
    exchange = json.loads(next((folder / "exchanges").glob("*.json")).read_text())
    assert exchange["request"]["headers"]["authorization"] == "[REDACTED]"


def test_each_text_exchange_became_a_fixture(recorded):
    _, folder, _ = recorded
    entries = [yaml.safe_load(p.read_text())["fixtures"][0] for p in folder.glob("*.yaml")]
    assert len(entries) == 5  # two agent steps, one conversation asked twice, a stream, a response
    twice = next(e for e in entries if "replies" in e)
    assert len(twice["replies"]) == 2
    assert all(e["match"]["conversation"] for e in entries)


def test_replay_answers_the_recorded_agent_loop(recorded, replay):
    _, _, seen = recorded
    client = replay.client()
    question, followup = seen["question"], seen["followup"]
    question = [question[0], {"role": "user", "content": question[1]["content"].replace(SECRET, "[REDACTED]")}]
    followup = [*question, *followup[2:]]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=question, tools=[TOOL])
    recorded_call = seen["first"].choices[0].message.tool_calls[0].function
    assert first.choices[0].message.tool_calls[0].function.name == recorded_call.name
    assert json.loads(first.choices[0].message.tool_calls[0].function.arguments) == json.loads(recorded_call.arguments)
    second = client.chat.completions.create(model="gpt-4o-mini", messages=followup, tools=[TOOL])
    # The upstream's answer quoted part of the key; the recording keeps it redacted.
    assert second.choices[0].message.content == redact(seen["second"].choices[0].message.content)


def test_replay_gives_the_i_th_call_the_i_th_recorded_reply(recorded, replay):
    _, _, seen = recorded
    client = replay.client()
    again = [client.chat.completions.create(model="gpt-4o-mini", messages=seen["plain"]).choices[0].message.content
             for _ in range(2)]
    assert again == seen["repeated"]


def test_replay_of_a_stream_and_a_response(recorded, replay):
    _, _, seen = recorded
    client = replay.client()
    lakes = client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": "Stream about lakes"}])
    assert lakes.choices[0].message.content == seen["streamed"]
    response = client.responses.create(model="gpt-4o-mini", input="Describe a forest")
    assert response.output_text == seen["response"].output_text


def test_an_unreachable_upstream_is_a_502(tmp_path):
    from conftest import free_port, start_server

    proxy = start_server(tmp_path, {"metrics": {"enable": False}},
                         args=["--record", str(tmp_path / "rec"), "--upstream", f"http://127.0.0.1:{free_port()}/v1"])
    try:
        answer = httpx.post(f"{proxy.api_url}/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
        assert answer.status_code == 502 and answer.json()["error"]["code"] == "upstream_unavailable"
    finally:
        proxy.stop()
