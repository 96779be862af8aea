"""Values a prompt already names: a model asked about the weather in Paris calls its tool with `city: "Paris"`, not
with a random city. `PromptValues` finds, for a value-hint kind (see value_hints), the value the prompt mentions:
entries of the lexicon's word lists, e-mail addresses, URLs, dates, and a proper noun after "in", "at", "to", ...
for places. Deterministic: a pure function of the prompt.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..content.lexicon import lexicon
from ..content.textgen import salient_phrases

_PATTERNS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "url": re.compile(r"https?://[^\s<>\"')\]]+"),
    "date_time": re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?"),
    "date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    "time": re.compile(r"\b\d{2}:\d{2}(?::\d{2})?\b"),
    "phone": re.compile(r"\+?\d[\d\s().-]{7,}\d"),
}
# A capitalised phrase after a place preposition: "the weather in Springfield", "flights to New Orleans".
_PLACE_AFTER = re.compile(
    r"\b(?:in|at|to|from|near|for|around|visiting)\s+((?:[A-Z][a-z]+|[A-Z]{2,})(?:[ -][A-Z][a-z]+)*)")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w.])|(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_PERSON = re.compile(r"\b([A-Z][a-z]+) ([A-Z][a-z]+)\b")
# Hint kinds whose values come from one word list of the lexicon (a cities row is [city, region, country, code]).
_LISTS = {
    "company": "companies", "product": "products", "timezone": "timezones", "weekday": "weekdays", "month": "months",
    "color": "colors", "currency": "currencies", "language": "languages", "status": "statuses", "unit": "units",
    "category": "categories", "job_title": "job_titles", "first_name": "first_names", "last_name": "last_names",
}
_CITY_COLUMNS = {"city": 0, "region": 1, "country": 2, "country_code": 3}
_QUERY_KINDS = ("word",)  # query, question, search, topic, keyword: the prompt's own key phrase


class PromptValues:
    """What one prompt mentions, looked up by value-hint kind."""

    def __init__(self, text: str) -> None:
        self.text = text[-4000:]  # the end of a long prompt is what the model answers
        self._found: dict[str, str | None] = {}
        self._numbers: list[tuple[int, float]] | None = None

    def value_for(self, kind: str) -> str | None:
        if kind not in self._found:
            self._found[kind] = self._find(kind) if self.text else None
        return self._found[kind]

    def _find(self, kind: str) -> str | None:
        if kind in _PATTERNS:
            match = _PATTERNS[kind].search(self.text)
            return match.group(0).rstrip(".,;:") if match else None
        if kind in _CITY_COLUMNS:
            row = self._city_row()
            if row is not None:
                return row[_CITY_COLUMNS[kind]]
            return self._place() if kind in ("city", "region", "country") else None
        if kind == "location":
            row = self._city_row()
            return f"{row[0]}, {row[2]}" if row is not None else self._place()
        if kind == "full_name":
            first_names, stop = _lowered("first_names"), _lowered("stopwords")
            people = [(first, last) for first, last in _PERSON.findall(self.text)
                      if first.lower() not in stop and last.lower() not in stop]
            known = [person for person in people if person[0].lower() in first_names]
            return " ".join((known or people)[0]) if known or people else None
        if kind in _LISTS:
            return _mentioned(self.text, _LISTS[kind])
        if kind in _QUERY_KINDS:
            phrases = salient_phrases(self.text)
            return phrases[0] if phrases else None
        return None

    def per_item(self, kinds: list[str]) -> list[PromptValues]:
        """One view of the prompt per entity it lists, for the items of an array ("Jason Smith is 25 and Sarah Jones
        is 30": two people, each with an age): the text from each distinct mention of the first of `kinds` that the
        prompt names twice or more, up to the next; the whole prompt once when it names one; else empty."""
        named_once = False
        for kind in kinds:
            starts, seen = [], set()
            for start, value in sorted(self._mentions(kind)):
                if value not in seen:
                    seen.add(value)
                    starts.append(start)
            if len(starts) >= 2:
                return [PromptValues(self.text[a:b]) for a, b in zip(starts, [*starts[1:], len(self.text)])]
            named_once = named_once or bool(starts)
        return [self] if named_once else []

    def _mentions(self, kind: str) -> list[tuple[int, str]]:
        """(position, value) of every mention of a kind in the prompt."""
        if kind in _PATTERNS:
            return [(m.start(), m.group(0)) for m in _PATTERNS[kind].finditer(self.text)]
        if kind in ("city", "location"):
            found = [(m.start(), row[0]) for row in lexicon()["cities"]
                     for m in re.finditer(rf"\b{re.escape(row[0])}\b", self.text)]
            return found or [(m.start(1), m.group(1)) for m in _PLACE_AFTER.finditer(self.text)]
        if kind == "full_name":
            stop, first_names = _lowered("stopwords"), _lowered("first_names")
            people = [(m.start(), m.group(0)) for m in _PERSON.finditer(self.text)
                      if m.group(1).lower() not in stop and m.group(2).lower() not in stop]
            known = [p for p in people if p[1].split()[0].lower() in first_names]
            return known or people
        if kind in _LISTS:
            return [(m.start(), entry) for entry in lexicon()[_LISTS[kind]] if isinstance(entry, str)
                    for m in re.finditer(rf"\b{re.escape(entry.lower())}\b", self.text.lower())]
        return []

    def numbers_near(self, name: str) -> list[float]:
        """The numbers the prompt states, the one nearest a mention of `name` ("age", "max_price") first."""
        if self._numbers is None:
            self._numbers = [(m.start(), float(m.group(0).replace(",", ""))) for m in _NUMBER.finditer(self.text)]
        if not self._numbers:
            return []
        words = [w for w in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name) if len(w) > 2]
        anchors = [m.start() for w in words for m in re.finditer(re.escape(w), self.text, re.IGNORECASE)]
        if not anchors:
            return [value for _, value in self._numbers]
        return [value for _, value in sorted(self._numbers, key=lambda n: min(abs(n[0] - a) for a in anchors))]

    def _city_row(self) -> list[str] | None:
        best: tuple[int, list[str]] | None = None
        for row in lexicon()["cities"]:
            for column in (0, 2, 1):  # a city named wins over its country or region
                match = re.search(rf"\b{re.escape(row[column])}\b", self.text)
                if match and (best is None or (column, match.start()) < best[0]):
                    best = ((column, match.start()), row)
        return None if best is None else best[1]

    def _place(self) -> str | None:
        match = _PLACE_AFTER.search(self.text)
        return match.group(1) if match else None


def _mentioned(text: str, list_key: str) -> str | None:
    """The first entry of a lexicon list that the text names (case-insensitively, as a whole word)."""
    lowered = text.lower()
    best: tuple[int, str] | None = None
    for entry in lexicon()[list_key]:
        if not isinstance(entry, str):
            continue
        match = re.search(rf"\b{re.escape(entry.lower())}\b", lowered)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), entry)
    return None if best is None else best[1]


@lru_cache(maxsize=None)
def _lowered(list_key: str) -> frozenset[str]:
    return frozenset(entry.lower() for entry in lexicon()[list_key] if isinstance(entry, str))
