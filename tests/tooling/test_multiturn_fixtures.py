"""Fixtures matched on the conversation (earlier turns, the last tool result, the system prompt, the tools offered) and
reply sequences for the i-th matching call: a scripted agent loop, through the openai SDK against a real server."""

from __future__ import annotations

import json

import httpx
import pytest
from sentra_openai.engine.content.fixtures import FixtureError, FixtureSet

pytestmark = pytest.mark.server

FIXTURES = """
fixtures:
  - name: weather-step-1
    match:
      regex: '(?i)weather in paris'
      tools: [get_weather]
    response:
      tool_call: {name: get_weather, arguments: {city: Paris}}

  - name: weather-step-2
    match:
      tool_result: {name: get_weather, regex: sunny}
    response:
      content: "It is sunny in Paris."

  - name: weather-step-2-rain
    match:
      tool_result: {name: get_weather, regex: rain}
    response:
      content: "Take an umbrella."

  - name: pirate
    match:
      system: '(?i)pirate'
      regex: '(?i)hello'
    priority: 50
    response:
      content: "Ahoy!"

  - name: second-turn
    match:
      turns:
        - {role: user, exact: "My name is Ada."}
        - {role: assistant}
        - {role: user, regex: '(?i)what is my name'}
    response:
      content: "Your name is Ada."

  - name: counting
    match: {exact: "Count", user_turns: 1}
    replies:
      - content: "one"
      - content: "two"
      - content: "three"

  - name: flip
    match: {exact: "Flip"}
    cycle: true
    replies:
      - content: "heads"
      - content: "tails"
"""

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                                 "parameters": {"type": "object",
                                                                "properties": {"city": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import start_server

    folder = tmp_path_factory.mktemp("multiturn")
    (folder / "agent.yaml").write_text(FIXTURES)
    config = {"metrics": {"enable": False}, "fixtures": {"paths": [str(folder / "agent.yaml"), "fixtures"]}}
    running = start_server(folder, config)
    yield running
    running.stop()


@pytest.fixture
def client(server):
    httpx.post(f"{server.base_url}/sentra/v1/reset")
    return server.client()


def ask(client, messages, **kw) -> str | None:
    return client.chat.completions.create(model="gpt-4o-mini", messages=messages, **kw).choices[0].message


def test_a_scripted_agent_loop_follows_the_tool_result(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = ask(client, messages, tools=[WEATHER_TOOL])
    (call,) = first.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [first.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"}]
    assert ask(client, messages, tools=[WEATHER_TOOL]).content == "It is sunny in Paris."
    messages[-1] = {"role": "tool", "tool_call_id": call.id, "content": "light rain"}
    assert ask(client, messages, tools=[WEATHER_TOOL]).content == "Take an umbrella."


def test_without_the_tool_offered_the_tool_fixture_does_not_match(client):
    answer = ask(client, [{"role": "user", "content": "What is the weather in Paris?"}])
    assert answer.tool_calls is None


def test_the_system_prompt_decides(client):
    hello = [{"role": "user", "content": "Hello"}]
    assert ask(client, [{"role": "system", "content": "You are a pirate."}, *hello]).content == "Ahoy!"
    assert ask(client, hello).content != "Ahoy!"


def test_earlier_turns_decide(client):
    conversation = [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hi Ada."},
                    {"role": "user", "content": "What is my name?"}]
    assert ask(client, conversation).content == "Your name is Ada."
    assert ask(client, [{"role": "user", "content": "What is my name?"}]).content != "Your name is Ada."


def test_the_i_th_matching_call_gets_the_i_th_reply(client, server):
    count = [{"role": "user", "content": "Count"}]
    assert [ask(client, count).content for _ in range(4)] == ["one", "two", "three", "three"]
    flips = [ask(client, [{"role": "user", "content": "Flip"}]).content for _ in range(3)]
    assert flips == ["heads", "tails", "heads"]
    httpx.post(f"{server.base_url}/sentra/v1/reset")  # a reset starts every sequence again
    assert ask(client, count).content == "one"


def test_sequences_count_across_workers(server_factory, tmp_path):
    (tmp_path / "agent.yaml").write_text(FIXTURES)
    server = server_factory({"metrics": {"enable": False}, "fixtures": {"paths": [str(tmp_path / "agent.yaml")]}},
                            args=["--processes", "2"])
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Count"}]}
    answers = [httpx.post(f"{server.api_url}/chat/completions", json=body).json()["choices"][0]["message"]["content"]
               for _ in range(3)]
    assert answers == ["one", "two", "three"]


def test_responses_api_uses_the_same_fixtures(client):
    response = client.responses.create(model="gpt-4o-mini", input=[
        {"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hello"}])
    assert response.output_text == "Ahoy!"


def test_a_bad_condition_names_the_entry(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("fixtures:\n  - name: bad\n    match: {tool_result: {nme: x}}\n    response: {content: x}\n")
    with pytest.raises(FixtureError) as caught:
        FixtureSet.load([broken])
    assert "fixture #1 'bad'" in str(caught.value) and "nme" in str(caught.value)
