"""Response fixtures: canned answers for known prompts, loaded from YAML into the native fixture index.

The file format is documented at the top of fixtures/default.yaml. Matching (exact / regex / model, priority,
weighted choice) is done by the native index (rust/core/src/fixtures.rs); this module validates the files,
keeps the responses and turns an index hit into a `Fixture`. Every problem in a file is a `FixtureError`
whose message names the file and the entry, so the server can print it as is and exit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from ... import _native

_ENTRY_KEYS = frozenset({"name", "match", "priority", "weight", "response"})
_MATCH_KEYS = frozenset({"exact", "regex", "model"})
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


class FixtureSet:
    """The loaded fixtures. Immutable; `match` is safe to call from any thread."""

    def __init__(self, fixtures: Sequence[Fixture], rules: Sequence[_Rule], labels: Sequence[str]) -> None:
        self._fixtures = tuple(fixtures)
        try:
            self._index = _native.FixtureIndex([rule.as_tuple() for rule in rules], list(labels))
        except ValueError as exc:  # the native message already starts with the entry's label
            raise FixtureError(str(exc)) from None

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> FixtureSet:
        """Load fixture files; a directory contributes its *.yaml / *.yml files in name order."""
        fixtures: list[Fixture] = []
        rules: list[_Rule] = []
        labels: list[str] = []
        first_seen: dict[str, str] = {}
        for file in _expand(paths):
            for position, raw in enumerate(_read_entries(file), start=1):
                label = _label(file, position, raw)
                fixture, rule = _parse_entry(raw, label)
                if fixture.name in first_seen:
                    other = first_seen[fixture.name]
                    raise FixtureError(f"{label}: the name {fixture.name!r} is already used by {other}")
                first_seen[fixture.name] = label
                fixtures.append(fixture)
                rules.append(rule)
                labels.append(label)
        return cls(fixtures, rules, labels)

    @property
    def fixtures(self) -> tuple[Fixture, ...]:
        return self._fixtures

    def __len__(self) -> int:
        return len(self._fixtures)

    def match(self, model: str, prompt: str | None, draw: float) -> Fixture | None:
        """The fixture answering `prompt` (the last user message) for `model`; `draw` in [0, 1) from the
        request's seeded RNG picks among equally ranked fixtures by weight."""
        index = self._index.lookup(model, prompt or "", draw)
        return None if index is None else self._fixtures[index]


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in _YAML_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise FixtureError(f"{path}: no such fixture file or directory")
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
    priority = entry.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -(2**63) <= priority < 2**63:
        raise FixtureError(f"{label}: 'priority' must be an integer, got {priority!r}")
    weight = entry.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < float("inf"):
        raise FixtureError(f"{label}: 'weight' must be a number > 0, got {weight!r}")
    content, tool_call = _parse_response(entry.get("response"), label)
    return Fixture(name, content, tool_call), _Rule(priority, exact, regex, model, float(weight))


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
