"""openai-agents as its users run it: the default model (OpenAIResponsesModel) against the server, an Agent with a
function tool and an output_type, to completion, streamed and not."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

agents = pytest.importorskip("agents")

pytestmark = pytest.mark.server


class Forecast(BaseModel):
    city: str
    summary: str


calls: list[str] = []


@agents.function_tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    calls.append(city)
    return f"It is 21C and sunny in {city}."


def _agent(fast_server, model_name: str = "gpt-4.1"):
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=fast_server.api_url, api_key="sk-test", max_retries=0)
    model = agents.OpenAIResponsesModel(model=model_name, openai_client=client)
    return agents.Agent(name="Forecaster", instructions="Use the tool, then answer.", model=model,
                        tools=[get_weather], output_type=Forecast), client


@pytest.mark.parametrize("model_name", ["gpt-4.1", "gpt-5-mini"])  # gpt-5-mini sends its reasoning items back
def test_agent_runs_a_tool_then_answers_with_its_output_type(fast_server, model_name):
    agent, client = _agent(fast_server, model_name)
    calls.clear()

    async def run():
        try:
            return await agents.Runner.run(agent, "What is the weather in Paris?")
        finally:
            await client.close()

    result = asyncio.run(run())
    assert calls  # the model called the function tool
    assert isinstance(result.final_output, Forecast)
    kinds = [item.type for item in result.new_items]
    assert "tool_call_item" in kinds and "tool_call_output_item" in kinds and kinds[-1] == "message_output_item"


def test_agent_streamed(fast_server):
    agent, client = _agent(fast_server)
    calls.clear()

    async def run():
        try:
            streamed = agents.Runner.run_streamed(agent, "What is the weather in Rome?")
            kinds = [event.type async for event in streamed.stream_events()]
            return streamed, kinds
        finally:
            await client.close()

    streamed, kinds = asyncio.run(run())
    assert calls
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert isinstance(streamed.final_output, Forecast)


def test_default_model_is_the_responses_api(fast_server, monkeypatch):
    """With only OPENAI_BASE_URL set, Agent(model="gpt-4o-mini") goes to /v1/responses (the issue's failing case)."""
    monkeypatch.setenv("OPENAI_BASE_URL", fast_server.api_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    agents.set_tracing_disabled(True)
    agents.set_default_openai_client(__import__("openai").AsyncOpenAI(max_retries=0), use_for_tracing=False)
    agent = agents.Agent(name="Plain", model="gpt-4o-mini")
    result = agents.Runner.run_sync(agent, "Say hello.")
    assert isinstance(result.final_output, str) and result.final_output


def test_pydantic_ai_responses_model(fast_server):
    """pydantic-ai's OpenAIResponsesModel: an agent with a tool and an output type (skipped without it)."""
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIResponsesModel("gpt-4.1", provider=OpenAIProvider(base_url=fast_server.api_url, api_key="sk-test"))
    agent = Agent(model, output_type=Forecast)
    looked_up: list[str] = []

    @agent.tool_plain
    def lookup_weather(city: str) -> str:
        """Look up the weather of a city."""
        looked_up.append(city)
        return "Cloudy, 12C"

    result = agent.run_sync("Look up the weather in Oslo and give a forecast.")
    assert isinstance(result.output, Forecast)
    assert result.usage.input_tokens > 0
