"""Realistic values chosen from a property's name or a string ``format``: an email for ``email``, a city for
``city``, an age between 18 and 85 for ``age``.

The name rules and word lists are data in config/lexicon.yaml (``string_hints``, ``number_hints`` and the
lists they draw from); this module maps each hint ``kind`` and each JSON Schema ``format`` to a maker.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ..content.lexicon import fill_template, lexicon

Maker = Callable[[random.Random], str]


def string_hint(name: str) -> str | None:
    """The kind of string a property called ``name`` holds (a key of ``HINTED``), or None."""
    snake, words = _snake_words(name)
    whole, by_word = _string_rules()
    if snake in whole:
        return whole[snake]
    for keys, kind in by_word:
        if any(word in keys for word in words):
            return kind
    return None


def number_hint(name: str) -> dict[str, Any] | None:
    """The realistic range (``min``, ``max``, ``decimals``) of a number called ``name``, or None."""
    snake, words = _snake_words(name)
    rules = lexicon()["number_hints"]
    for rule in rules:
        if snake in rule["keys"]:
            return rule
    for rule in rules:
        if any(word in rule["keys"] for word in words):
            return rule
    return None


def singular(name: str) -> str:
    """The name of one item of an array property (``cities`` -> ``city``), so items get the same hints."""
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss") and len(name) > 3:
        return name[:-1]
    return name


def pick(rng: random.Random, key: str) -> Any:
    """One entry of the lexicon list ``key``."""
    pool = lexicon()[key]
    return pool[rng.randrange(len(pool))]


def plain_words(rng: random.Random) -> str:
    """The string for a property no hint applies to: a word or two."""
    count = rng.randint(1, 2)
    return " ".join(pick(rng, "words") for _ in range(count))


@lru_cache(maxsize=1)
def _string_rules() -> tuple[dict[str, str], list[tuple[frozenset[str], str]]]:
    whole: dict[str, str] = {}
    by_word: list[tuple[frozenset[str], str]] = []
    for rule in lexicon()["string_hints"]:
        keys = frozenset(rule["keys"])
        for key in rule["keys"]:
            whole.setdefault(key, rule["kind"])
        by_word.append((keys, rule["kind"]))
    return whole, by_word


def _snake_words(name: str) -> tuple[str, list[str]]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").replace(" ", "_").lower()
    return snake, [word for word in snake.split("_") if word]


# ------------------------------------------------------------------------------------------------- makers


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2020, 2025):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"


def _date_time(rng: random.Random) -> str:
    return f"{_date(rng)}T{_time(rng)}"


def _full_name(rng: random.Random) -> str:
    return f"{pick(rng, 'first_names')} {pick(rng, 'last_names')}"


def _email(rng: random.Random) -> str:
    return f"{pick(rng, 'first_names').lower()}.{pick(rng, 'last_names').lower()}@{pick(rng, 'email_domains')}"


def _url(rng: random.Random) -> str:
    return f"https://{pick(rng, 'web_domains')}/{pick(rng, 'url_paths')}/{rng.randint(1, 9999)}"


def _hostname(rng: random.Random) -> str:
    return pick(rng, "web_domains")


def _location(rng: random.Random) -> str:
    city, _region, country, _code = pick(rng, "cities")
    return f"{city}, {country}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _sentence(rng: random.Random) -> str:
    templates = lexicon()["sentences"]
    return fill_template(rng, templates[rng.randrange(len(templates))], [])


def _title(rng: random.Random) -> str:
    adjective = pick(rng, "adjectives")
    noun = pick(rng, "nouns")[1]
    return f"{adjective.capitalize()} {noun.capitalize()} for {pick(rng, 'topics').title()}"


def _identifier(rng: random.Random) -> str:
    return f"{pick(rng, 'identifier_prefixes')}_{rng.getrandbits(48):012x}"


def _from_list(key: str) -> Maker:
    return lambda rng: pick(rng, key)


# Keyed by the `kind` of the lexicon's string_hints.
HINTED: dict[str, Maker] = {
    "email": _email,
    "first_name": _from_list("first_names"),
    "last_name": _from_list("last_names"),
    "full_name": _full_name,
    "username": lambda rng: f"{pick(rng, 'first_names').lower()}{rng.randint(1, 99)}",
    "company": _from_list("companies"),
    "product": _from_list("products"),
    "city": lambda rng: pick(rng, "cities")[0],
    "region": lambda rng: pick(rng, "cities")[1],
    "country": lambda rng: pick(rng, "cities")[2],
    "country_code": lambda rng: pick(rng, "cities")[3],
    "location": _location,
    "address": lambda rng: f"{rng.randint(1, 250)} {pick(rng, 'streets')}",
    "postal_code": lambda rng: f"{rng.randint(10000, 99999)}",
    "phone": lambda rng: f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
    "url": _url,
    "date_time": _date_time,
    "date": _date,
    "time": _time,
    "timezone": _from_list("timezones"),
    "weekday": _from_list("weekdays"),
    "month": _from_list("months"),
    "uuid": _uuid,
    "identifier": _identifier,
    "title": _title,
    "sentence": _sentence,
    "word": _from_list("words"),
    "color": _from_list("colors"),
    "currency": _from_list("currencies"),
    "language": _from_list("languages"),
    "status": _from_list("statuses"),
    "unit": _from_list("units"),
    "category": _from_list("categories"),
    "job_title": _from_list("job_titles"),
    "code": lambda rng: f"{rng.getrandbits(32):08x}",
}

# Keyed by JSON Schema `format` (Draft 2020-12, section 7.3); each maker's output is well-formed for it.
FORMATS: dict[str, Maker] = {
    "date-time": _date_time,
    "date": _date,
    "time": _time,
    "email": _email,
    "idn-email": _email,
    "uuid": _uuid,
    "uri": _url,
    "iri": _url,
    "uri-reference": _url,
    "iri-reference": _url,
    "uri-template": lambda rng: f"https://{pick(rng, 'web_domains')}/{pick(rng, 'url_paths')}/{{id}}",
    "hostname": _hostname,
    "idn-hostname": _hostname,
    "ipv4": lambda rng: f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    "ipv6": lambda rng: "2001:db8:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(6)),
    "duration": lambda rng: rng.choice(("P{}D", "PT{}H", "PT{}M")).format(rng.randint(1, 30)),
    "json-pointer": lambda rng: f"/{pick(rng, 'url_paths')}/{rng.randint(0, 9)}",
    "relative-json-pointer": lambda rng: f"{rng.randint(0, 3)}/{pick(rng, 'url_paths')}",
    "regex": lambda rng: "^[a-z]+$",
}
