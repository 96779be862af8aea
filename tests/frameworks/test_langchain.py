"""langchain-openai's ChatOpenAI against the server, on Chat Completions and (use_responses_api=True) on Responses:
plain answers with usage, streaming, a tool loop to a final text answer, with_structured_output in its three
methods, and a retry that recovers from an injected 429."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from sentra_control import API_KEY, fail_next, statuses

langchain_openai = pytest.importorskip("langchain_openai")
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

pytestmark = pytest.mark.server

APIS = [pytest.param(False, id="chat"), pytest.param(True, id="responses")]


class City(BaseModel):
    name: str
    country: str
    population: int


class AnswerWithJustification(BaseModel):
    answer: str
    justification: str


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is 21C and sunny in {city}."


def _llm(server, responses: bool, **kwargs):
    kwargs.setdefault("max_retries", 0)
    return langchain_openai.ChatOpenAI(model="gpt-4o-mini", base_url=server.api_url, api_key=API_KEY,
                                       use_responses_api=responses, **kwargs)


@pytest.mark.parametrize("responses", APIS)
def test_invoke_answers_in_text_with_usage(framework_server, responses):
    message = _llm(framework_server, responses).invoke("Hello there")
    assert isinstance(message, AIMessage) and message.text.strip()
    usage = message.usage_metadata
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize("responses", APIS)
def test_stream_yields_the_answer_in_chunks_then_usage(framework_server, responses):
    # langchain asks for usage in a chat stream only when told to if base_url is not OpenAI's (stream_usage)
    chunks = list(_llm(framework_server, responses, stream_usage=True).stream("Tell me a short story about a fox."))
    assert len([c for c in chunks if c.text]) > 3
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert len(whole.text) > 20
    assert whole.usage_metadata["output_tokens"] > 0 and whole.usage_metadata["input_tokens"] > 0


@pytest.mark.parametrize("responses", APIS)
def test_tool_loop_ends_with_a_text_answer(framework_server, responses):
    llm = _llm(framework_server, responses).bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris?")]
    for _ in range(4):  # a real agent loop: call tools until the model answers in text
        ai = llm.invoke(messages)
        messages.append(ai)
        if not ai.tool_calls:
            break
        for call in ai.tool_calls:
            assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
            messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    assert [type(m).__name__ for m in messages] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert messages[-1].text.strip() and not messages[-1].tool_calls


@pytest.mark.parametrize("responses", APIS)
@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output_validates_into_the_model(framework_server, responses, method):
    structured = _llm(framework_server, responses).with_structured_output(City, method=method, include_raw=True)
    result = structured.invoke("Tell me about Paris, France.")
    assert result["parsing_error"] is None
    city = result["parsed"]
    assert isinstance(city, City) and (city.name, city.country) == ("Paris", "France")
    assert result["raw"].usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("responses", APIS)
def test_json_mode_follows_the_keys_the_prompt_asks_for(framework_server, responses):
    """json_mode sends only `json_object`: the prompt names the keys (langchain's own documented example)."""
    structured = _llm(framework_server, responses).with_structured_output(
        AnswerWithJustification, method="json_mode", include_raw=True)
    result = structured.invoke("Answer the following question. Make sure to return a JSON blob with keys 'answer' "
                               "and 'justification'.\n\nWhat's heavier a pound of bricks or a pound of feathers?")
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], AnswerWithJustification) and result["parsed"].answer


@pytest.mark.parametrize("responses", APIS)
def test_retries_recover_from_a_rate_limit(framework_server, responses):
    fail_next(framework_server, 429)
    message = _llm(framework_server, responses, max_retries=2).invoke("Hello there")
    assert message.text.strip()
    path = "/v1/responses" if responses else "/v1/chat/completions"
    assert statuses(framework_server) == [(path, 429), (path, 200)]
