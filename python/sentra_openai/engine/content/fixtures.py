"""Response fixtures: canned answers for known prompts, loaded from YAML into the native fixture index.

The file format is documented at the top of fixtures/default.yaml. Matching on the last user message (exact /
regex / model, priority, weighted choice) is done by the native index (rust/core/src/fixtures.rs); fixtures with
conditions on the whole conversation (content/conversation.py: earlier turns, the last tool result, the system
prompt, the tools offered) are checked here and win ties of priority. `replies` gives the i-th matching call the
i-th reply, counted by `counter` (the control state's, shared by every worker). Every problem in a file is a
`FixtureError` whose message names the file and the entry, so the server can print it as is and exit.
"""

from __future__ import annotations

import contextvars
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from ... import _native
from .conversation import (
    CONVERSATION_KEYS,
    ConditionError,
    Conversation,
    ConversationRule,
    conversation_of,
    prompt_conversation,
)

_ENTRY_KEYS = frozenset({"name", "match", "priority", "weight", "response", "replies", "cycle"})
_MATCH_KEYS = frozenset({"exact", "regex", "model"}) | CONVERSATION_KEYS
# Set while content is generated when a fixture with a reply sequence answered: that content must not be cached.
_SEQUENCE_USED: contextvars.ContextVar[bool] = contextvars.ContextVar("sentra_fixture_sequence", default=False)


def begin_generation() -> None:
    _SEQUENCE_USED.set(False)


def sequence_used() -> bool:
    """Whether a reply sequence answered since `begin_generation` (the next identical call gets the next reply)."""
    return _SEQUENCE_USED.get()
_RESPONSE_KEYS = frozenset({"content", "tool_call"})
_TOOL_CALL_KEYS = frozenset({"name", "arguments"})
_YAML_SUFFIXES = (".yaml", ".yml")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe either way; the C one is faster


class FixtureError(ValueError):
    """A fixture file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Fixture:
    """One canned response: either text `content` or a `tool_call` {"name": str, "arguments": dict}."""

    name: str
    content: str | None
    tool_call: dict[str, Any] | None = field(default=None, hash=False)  # a dict is unhashable; the name suffices
    # Matched on the conversation (not only the last user message): it also answers after a tool result.
    conversational: bool = False
    replies: tuple[Fixture, ...] = field(default=(), hash=False)  # the i-th matching call gets replies[i]
    cycle: bool = False  # after the last reply: start again (True) or keep the last (False)


@dataclass(frozen=True, slots=True)
class _Rule:
    """An entry's matching rule, in the tuple form the native index takes."""

    priority: int
    exact: str | None
    regex: str | None
    model: str | None
    weight: float

    def as_tuple(self) -> tuple[int, str | None, str | None, str | None, float]:
        return (self.priority, self.exact, self.regex, self.model, self.weight)


@dataclass(frozen=True)
class _ConversationalEntry:
    fixture: Fixture
    rule: _Rule
    conditions: ConversationRule
    exact: str | None
    regex: re.Pattern[str] | None
    answers_tool_results: bool  # only fixtures that say so answer a conversation that ends with a tool result

    def matches(self, model: str, conversation: Conversation) -> bool:
        if not self.answers_tool_results and conversation.turns and conversation.turns[-1].role in ("tool", "function"):
            return False
        if not model_matches(self.rule.model, model):
            return False
        prompt = conversation.last_user_text
        if self.exact is not None and prompt.strip() != self.exact.strip():
            return False
        if self.regex is not None and self.regex.search(prompt) is None:
            return False
        return self.conditions.matches(conversation)


def model_matches(wanted: str | None, model: str) -> bool:
    """A rule's `model`: any model when unset, a prefix when it ends in `*`, else the exact id (as the native index)."""
    return wanted is None or (model.startswith(wanted[:-1]) if wanted.endswith("*") else model == wanted)


class FixtureSet:
    """The loaded fixtures; `match` is safe to call from any thread."""

    def __init__(self, fixtures: Sequence[Fixture], rules: Sequence[_Rule], labels: Sequence[str],
                 conversational: Sequence[_ConversationalEntry] = ()) -> None:
        self._fixtures = tuple(fixtures)
        self._priorities = tuple(rule.priority for rule in rules)
        self._conversational = tuple(sorted(conversational, key=lambda e: -e.rule.priority))
        self._rules = tuple(rules)
        self._local_calls: dict[str, itertools.count] = {}
        # How many calls a fixture with replies answered before this one; the engine installs the shared counter.
        self.counter: Callable[[str], int] = self._count_locally
        try:
            self._index = _native.FixtureIndex([rule.as_tuple() for rule in rules], list(labels))
        except ValueError as exc:  # the native message already starts with the entry's label
            raise FixtureError(str(exc)) from None

    def _count_locally(self, name: str) -> int:
        return next(self._local_calls.setdefault(name, itertools.count()))

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> FixtureSet:
        """Load fixture files; a directory contributes its *.yaml / *.yml files in name order."""
        fixtures: list[Fixture] = []
        rules: list[_Rule] = []
        labels: list[str] = []
        conversational: list[_ConversationalEntry] = []
        first_seen: dict[str, str] = {}
        for file in expand_yaml_paths(paths):
            for position, raw in enumerate(_read_entries(file), start=1):
                label = _label(file, position, raw)
                fixture, rule = _parse_entry(raw, label)
                if fixture.name in first_seen:
                    other = first_seen[fixture.name]
                    raise FixtureError(f"{label}: the name {fixture.name!r} is already used by {other}")
                first_seen[fixture.name] = label
                if fixture.conversational:
                    conversational.append(_conversational_entry(raw, fixture, rule, label))
                    continue
                fixtures.append(fixture)
                rules.append(rule)
                labels.append(label)
        return cls(fixtures, rules, labels, conversational)

    @property
    def fixtures(self) -> tuple[Fixture, ...]:
        return self._fixtures + tuple(entry.fixture for entry in self._conversational)

    def __len__(self) -> int:
        return len(self._fixtures) + len(self._conversational)

    def match(self, model: str, prompt: str | None, draw: float) -> Fixture | None:
        """The fixture answering `prompt` (the last user message) for `model`; `draw` in [0, 1) from the
        request's seeded RNG picks among equally ranked fixtures by weight."""
        if not self._conversational:
            return self._native(model, prompt or "", draw)
        return self.match_conversation(model, prompt_conversation(prompt or ""), draw)

    def match_chat(self, model: str, req: Any, draw: float) -> Fixture | None:
        """The fixture answering a chat-style request (its `messages` and offered `tools`)."""
        if not self._conversational:
            return self._native(model, req.last_user_text(), draw)
        return self.match_conversation(model, conversation_of(req.messages, [t["name"] for t in req.tools]), draw)

    def match_conversation(self, model: str, conversation: Conversation, draw: float) -> Fixture | None:
        turns = conversation.turns
        if turns and turns[-1].role in ("tool", "function"):
            index = None  # fixtures of the last user message never answer a tool result
        else:
            index = self._index.lookup(model, conversation.last_user_text, draw)
        floor = self._priorities[index] if index is not None else None
        candidates: list[_ConversationalEntry] = []
        for entry in self._conversational:  # highest priority first
            if floor is not None and entry.rule.priority < floor:
                break
            if candidates and entry.rule.priority < candidates[0].rule.priority:
                break
            if entry.matches(model, conversation):
                candidates.append(entry)
        if not candidates:
            return None if index is None else self._resolve(self._fixtures[index])
        total = sum(entry.rule.weight for entry in candidates)
        point = draw * total
        for entry in candidates:
            point -= entry.rule.weight
            if point < 0:
                return self._resolve(entry.fixture)
        return self._resolve(candidates[-1].fixture)

    def last_user_rules(self, model: str) -> list[dict[str, str | None]] | None:
        """The rules that could answer `model`'s last user message, as the native index takes them (for the front's
        generation note, engine/replay_shape.py); None when some fixture looks at more of the conversation."""
        if self._conversational:
            return None
        return [{"exact": r.exact, "regex": r.regex, "model": r.model} for r in self._rules
                if model_matches(r.model, model)]

    def answers_last_user(self, model: str, prompt: str) -> bool:
        """Whether a fixture of the last user message matches `prompt` for `model` (no reply is drawn)."""
        return self._index.lookup(model, prompt, 0.0) is not None

    def _native(self, model: str, prompt: str, draw: float) -> Fixture | None:
        index = self._index.lookup(model, prompt, draw)
        return None if index is None else self._resolve(self._fixtures[index])

    def _resolve(self, fixture: Fixture) -> Fixture:
        if not fixture.replies:
            return fixture
        _SEQUENCE_USED.set(True)
        calls = self.counter(fixture.name)
        count = len(fixture.replies)
        return fixture.replies[calls % count if fixture.cycle else min(calls, count - 1)]


def _conversational_entry(raw: Mapping[str, Any], fixture: Fixture, rule: _Rule, label: str) -> _ConversationalEntry:
    match = raw.get("match") or {}
    try:
        conditions = ConversationRule(match)
        regex = re.compile(rule.regex) if rule.regex is not None else None
    except ConditionError as exc:
        raise FixtureError(f"{label}: {exc}") from None
    except re.error as exc:
        raise FixtureError(f"{label}: 'match.regex' is not a valid regex: {exc}") from None
    answers = "tool_result" in match or "conversation" in match
    return _ConversationalEntry(fixture, rule, conditions, rule.exact, regex, answers)


def expand_yaml_paths(paths: Iterable[str | Path], kind: str = "fixture") -> list[Path]:
    """The YAML files named by `paths`: a file as is, a directory's .yaml/.yml files in name order; `kind` names
    what is missing in the error (moderation_rules reads its fixtures the same way)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in _YAML_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise FixtureError(f"{path}: no such {kind} file or directory")
    return files


def _read_entries(file: Path) -> list[Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FixtureError(f"{file}: cannot read fixture file: {exc}") from None
    try:
        document = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise FixtureError(f"{file}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if document is None:
        return []
    if not isinstance(document, Mapping) or set(document) != {"fixtures"}:
        raise FixtureError(f"{file}: the top level must be a mapping with the single key 'fixtures'")
    entries = document["fixtures"]
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise FixtureError(f"{file}: 'fixtures' must be a list of entries, got {type(entries).__name__}")
    return entries


def _label(file: Path, position: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f"{file}: fixture #{position}" + (f" {name!r}" if isinstance(name, str) else "")


def _parse_entry(raw: Any, label: str) -> tuple[Fixture, _Rule]:
    entry = _mapping(raw, label, "the entry", _ENTRY_KEYS)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise FixtureError(f"{label}: 'name' must be a non-empty string")
    match = _mapping(entry.get("match", {}), label, "'match'", _MATCH_KEYS)
    exact, regex, model = (_optional_text(match, key, label) for key in ("exact", "regex", "model"))
    conversational = any(key in match for key in CONVERSATION_KEYS)
    priority = entry.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -(2**63) <= priority < 2**63:
        raise FixtureError(f"{label}: 'priority' must be an integer, got {priority!r}")
    weight = entry.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < float("inf"):
        raise FixtureError(f"{label}: 'weight' must be a number > 0, got {weight!r}")
    rule = _Rule(priority, exact, regex, model, float(weight))
    cycle = entry.get("cycle", False)
    if not isinstance(cycle, bool):
        raise FixtureError(f"{label}: 'cycle' must be true or false, got {cycle!r}")
    if "response" in entry and "replies" in entry:
        raise FixtureError(f"{label}: give one of 'response' or 'replies', not both")
    if "replies" in entry:
        replies = entry["replies"]
        if not isinstance(replies, list) or not replies:
            raise FixtureError(f"{label}: 'replies' must be a non-empty list of responses")
        parsed = []
        for position, reply in enumerate(replies):
            content, tool_call = _parse_response(reply, f"{label} reply #{position + 1}")
            parsed.append(Fixture(name, content, tool_call, conversational))
        return Fixture(name, None, None, conversational, tuple(parsed), cycle), rule
    content, tool_call = _parse_response(entry.get("response"), label)
    return Fixture(name, content, tool_call, conversational), rule


def _parse_response(raw: Any, label: str) -> tuple[str | None, dict[str, Any] | None]:
    response = _mapping(raw, label, "'response'", _RESPONSE_KEYS)
    if len(response) != 1:
        raise FixtureError(f"{label}: 'response' needs exactly one of 'content' or 'tool_call'")
    if "content" in response:
        content = response["content"]
        if not isinstance(content, str):
            raise FixtureError(f"{label}: 'response.content' must be a string, got {type(content).__name__}")
        return content, None
    call = _mapping(response["tool_call"], label, "'response.tool_call'", _TOOL_CALL_KEYS)
    tool_name = call.get("name")
    if not isinstance(tool_name, str) or not tool_name:
        raise FixtureError(f"{label}: 'response.tool_call.name' must be a non-empty string")
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):  # also accept the JSON text OpenAI itself sends
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError as exc:
            raise FixtureError(f"{label}: 'response.tool_call.arguments' is not valid JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise FixtureError(f"{label}: 'response.tool_call.arguments' must be a mapping (a JSON object)")
    try:
        orjson.dumps(arguments)
    except TypeError as exc:  # e.g. a YAML date or a non-string key, which JSON cannot carry
        raise FixtureError(f"{label}: 'response.tool_call.arguments' cannot be sent as JSON: {exc}") from None
    return None, {"name": tool_name, "arguments": arguments}


def _mapping(raw: Any, label: str, what: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise FixtureError(f"{label}: {what} must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if unknown:
        raise FixtureError(
            f"{label}: unknown key(s) {', '.join(unknown)} in {what}; allowed: {', '.join(sorted(allowed))}"
        )
    return raw


def _optional_text(match: Mapping[str, Any], key: str, label: str) -> str | None:
    value = match.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise FixtureError(f"{label}: 'match.{key}' must be a non-empty string, got {value!r}")
    return value
