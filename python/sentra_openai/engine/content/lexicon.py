"""The word lists, sentence templates and composition knobs of generated text (config/lexicon.yaml), and the filling
of one template: the shared base of prose generation and of the schema generator's hinted values."""

from __future__ import annotations

import random
import re
from functools import cache, lru_cache
from typing import Any

import yaml

from ...config import config_dir

_LEXICON_PATH = config_dir() / "lexicon.yaml"
_SLOT = re.compile(r"\{(\w+)\}")
# "a" or "an" as a whole word, and the word after it. The pattern starts with [Aa] (not \b) so that the regex engine
# skips straight to the next candidate letter; the lookbehind then asks what \b would: no word character before it.
_ARTICLE = re.compile(r"([Aa])(?<!\w[Aa])n? ([A-Za-z][\w-]*)")


@lru_cache(maxsize=1)
def lexicon() -> dict[str, Any]:
    """The word lists and templates (config/lexicon.yaml), read once per process."""
    with open(_LEXICON_PATH, "rb") as handle:
        return yaml.safe_load(handle)


def fill_template(rng: random.Random, template: str, topics: list[str]) -> str:
    """One sentence from a lexicon template, slots filled from the word lists (see config/lexicon.yaml).

    Each slot draws one index into its list (`rng.choice`); a {topic} draws from `topics` when there are any."""
    head, slots, capitalized = _compiled_template(template)
    topic_words = topics or _slot_words()["topic"]
    out = [head]
    for words, literal in slots:
        if words is None:
            words = topic_words
        out.append(rng.choice(words))
        out.append(literal)
    sentence = _fix_articles("".join(out))
    # Fixing an article never changes the first character, so a template that starts capitalised stays so.
    return sentence if capitalized else sentence[:1].upper() + sentence[1:]


@lru_cache(maxsize=1)
def _slot_words() -> dict[str, list[str]]:
    """The words each slot name draws from: a noun slot draws the singular or plural of one entry of `nouns`, a verb
    slot one form of one entry of `verbs`, so both lists keep their entries' order and length."""
    lex = lexicon()
    words = {"topic": lex["topics"], "number": [str(number) for number in lex["composition"]["numbers"]],
             "adj": lex["adjectives"], "adv": lex["adverbs"], "degree": lex["degree_adverbs"],
             "connector": lex["connectors"]}
    for index, name in enumerate(("noun", "nouns")):
        words[name] = [pair[index] for pair in lex["nouns"]]
    for index, name in enumerate(("verb", "verb_s", "verb_ing")):
        words[name] = [forms[index] for forms in lex["verbs"]]
    return words


def _fix_articles(sentence: str) -> str:
    return _ARTICLE.sub(_article_before, sentence)


def _article_before(match: re.Match[str]) -> str:
    article, word = match.groups()
    return f"{article}{'n' if _vowel_sound(word) else ''} {word}"


@lru_cache(maxsize=4096)  # the lexicon's words and the prompts' topics: a few thousand at most in practice
def _vowel_sound(word: str) -> bool:
    """Whether `word` takes "an": it starts with a vowel letter (unless listed as taking "a", like "user") or is
    listed as taking "an" ("hour")."""
    takes_a, takes_an = _article_sets()
    lowered = word.lower()
    return (lowered[0] in "aeiou" and lowered not in takes_a) or lowered in takes_an


@cache
def _compiled_template(template: str) -> tuple[str, tuple[tuple[list[str] | None, str], ...], bool]:
    """The template's text before its first slot; per slot, the words it draws from (None for {topic}, whose words
    come with each call) and the text after it, up to the next slot; and whether the template starts capitalised."""
    slot_words = _slot_words()
    head, *names_and_literals = _SLOT.split(template)  # text, slot name, text, slot name, ..., text
    slots = tuple((None if name == "topic" else slot_words[name], literal)
                  for name, literal in zip(names_and_literals[::2], names_and_literals[1::2]))
    return head, slots, head != "" and head[0].upper() == head[0]


@lru_cache(maxsize=1)
def _article_sets() -> tuple[frozenset, frozenset]:
    lex = lexicon()
    return frozenset(lex["article_a_words"]), frozenset(lex["article_an_words"])
