"""Function tools (the agent loop, every tool_choice form, parallel calls) and the built-in tools (web_search,
file_search, code_interpreter, image_generation, mcp): output items of their real shapes, billing, streams."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import httpx
import openai
import pytest
from openapi_schemas import validate

pytestmark = pytest.mark.server

WEATHER = {"type": "function", "name": "get_weather", "description": "Get the weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}, "strict": True}
TIME = {"type": "function", "name": "get_time", "description": "Get the local time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False}, "strict": True}


def create(server, **body):
    response = httpx.post(server.api_url + "/responses", json=body, headers={"authorization": "Bearer sk-test"})
    assert response.status_code == 200, response.text
    validate("Response", response.json())
    return response


def test_the_agent_loop_ends_in_text(openai_client):
    first = openai_client.responses.create(model="gpt-4.1", input="What is the weather in Paris?", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and json.loads(calls[0].arguments)["city"]
    assert calls[0].call_id.startswith("call_") and len(calls[0].call_id) == 29
    outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": "18C and sunny"} for c in calls]
    second = openai_client.responses.create(model="gpt-4.1", previous_response_id=first.id, input=outputs,
                                            tools=[WEATHER])
    assert second.output[0].type == "message" and "18C and sunny" in second.output_text
    # The whole chain is billed again, plus the new outputs.
    assert second.usage.input_tokens > first.usage.input_tokens

    manual = ([{"role": "user", "content": "What is the weather in Paris?"}]
              + [c.model_dump(exclude_none=True) for c in calls] + outputs)
    third = openai_client.responses.create(model="gpt-4.1", input=manual, tools=[WEATHER])
    assert third.output_text.startswith("Based on the result")


@pytest.mark.parametrize("choice, expect", [
    ("none", set()),
    ("required", {"get_weather", "get_time"}),
    ({"type": "function", "name": "get_time"}, {"get_time"}),
    ({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]},
     {"get_weather"}),
])
def test_tool_choice_forms(fast_server, choice, expect):
    body = create(fast_server, model="gpt-4o", input="Tell me a joke.", tools=[WEATHER, TIME], tool_choice=choice).json()
    names = {item["name"] for item in body["output"] if item["type"] == "function_call"}
    assert names <= expect and (bool(names) == bool(expect))
    assert body["tool_choice"] == choice


def test_parallel_tool_calls(fast_server):
    prompt = "What is the weather and the local time in Paris?"
    parallel = create(fast_server, model="gpt-4o", input=prompt, tools=[WEATHER, TIME]).json()
    assert sorted(i["name"] for i in parallel["output"]) == ["get_time", "get_weather"]
    single = create(fast_server, model="gpt-4o", input=prompt, tools=[WEATHER, TIME], parallel_tool_calls=False).json()
    assert len(single["output"]) == 1 and single["parallel_tool_calls"] is False


def test_unknown_forced_function_is_a_400(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.responses.create(model="gpt-4o", input="Hi", tools=[WEATHER],
                                       tool_choice={"type": "function", "name": "nope"})
    assert info.value.body["param"] == "tool_choice"


def _cost(response) -> Decimal:
    return Decimal(response.headers["x-sentra-cost-usd"])


def test_web_search_cites_its_sources_and_bills_the_call(fast_server):
    response = create(fast_server, model="gpt-4.1", input="Search the latest news about Mars",
                      tools=[{"type": "web_search"}], include=["web_search_call.action.sources"])
    body = response.json()
    call, message = body["output"]
    assert call["type"] == "web_search_call" and call["id"].startswith("ws_") and call["status"] == "completed"
    assert call["action"]["type"] == "search" and call["action"]["sources"]
    annotations = message["content"][0]["annotations"]
    text = message["content"][0]["text"]
    assert annotations and all(a["type"] == "url_citation" for a in annotations)
    for a in annotations:
        assert 0 <= a["start_index"] < a["end_index"] <= len(text) and a["url"].startswith("https://")
    plain = create(fast_server, model="gpt-4.1", input="Search the latest news about Mars")
    assert _cost(response) - _cost(plain) >= Decimal("0.01") - Decimal("0.001")  # $10 / 1k calls, tokens differ a bit


def test_image_generation_returns_a_png(fast_server):
    body = create(fast_server, model="gpt-4.1", input="Draw a picture of a lighthouse",
                  tools=[{"type": "image_generation", "size": "256x256"}]).json()
    call = body["output"][0]
    assert call["type"] == "image_generation_call" and call["id"].startswith("ig_")
    png = base64.b64decode(call["result"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 256 and int.from_bytes(png[20:24], "big") == 256


def test_code_interpreter_and_file_search_outputs_when_included(fast_server):
    code = create(fast_server, model="gpt-4.1", input="Calculate 12 times 13 with python",
                  tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
                  include=["code_interpreter_call.outputs"]).json()
    call = code["output"][0]
    assert call["type"] == "code_interpreter_call" and call["code"] and call["outputs"][0]["type"] == "logs"
    assert call["container_id"].startswith("cntr_")
    files = create(fast_server, model="gpt-4.1", input="What do the documents say about pricing?",
                   tools=[{"type": "file_search", "vector_store_ids": ["vs_abc"]}]).json()
    call, message = files["output"]
    assert call["type"] == "file_search_call" and call["queries"] and call["results"] is None
    assert message["content"][0]["annotations"][0]["type"] == "file_citation"


def test_mcp_asks_for_approval_unless_told_not_to(fast_server):
    tool = {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.deepwiki.com/mcp"}
    asking = create(fast_server, model="gpt-4.1", input="Ask deepwiki about tokio", tools=[tool]).json()
    assert [i["type"] for i in asking["output"]] == ["mcp_list_tools", "mcp_approval_request"]
    direct = create(fast_server, model="gpt-4.1", input="Ask deepwiki about tokio",
                    tools=[{**tool, "require_approval": "never"}]).json()
    assert [i["type"] for i in direct["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    assert direct["output"][1]["output"]


def test_forced_builtin_and_max_tool_calls(fast_server):
    forced = create(fast_server, model="gpt-4.1", input="Hello", tools=[{"type": "web_search_preview"}],
                    tool_choice={"type": "web_search_preview"}).json()
    assert forced["output"][0]["type"] == "web_search_call"
    history = [{"role": "user", "content": "search news"}, forced["output"][0], {"role": "user", "content": "search more"}]
    capped = create(fast_server, model="gpt-4.1", input=history, tools=[{"type": "web_search_preview"}],
                    max_tool_calls=1).json()
    assert all(i["type"] == "message" for i in capped["output"])


def test_builtin_stream_events(fast_server):
    with httpx.stream("POST", fast_server.api_url + "/responses",
                      json={"model": "gpt-4.1", "input": "Search the latest news", "tools": [{"type": "web_search"}],
                            "stream": True}, headers={"authorization": "Bearer sk-test"}) as response:
        text = response.read().decode()
    types = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    start = types.index("response.web_search_call.in_progress")
    assert types[start:start + 3] == ["response.web_search_call.in_progress", "response.web_search_call.searching",
                                      "response.web_search_call.completed"]
    assert "response.output_text.annotation.added" in types


def test_mcp_approval_loop(fast_server):
    tool = {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.deepwiki.com/mcp"}
    first = create(fast_server, model="gpt-4.1", input="Ask deepwiki about tokio", tools=[tool]).json()
    request = first["output"][-1]
    approved = create(fast_server, model="gpt-4.1", previous_response_id=first["id"], tools=[tool],
                      input=[{"type": "mcp_approval_response", "approval_request_id": request["id"],
                              "approve": True}]).json()
    assert [i["type"] for i in approved["output"]] == ["mcp_call", "message"]
    assert approved["output"][0]["approval_request_id"] == request["id"]
    refused = create(fast_server, model="gpt-4.1", previous_response_id=first["id"], tools=[tool],
                     input=[{"type": "mcp_approval_response", "approval_request_id": request["id"],
                             "approve": False}]).json()
    assert [i["type"] for i in refused["output"]] == ["message"]
