"""Multi-turn fixture conditions: what a fixture can require of the whole conversation, beyond its last user message.

    match:
      system: '(?i)weather assistant'          # searched in the system / developer messages
      tools: [get_weather]                     # these tools are offered (others may be too)
      turns:                                   # these messages occur in this order (others may come between)
        - {role: user, regex: 'Paris'}
        - {role: assistant, tool_call: get_weather}
      tool_result: {name: get_weather, regex: 'sunny'}   # the last message is that tool's result
      user_turns: 2                            # the conversation has this many user messages
      conversation: [{role: user, content: "Hi"}, ...]   # exactly these messages (what --record writes)

Regexes here are Python `re` (searched, not anchored); `exact` compares with surrounding whitespace ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CONVERSATION_KEYS = frozenset({"system", "tools", "turns", "tool_result", "user_turns", "conversation"})
_TURN_KEYS = frozenset({"role", "exact", "regex", "tool_call", "tool"})
_TOOL_RESULT_KEYS = frozenset({"name", "exact", "regex"})


class ConditionError(ValueError):
    pass


@dataclass(frozen=True)
class Turn:
    """One message as fixtures see it: role, text, the tools an assistant message calls, the tool a result is of."""

    role: str
    text: str
    tool_calls: tuple[str, ...] = ()
    tool: str | None = None


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]
    tools: frozenset[str] = frozenset()

    @property
    def last_user_text(self) -> str:
        return next((t.text for t in reversed(self.turns) if t.role == "user"), "")

    @property
    def system_text(self) -> str:
        return "\n".join(t.text for t in self.turns if t.role in ("system", "developer"))


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content
                       if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"))
    return ""


def conversation_of(messages: Sequence[Mapping[str, Any]], tool_names: Sequence[str] = ()) -> Conversation:
    """The conversation of chat-style messages (a tool result is named after the call it answers)."""
    called: dict[str, str] = {}
    turns = []
    for message in messages:
        role = str(message.get("role") or "")
        calls = []
        for tool_call in message.get("tool_calls") or ():
            if not isinstance(tool_call, dict):
                continue
            function = tool_call.get("function") or {}
            name = function.get("name") if isinstance(function, dict) else None
            if isinstance(name, str):
                calls.append(name)
                called[str(tool_call.get("id"))] = name
        legacy = message.get("function_call")
        if isinstance(legacy, dict) and isinstance(legacy.get("name"), str):
            calls.append(legacy["name"])
        tool = None
        if role == "tool":
            tool = called.get(str(message.get("tool_call_id")))
        elif role == "function" and isinstance(message.get("name"), str):
            tool = message["name"]
        turns.append(Turn(role, message_text(message.get("content")), tuple(calls), tool))
    return Conversation(tuple(turns), frozenset(tool_names))


def prompt_conversation(prompt: str) -> Conversation:
    return Conversation((Turn("user", prompt),))


# -- conditions ---------------------------------------------------------------------------------------------------


def _regex(value: Any, where: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise ConditionError(f"'{where}' must be a non-empty regex string, got {value!r}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ConditionError(f"'{where}' is not a valid regex: {exc}") from None


def _text_test(raw: Mapping[str, Any], where: str):
    exact = raw.get("exact")
    if exact is not None and not isinstance(exact, str):
        raise ConditionError(f"'{where}.exact' must be a string")
    pattern = _regex(raw["regex"], f"{where}.regex") if raw.get("regex") is not None else None

    def test(text: str) -> bool:
        return (exact is None or text.strip() == exact.strip()) and (pattern is None or pattern.search(text) is not None)

    return test


def _keys(raw: Any, allowed: frozenset[str], where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConditionError(f"'{where}' must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise ConditionError(f"unknown key(s) {', '.join(unknown)} in '{where}'; allowed: {', '.join(sorted(allowed))}")
    return raw


class ConversationRule:
    """The conversation conditions of one fixture; `matches` holds when all of them hold."""

    def __init__(self, match: Mapping[str, Any]) -> None:
        self.tests = []
        if "system" in match:
            pattern = _regex(match["system"], "match.system")
            self.tests.append(lambda c: pattern.search(c.system_text) is not None)
        if "tools" in match:
            wanted = match["tools"]
            if not isinstance(wanted, list) or not all(isinstance(t, str) for t in wanted):
                raise ConditionError("'match.tools' must be a list of tool names")
            self.tests.append(lambda c: set(wanted) <= c.tools)
        if "user_turns" in match:
            count = match["user_turns"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConditionError("'match.user_turns' must be an integer >= 0")
            self.tests.append(lambda c: sum(t.role == "user" for t in c.turns) == count)
        if "turns" in match:
            self.tests.append(self._turns(match["turns"]))
        if "tool_result" in match:
            self.tests.append(self._tool_result(match["tool_result"]))
        if "conversation" in match:
            self.tests.append(self._exact_conversation(match["conversation"]))

    def matches(self, conversation: Conversation) -> bool:
        return all(test(conversation) for test in self.tests)

    @staticmethod
    def _turn_test(raw: Any, where: str):
        spec = _keys(raw, _TURN_KEYS, where)
        role, tool_call, tool = spec.get("role"), spec.get("tool_call"), spec.get("tool")
        text = _text_test(spec, where)

        def test(turn: Turn) -> bool:
            return ((role is None or turn.role == role) and (tool_call is None or tool_call in turn.tool_calls)
                    and (tool is None or turn.tool == tool) and text(turn.text))

        return test

    def _turns(self, raw: Any):
        if not isinstance(raw, list) or not raw:
            raise ConditionError("'match.turns' must be a non-empty list of turn patterns")
        patterns = [self._turn_test(item, f"match.turns[{i}]") for i, item in enumerate(raw)]

        def test(conversation: Conversation) -> bool:
            position = 0
            for turn in conversation.turns:  # an in-order subsequence
                if position < len(patterns) and patterns[position](turn):
                    position += 1
            return position == len(patterns)

        return test

    @staticmethod
    def _tool_result(raw: Any):
        spec = _keys(raw, _TOOL_RESULT_KEYS, "match.tool_result")
        name = spec.get("name")
        text = _text_test(spec, "match.tool_result")

        def test(conversation: Conversation) -> bool:
            if not conversation.turns:
                return False
            last = conversation.turns[-1]
            return last.role in ("tool", "function") and (name is None or last.tool == name) and text(last.text)

        return test

    @staticmethod
    def _exact_conversation(raw: Any):
        if not isinstance(raw, list):
            raise ConditionError("'match.conversation' must be a list of messages")
        expected = conversation_of([_keys(m, frozenset({"role", "content", "tool_calls", "tool_call_id", "name"}),
                                          f"match.conversation[{i}]") for i, m in enumerate(raw)]).turns
        def key(turns: Sequence[Turn]) -> tuple:
            # system and developer are one role here: the Responses API names instructions either way per model.
            return tuple(("system" if t.role == "developer" else t.role, t.text.strip(), t.tool_calls, t.tool)
                         for t in turns)

        wanted = key(expected)

        def test(conversation: Conversation) -> bool:
            return key(conversation.turns) == wanted

        return test
