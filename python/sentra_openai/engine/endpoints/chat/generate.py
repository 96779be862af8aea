"""What the simulated chat model answers: text (fixture, generated, JSON), tool calls, reasoning tokens and logprobs.

Pure functions of the request and a seeded RNG: the same request and seed give the same choices.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from ...content import native_textgen, textgen, tokensplit
from ...content.lexicon import lexicon
from ...content.textgen import lowercase_words
from ...ids import base62
from ...schema import generate as schema_gen
from ...schema.json_object import generate_json_object
from ...schema.prompt_schema import requested_shape
from ...schema.prompt_values import PromptValues
from . import audio as chat_audio
from . import request as chat_request
from .request import ChatRequest

DEFAULT_ANSWER_CAP = 4096  # the longest natural answer generated when the request sets no maximum


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str
    pieces: list[str]


@dataclass
class Choice:
    index: int
    content: str | None
    pieces: list[str]
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    logprobs: list[dict[str, Any]] | None = None
    audio: Any = None  # chat_audio.SpokenAnswer when the answer is spoken (`modalities` with "audio")


def answer_cap(model) -> int:
    """The longest natural answer the model writes (the limit cuts it, the model does not see the limit)."""
    return min(model.max_output, DEFAULT_ANSWER_CAP)


def output_budget(req: ChatRequest, model) -> int:
    """The output tokens a choice may spend, reasoning included: the request's maximum, else the answer cap."""
    return req.max_output if req.max_output is not None else answer_cap(model)


def generate_choice(index: int, req: ChatRequest, model, encoding, rng: random.Random, fixtures) -> Choice:
    """One sampled answer; each choice draws its own fixture variant and text, as n samples of a model differ."""
    fixture = fixtures.match_chat(model.id, req, rng.random())
    reasoning = draw_reasoning_tokens(rng, model, req.max_output)
    budget = output_budget(req, model) - reasoning
    if budget <= 0:
        # The whole budget went to reasoning: OpenAI answers an empty message cut for length (capture pattern).
        return Choice(index, "", [], "length", completion_tokens=reasoning, reasoning_tokens=reasoning)

    tool_names = _tools_to_call(req, fixture)
    if tool_names:
        prompt = PromptValues(req.last_user_text())
        calls = []
        for name in tool_names:
            tool = next(t for t in req.tools if t["name"] == name)
            if fixture is not None and fixture.tool_call and fixture.tool_call.get("name") == name:
                arguments = orjson.dumps(fixture.tool_call.get("arguments") or {}).decode()
            else:
                parameters = tool.get("parameters")
                if isinstance(parameters, dict) and "title" not in parameters:
                    parameters = {**parameters, "title": name}  # the function's name says what it describes (City)
                arguments = orjson.dumps(schema_gen.arguments_for_tool(parameters, rng, prompt)).decode()
            call_id = "call_" + base62(rng, 24)
            calls.append(ToolCall(call_id, name, arguments, tokensplit.split_on_tokens(encoding, arguments)))
        # Each call costs its name, its arguments and a few framing tokens (OpenAI's counts include them). Arguments
        # that spell a special token (a schema's enum may) are ordinary output text.
        tokens = sum(len(tokensplit.token_ids(encoding, c.name)) + len(tokensplit.token_ids(encoding, c.arguments)) + 4
                     for c in calls)
        finish = "function_call" if req.legacy_functions else "tool_calls"
        return Choice(index, None, [], finish, calls, completion_tokens=tokens + reasoning, reasoning_tokens=reasoning)

    # The model does not see max_tokens: it writes its natural answer and the limit cuts it.
    text, cut = _answer_text(req, encoding, rng, fixture, answer_cap(model), budget)
    text, stopped = textgen.apply_stop(text, req.stop)
    finish = "length" if cut and not stopped else "stop"
    tokens = len(tokensplit.token_ids(encoding, text))
    if tokens > budget:
        text = textgen.truncate_to_tokens(encoding, text, budget)
        finish = "length"
        tokens = len(tokensplit.token_ids(encoding, text))
    pieces = tokensplit.split_on_tokens(encoding, text)
    choice = Choice(index, text, pieces, finish, completion_tokens=tokens + reasoning, reasoning_tokens=reasoning)
    if req.logprobs:
        choice.logprobs = _logprobs(encoding, text, req.top_logprobs, rng)
    if (audio := chat_audio.wanted(req.raw)) is not None:
        # The answer is said aloud: its audio tokens share the output budget with the transcript's.
        chat_audio.speak_choice(choice, audio, encoding, rng, budget)
    return choice


def _answer_text(req: ChatRequest, encoding, rng: random.Random, fixture, cap: int, limit: int) -> tuple[str, bool]:
    """The answer's text, and whether generation already stopped at `limit` tokens."""
    fmt = req.response_format
    prompt = req.last_user_text()
    if fmt is not None and fmt["type"] == "json_schema":
        return orjson.dumps(schema_gen.instance_for_schema(fmt["schema"], rng, PromptValues(prompt))).decode(), False
    if fmt is None and "```json" in prompt and (shape := requested_shape(_texts(req))) is not None:
        # Asked for a schema's instance "within a ```json codeblock" (instructor's Mode.MD_JSON): a model complies.
        try:
            value = schema_gen.instance_for_schema(shape, rng, PromptValues(prompt), fill_optional=True)
            return f"```json\n{orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()}\n```", False
        except schema_gen.SchemaGenerationError:
            pass
    if fmt is not None and fmt["type"] == "json_object":
        shape = requested_shape(_texts(req))
        if shape is not None:
            try:
                # A model asked to follow a schema fills its optional properties too (instructor's iterable
                # wrapper has no required key: leaving it out answered an empty list)
                value = schema_gen.instance_for_schema(shape, rng, PromptValues(prompt), fill_optional=True)
                return orjson.dumps(value).decode(), False
            except schema_gen.SchemaGenerationError:
                pass  # a shape no value satisfies: answer as if none were given
        return generate_json_object(rng, encoding, cap), False
    answering_tool_result = req.answering_tool_result()
    if fixture is not None and fixture.content is not None and (fixture.conversational or not answering_tool_result):
        return fixture.content, False  # a fixture matched on the conversation also answers a tool result
    if answering_tool_result:
        return _tool_result_answer(req, encoding, rng, cap), False
    # Text past `limit` would be cut anyway, and a shorter limit yields a prefix of the same answer; with stop
    # sequences the whole answer is needed, since a stop that straddles the limit must still win.
    answer = native_textgen.generate_answer(rng, cap if req.stop else min(cap, limit), encoding, prompt,
                                            verbosity_of(req))
    return answer.text, answer.finish_reason == "length"


def _texts(req: ChatRequest) -> list[str]:
    return [chat_request.message_text(m.get("content")) for m in req.messages]


def verbosity_of(req: ChatRequest) -> str:
    """The answer length the request asks for (chat's `verbosity`; the Responses API passes its text.verbosity here),
    checked against the model by field_rules: a model without the knob only takes medium."""
    verbosity = req.raw.get("verbosity")
    return verbosity if isinstance(verbosity, str) else "medium"


def _tool_result_answer(req: ChatRequest, encoding, rng: random.Random, budget: int) -> str:
    """After a tool result the model answers from it in text, so an agent loop ends as it would against OpenAI."""
    result = chat_request.message_text(req.messages[-1].get("content")).strip()
    if len(result) > 200:
        result = result[:200].rstrip() + "..."
    lead = f"Based on the result ({result}), " if result else "Based on the result, "
    follow = native_textgen.generate_answer(rng, max(budget - 40, 1), encoding, req.last_user_text(),
                                            verbosity_of(req)).text
    return lead + follow[:1].lower() + follow[1:]


def _tools_to_call(req: ChatRequest, fixture) -> list[str]:
    """Which tools the simulated model calls. After a tool result it answers in text, so agents never loop, unless
    the request forces a call (a named tool_choice, or "required": "the model must call one or more tools")."""
    if not req.tools or req.tool_choice == "none":
        return []
    names = [t["name"] for t in req.tools]
    if fixture is not None and fixture.conversational and fixture.tool_call and fixture.tool_call.get("name") in names:
        return [fixture.tool_call["name"]]  # the next step of a scripted agent loop, even after a tool result
    if isinstance(req.tool_choice, dict):
        return [req.tool_choice["name"]]
    if req.answering_tool_result():
        return [_next_required_tool(req)] if req.tool_choice == "required" else []
    scores = _relevance(req.last_user_text(), req.tools)
    relevant = [name for name, score in scores if score > 0]
    if fixture is not None and fixture.tool_call and fixture.tool_call.get("name") in names:
        relevant = [fixture.tool_call["name"]] + [name for name in relevant if name != fixture.tool_call["name"]]
    if req.tool_choice == "required" and not relevant:
        relevant = [scores[0][0]]
    if not relevant:
        return []
    if req.parallel_tool_calls and not req.legacy_functions:
        return relevant[:3]
    return relevant[:1]


def _next_required_tool(req: ChatRequest) -> str:
    """The call a forced turn makes after tool results: the most relevant tool not called yet in the conversation
    (pydantic-ai's `final_result` after its data tool), else the most relevant one."""
    called = {call.get("function", {}).get("name") for message in req.messages if message.get("role") == "assistant"
              for call in message.get("tool_calls") or [] if isinstance(call, dict)}
    scores = _relevance(req.last_user_text(), req.tools)
    fresh = [name for name, _ in scores if name not in called]
    return (fresh or [scores[0][0]])[0]


def _relevance(prompt: str, tools: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Tools by the words that the prompt shares with their name and description ("the" names no tool)."""
    stop = _ignored_words()
    words = {w for w in lowercase_words(prompt) if len(w) > 2 and w not in stop}
    scored = []
    for tool in tools:
        vocabulary = (set(lowercase_words(tool["name"].replace("_", " ")))
                      | set(lowercase_words(tool.get("description") or "")))
        scored.append((tool["name"], len(words & {w for w in vocabulary if len(w) > 2})))
    return sorted(scored, key=lambda item: -item[1])


@lru_cache(maxsize=1)
def _ignored_words() -> frozenset[str]:
    return frozenset(lexicon()["tool_relevance_ignored"])


def draw_reasoning_tokens(rng: random.Random, model, max_output: int | None) -> int:
    """Reasoning models think in multiples of 64 tokens, capped by the output budget (captures: 128..704)."""
    if not model.reasoning:
        return 0
    tokens = 64 * rng.randint(1, 8)
    return min(tokens, max_output) if max_output is not None else tokens


def _logprobs(encoding, text: str, top: int, rng: random.Random) -> list[dict[str, Any]]:
    runners_up = [(word, word.encode()) for word in lexicon()["logprob_runners_up"][: max(top - 1, 0)]]
    entries = []
    for piece, raw in tokensplit.token_pieces_with_bytes(encoding, text):
        logprob = _f32(-abs(rng.expovariate(8.0)))
        alternatives = [{"token": piece, "logprob": logprob, "bytes": raw}]
        floor = logprob
        for word, word_bytes in runners_up:
            floor = _f32(floor - rng.uniform(0.5, 3.0))
            alternatives.append({"token": word, "logprob": floor, "bytes": list(word_bytes)})
        entries.append({"token": piece, "logprob": logprob, "bytes": raw, "top_logprobs": alternatives[:top]})
    return entries


def _f32(value: float) -> float:
    """OpenAI's logprobs are float32 values printed with about 8 significant digits."""
    return float(f"{value:.8g}")
