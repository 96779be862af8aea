"""openai-agents on Chat Completions (OpenAIChatCompletionsModel, what users pick for OpenAI-compatible servers): an
Agent with a function tool and an output_type runs to completion, streamed and not, with usage summed over its
requests; the SDK client's retry recovers from an injected 429. (Its default Responses model is tested in
tests/endpoints/responses/test_tools_agents.py.)"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from sentra_control import API_KEY, fail_next, statuses

agents = pytest.importorskip("agents")
from openai import AsyncOpenAI

pytestmark = pytest.mark.server


class Forecast(BaseModel):
    city: str
    summary: str


def _run(server, prompt: str, *, streamed: bool = False, max_retries: int = 0):
    """Runs the agent in a fresh event loop, with a client of that loop; returns (result, tool calls, event kinds)."""
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return f"It is 21C and sunny in {city}."

    async def run():
        agents.set_tracing_disabled(True)
        client = AsyncOpenAI(base_url=server.api_url, api_key=API_KEY, max_retries=max_retries)
        try:
            model = agents.OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)
            # the SDK asks a stream for usage only from api.openai.com unless told to (ChatCmplHelpers)
            settings = agents.ModelSettings(include_usage=True)
            agent = agents.Agent(name="Forecaster", instructions="Use the tool, then answer.", model=model,
                                 tools=[get_weather], output_type=Forecast, model_settings=settings)
            if not streamed:
                return await agents.Runner.run(agent, prompt), []
            result = agents.Runner.run_streamed(agent, prompt)
            return result, [event.type async for event in result.stream_events()]
        finally:
            await client.close()

    result, kinds = asyncio.run(run())
    return result, calls, kinds


def test_agent_runs_the_tool_then_answers_with_its_output_type(framework_server):
    result, calls, _ = _run(framework_server, "What is the weather in Paris?")
    assert calls == ["Paris"]
    assert isinstance(result.final_output, Forecast) and result.final_output.city == "Paris"
    assert [item.type for item in result.new_items] == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    usage = result.context_wrapper.usage
    assert usage.requests == 2 and usage.input_tokens > 0 and usage.output_tokens > 0


def test_streamed_agent_run(framework_server):
    result, calls, kinds = _run(framework_server, "What is the weather in Rome?", streamed=True)
    assert calls == ["Rome"]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert isinstance(result.final_output, Forecast) and result.final_output.city == "Rome"
    assert result.context_wrapper.usage.output_tokens > 0


def test_sdk_retries_recover_from_a_rate_limit(framework_server):
    fail_next(framework_server, 429)
    result, calls, _ = _run(framework_server, "What is the weather in Paris?", max_retries=2)
    assert isinstance(result.final_output, Forecast) and calls == ["Paris"]
    assert statuses(framework_server)[:2] == [("/v1/chat/completions", 429), ("/v1/chat/completions", 200)]
