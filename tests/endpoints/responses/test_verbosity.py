"""Verbosity changes how long the answer is, as a user reading it notices: low shorter and high longer than medium (the
default), for the same prompt and every time; on /v1/responses (text.verbosity) and on chat (verbosity), through the
SDK. Models without the knob take only medium, with OpenAI's 400."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.server

PROMPTS = ["Explain photosynthesis.", "What is a black hole?", "Describe Paris.", "Why is the sky blue?",
           "Write about rivers.", "What is Python?", "Summarize the history of printing.", "How do tides work?"]


def _words(text: str) -> int:
    return len(text.split())


def _responses_lengths(client, prompt: str) -> dict[str, int]:
    lengths = {v: _words(client.responses.create(model="gpt-5-mini", input=prompt, text={"verbosity": v}).output_text)
               for v in ("low", "medium", "high")}
    lengths["default"] = _words(client.responses.create(model="gpt-5-mini", input=prompt).output_text)
    return lengths


def _chat_lengths(client, prompt: str) -> dict[str, int]:
    def answer(**extra) -> int:
        completion = client.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": prompt}],
                                                    **extra)
        return _words(completion.choices[0].message.content)

    lengths = {v: answer(verbosity=v) for v in ("low", "medium", "high")}
    lengths["default"] = answer()
    return lengths


@pytest.mark.parametrize("lengths_of", [_responses_lengths, _chat_lengths], ids=["responses", "chat"])
def test_low_is_shorter_and_high_longer_than_medium(openai_client, lengths_of):
    per_prompt = [lengths_of(openai_client, prompt) for prompt in PROMPTS]
    for lengths in per_prompt:
        assert lengths["low"] <= lengths["medium"] <= lengths["high"], lengths
        assert lengths["default"] == lengths["medium"]  # medium is the default
    total = {v: sum(lengths[v] for lengths in per_prompt) for v in ("low", "medium", "high")}
    assert total["low"] < 0.8 * total["medium"] and total["high"] > 1.3 * total["medium"], total
    assert sum(lengths["low"] < lengths["medium"] < lengths["high"] for lengths in per_prompt) >= len(PROMPTS) // 2


def test_the_same_request_gives_the_same_answer(openai_client):
    first = openai_client.responses.create(model="gpt-5-mini", input=PROMPTS[0], text={"verbosity": "high"})
    again = openai_client.responses.create(model="gpt-5-mini", input=PROMPTS[0], text={"verbosity": "high"})
    assert first.output_text == again.output_text and first.text.verbosity == "high"


def test_a_stream_carries_the_same_length(openai_client):
    whole = openai_client.responses.create(model="gpt-5-mini", input=PROMPTS[1], text={"verbosity": "low"}).output_text
    with openai_client.responses.stream(model="gpt-5-mini", input=PROMPTS[1], text={"verbosity": "low"}) as stream:
        streamed = stream.get_final_response().output_text
    assert streamed == whole


def test_models_without_verbosity_take_only_medium(openai_client):
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(model="gpt-4o-mini", input="Hi", text={"verbosity": "low"})
    assert refused.value.code == "unsupported_value" and refused.value.param == "text.verbosity"
    assert "Supported values are: 'medium'." in refused.value.message
    assert openai_client.responses.create(model="gpt-4o-mini", input="Hi", text={"verbosity": "medium"}).status == "completed"


def test_the_answer_after_a_tool_result_follows_verbosity_too(openai_client):
    tool = {"type": "function", "name": "get_weather", "description": "Get the weather for a city", "strict": True,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                           "additionalProperties": False}}
    lengths = {}
    for verbosity in ("low", "medium", "high"):
        turn = [{"role": "user", "content": "What is the weather in Paris?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                {"type": "function_call_output", "call_id": "call_1", "output": "Sunny, 21 C"}]
        answer = openai_client.responses.create(model="gpt-5-mini", input=turn, tools=[tool],
                                                text={"verbosity": verbosity})
        assert answer.output_text.startswith("Based on the result (Sunny, 21 C)")
        lengths[verbosity] = _words(answer.output_text)
    assert lengths["low"] < lengths["medium"] < lengths["high"], lengths
