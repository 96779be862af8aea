"""llama-index-llms-openai's OpenAI (Chat Completions) and OpenAIResponses against the server: chat with usage,
streamed chat, a tool call with the prompt's arguments, a FunctionAgent run to a final text answer, a structured LLM
validating into the user's model, and a retry that recovers from an injected 429.

llama-index-llms-openai requires openai<3 (this project tests with the current major) and llama-index-core brings
numpy, nltk and SQLAlchemy: not in the `test` extra; these tests run where it is installed and skip elsewhere."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from sentra_control import API_KEY, fail_next, statuses

llms = pytest.importorskip("llama_index.llms.openai")
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool

pytestmark = pytest.mark.server

CLASSES = [pytest.param("OpenAI", id="chat"), pytest.param("OpenAIResponses", id="responses")]


class City(BaseModel):
    name: str
    country: str


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is 21C and sunny in {city}."


def _llm(server, class_name: str, max_retries: int = 0):
    return getattr(llms, class_name)(model="gpt-4o-mini", api_base=server.api_url, api_key=API_KEY,
                                     max_retries=max_retries)


@pytest.mark.parametrize("class_name", CLASSES)
def test_chat_answers_with_usage(framework_server, class_name):
    response = _llm(framework_server, class_name).chat([ChatMessage(role="user", content="Hello there")])
    assert response.message.content.strip()
    usage = response.raw.usage
    inputs = getattr(usage, "prompt_tokens", None) or usage.input_tokens
    outputs = getattr(usage, "completion_tokens", None) or usage.output_tokens
    assert inputs > 0 and outputs > 0


@pytest.mark.parametrize("class_name", CLASSES)
def test_stream_chat_builds_the_answer(framework_server, class_name):
    parts = list(_llm(framework_server, class_name).stream_chat(
        [ChatMessage(role="user", content="Tell me a short story about a fox.")]))
    deltas = [p.delta for p in parts if p.delta]
    assert len(deltas) > 3 and parts[-1].message.content == "".join(deltas)


@pytest.mark.parametrize("class_name", CLASSES)
def test_tool_call_carries_the_prompts_arguments(framework_server, class_name):
    llm = _llm(framework_server, class_name)
    response = llm.chat_with_tools([FunctionTool.from_defaults(fn=get_weather)], user_msg="What is the weather in Paris?")
    calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=True)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("class_name", CLASSES)
def test_function_agent_runs_the_tool_then_answers(framework_server, class_name):
    agent = FunctionAgent(tools=[get_weather], llm=_llm(framework_server, class_name),
                          system_prompt="Use the tool, then answer.")

    async def run():
        return await agent.run(user_msg="What is the weather in Paris?")

    result = asyncio.run(run())
    assert [call.tool_name for call in result.tool_calls] == ["get_weather"]
    assert "sunny" in str(result)  # the final text answer, written after the tool's result


@pytest.mark.parametrize("class_name", CLASSES)
def test_structured_llm_validates_into_the_model(framework_server, class_name):
    structured = _llm(framework_server, class_name).as_structured_llm(City)
    city = structured.chat([ChatMessage(role="user", content="Tell me about Paris, France.")]).raw
    assert isinstance(city, City) and (city.name, city.country) == ("Paris", "France")


def test_retries_recover_from_a_rate_limit(framework_server):
    fail_next(framework_server, 429)
    response = _llm(framework_server, "OpenAI", max_retries=2).chat([ChatMessage(role="user", content="Hello there")])
    assert response.message.content.strip()
    assert statuses(framework_server) == [("/v1/chat/completions", 429), ("/v1/chat/completions", 200)]
