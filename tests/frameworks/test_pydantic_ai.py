"""pydantic-ai's OpenAIChatModel and OpenAIResponsesModel against the server: an agent with a function tool and a
structured output_type runs tool -> result -> output tool to a validated Forecast, plain and streamed, with usage;
a retry of the SDK client recovers from an injected 500."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from sentra_control import API_KEY, fail_next, statuses

pytest.importorskip("pydantic_ai")
from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

pytestmark = pytest.mark.server

MODELS = [pytest.param(OpenAIChatModel, id="chat"), pytest.param(OpenAIResponsesModel, id="responses")]


class Forecast(BaseModel):
    city: str
    summary: str
    temperature_c: float


def _model(server, model_class, max_retries: int = 0):
    client = AsyncOpenAI(base_url=server.api_url, api_key=API_KEY, max_retries=max_retries)
    return model_class("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))


def _forecaster(server, model_class, calls: list[str]) -> Agent:
    agent = Agent(_model(server, model_class), output_type=Forecast, instructions="Use the tool, then answer.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return f"It is 21C and sunny in {city}."

    return agent


def _tool_calls(messages) -> list[list[str]]:
    """The tool names of each model response, in order."""
    return [[p.tool_name for p in m.parts if isinstance(p, ToolCallPart)] for m in messages if isinstance(m, ModelResponse)]


@pytest.mark.parametrize("model_class", MODELS)
def test_agent_calls_the_tool_then_returns_the_output_type(framework_server, model_class):
    calls: list[str] = []
    result = _forecaster(framework_server, model_class, calls).run_sync("What is the weather in Paris?")
    assert calls == ["Paris"]
    assert isinstance(result.output, Forecast) and result.output.city == "Paris"
    # the data tool first, its result read, then the output tool: two model requests, as against OpenAI
    assert _tool_calls(result.all_messages()) == [["get_weather"], ["final_result"]]
    usage = result.usage
    assert usage.requests == 2 and usage.input_tokens > 0 and usage.output_tokens > 0


@pytest.mark.parametrize("model_class", MODELS)
def test_plain_text_agent_reports_usage(framework_server, model_class):
    result = Agent(_model(framework_server, model_class)).run_sync("Hello there")
    assert isinstance(result.output, str) and result.output.strip()
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0


@pytest.mark.parametrize("model_class", MODELS)
def test_streamed_text_arrives_in_deltas(framework_server, model_class):
    agent = Agent(_model(framework_server, model_class))

    async def run():
        async with agent.run_stream("Tell me a short story about a fox.") as stream:
            deltas = [d async for d in stream.stream_text(delta=True, debounce_by=None)]
            return deltas, stream.usage

    deltas, usage = asyncio.run(run())
    assert len(deltas) > 3 and len("".join(deltas)) > 20
    assert usage.output_tokens > 0


@pytest.mark.parametrize("model_class", MODELS)
def test_streamed_agent_runs_the_tool_and_validates_the_output(framework_server, model_class):
    calls: list[str] = []
    agent = _forecaster(framework_server, model_class, calls)

    async def run():
        async with agent.run_stream("What is the weather in Rome?") as stream:
            return await stream.get_output()

    output = asyncio.run(run())
    assert calls == ["Rome"]
    assert isinstance(output, Forecast) and output.city == "Rome"


@pytest.mark.parametrize("model_class", MODELS)
def test_sdk_retries_recover_from_a_server_error(framework_server, model_class):
    fail_next(framework_server, 500)
    result = Agent(_model(framework_server, model_class, max_retries=2)).run_sync("Hello there")
    assert result.output.strip()
    path = "/v1/responses" if model_class is OpenAIResponsesModel else "/v1/chat/completions"
    assert statuses(framework_server) == [(path, 500), (path, 200)]
