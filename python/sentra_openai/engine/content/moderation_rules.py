"""Moderation classifications: the category shape of each model family (config/moderation.yaml) and the canned
scores of the moderation fixtures (fixtures/moderations/, format at the top of default.yaml).

`classify` is deterministic: fixtures that match give their scores, every other category a small score drawn from
an RNG seeded by the caller's key (seed, model, input), so one input always gets one answer.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...config import config_dir
from .fixtures import FixtureError, expand_yaml_paths

_CONFIG_PATH = config_dir() / "moderation.yaml"
_ENTRY_KEYS = frozenset({"name", "match", "scores"})
_MATCH_KEYS = frozenset({"regex", "model"})
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Family:
    """One family of moderation models: the categories it scores, in the API's order."""

    name: str
    categories: tuple[str, ...]
    image_categories: frozenset[str]
    unscored: tuple[str, ...]  # categories it reports as null (the text models' illicit)
    id_style: str  # "hex32" or "base62_29"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    regex: re.Pattern[str]
    model: str | None
    scores: Mapping[str, float]

    def applies_to(self, model_id: str) -> bool:
        if self.model is None:
            return True
        if self.model.endswith("*"):
            return model_id.startswith(self.model[:-1])
        return model_id == self.model


@dataclass(frozen=True, slots=True)
class Classification:
    """One result of the API: per category, whether flagged, the score and the input types it applies to."""

    flagged: bool
    categories: dict[str, bool | None]
    scores: dict[str, float]
    applied: dict[str, list[str]]


class ModerationRules:
    """The families, the threshold and the loaded fixtures. Immutable once built."""

    def __init__(self, families: Mapping[str, Family], threshold: float, baseline: tuple[float, float],
                 rules: Sequence[Rule]) -> None:
        self.families = dict(families)
        self.threshold = threshold
        self.baseline = baseline
        self.rules = tuple(rules)

    @classmethod
    def load(cls, fixture_paths: Iterable[str | Path]) -> ModerationRules:
        with open(_CONFIG_PATH, "rb") as handle:
            config = yaml.load(handle, Loader=_Loader)
        families = {
            name: Family(name, tuple(raw["categories"]), frozenset(raw["image_categories"]), tuple(raw["unscored"]),
                         raw["id"])
            for name, raw in config["families"].items()
        }
        known = {category for family in families.values() for category in (*family.categories, *family.unscored)}
        rules = _load_rules(fixture_paths, known)
        baseline = (float(config["baseline"]["min"]), float(config["baseline"]["max"]))
        return cls(families, float(config["flag_threshold"]), baseline, rules)

    def family_of(self, model) -> Family:
        """The omni family for models that take images, the text family otherwise."""
        return self.families["omni" if model.has("images") else "text"]

    def classify(self, model_id: str, family: Family, texts: Sequence[str], images: Sequence[str],
                 rng: random.Random) -> Classification:
        """The result for one input: its text parts and image URLs."""
        low, high = math.log10(self.baseline[0]), math.log10(self.baseline[1])
        # Drawn first, in category order, so that a fixture's scores never shift another category's draw.
        scores = {category: 10 ** rng.uniform(low, high) for category in family.categories}
        image_scores: dict[str, float] = {}
        for rule in self.rules:
            if not rule.applies_to(model_id):
                continue
            if any(rule.regex.search(text) for text in texts):
                for category, score in rule.scores.items():
                    if category in scores:
                        scores[category] = max(scores[category], score)
            if any(rule.regex.search(url) for url in images):
                for category, score in rule.scores.items():
                    if category in family.image_categories:
                        image_scores[category] = max(image_scores.get(category, 0.0), score)
        for category, score in image_scores.items():
            scores[category] = max(scores[category], score)
        categories: dict[str, bool | None] = {c: scores[c] >= self.threshold for c in family.categories}
        applied = {c: (["text"] if texts else []) + (["image"] if images and c in family.image_categories else [])
                   for c in family.categories}
        for category in family.unscored:
            categories[category] = None
            scores[category] = 0.0
            applied[category] = []
        return Classification(any(categories.values()), categories, scores, applied)


def _load_rules(paths: Iterable[str | Path], known: set[str]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for file in expand_yaml_paths(paths, "moderation fixture"):
        for position, raw in enumerate(_entries(file), start=1):
            label = f"{file}: moderation #{position}"
            rule = _parse_rule(raw, label, known)
            if rule.name in seen:
                raise FixtureError(f"{label}: the name {rule.name!r} is already used by {seen[rule.name]}")
            seen[rule.name] = label
            rules.append(rule)
    return rules


def _entries(file: Path) -> list[Any]:
    try:
        document = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError) as exc:
        raise FixtureError(f"{file}: cannot read moderation fixture file: {exc}") from None
    except yaml.YAMLError as exc:
        raise FixtureError(f"{file}: not valid YAML: {exc}") from None
    if document is None:
        return []
    if not isinstance(document, Mapping) or set(document) != {"moderations"}:
        raise FixtureError(f"{file}: the top level must be a mapping with the single key 'moderations'")
    entries = document["moderations"] or []
    if not isinstance(entries, list):
        raise FixtureError(f"{file}: 'moderations' must be a list of entries, got {type(entries).__name__}")
    return entries


def _parse_rule(raw: Any, label: str, known: set[str]) -> Rule:
    if not isinstance(raw, Mapping):
        raise FixtureError(f"{label}: expected a mapping with name, match and scores")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise FixtureError(f"{label}: unknown key {unknown[0]!r} (expected: {', '.join(sorted(_ENTRY_KEYS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise FixtureError(f"{label}: 'name' must be a non-empty string")
    label = f"{label} {name!r}"
    match = raw.get("match")
    if not isinstance(match, Mapping) or set(match) - _MATCH_KEYS or not isinstance(match.get("regex"), str):
        raise FixtureError(f"{label}: 'match' must be a mapping with a 'regex' string (and optionally 'model')")
    try:
        regex = re.compile(match["regex"])
    except re.error as exc:
        raise FixtureError(f"{label}: invalid regex: {exc}") from None
    model = match.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise FixtureError(f"{label}: 'match.model' must be a model id or a prefix ending in '*'")
    scores = raw.get("scores")
    if not isinstance(scores, Mapping) or not scores:
        raise FixtureError(f"{label}: 'scores' must be a mapping of category to score")
    for category, score in scores.items():
        if category not in known:
            raise FixtureError(f"{label}: unknown category {category!r} (known: {', '.join(sorted(known))})")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            raise FixtureError(f"{label}: the score of {category!r} must be a number between 0 and 1, got {score!r}")
    return Rule(name, regex, model, {category: float(score) for category, score in scores.items()})


@functools.lru_cache(maxsize=4)
def rules_of(paths: tuple[str, ...]) -> ModerationRules:
    """The rules of these fixture files, loaded once: moderated chat completions and responses share them."""
    return ModerationRules.load(paths)
