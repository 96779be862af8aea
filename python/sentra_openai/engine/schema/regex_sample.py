"""Strings that a regular expression (a schema's ``pattern``) accepts, sampled from its parsed form.

The regex is parsed with Python's own parser (``re._parser``; ``sre_parse`` before 3.11) and rendered
node by node. Lookarounds and word boundaries are not modelled: every candidate is checked with
``re.search`` and the ones that fail are dropped.
"""

from __future__ import annotations

import random
import string
from functools import lru_cache
from typing import Any

from .check import compile_pattern, length_ok
from .errors import SchemaGenerationError

try:  # Python >= 3.11
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_ATTEMPTS = 60

# What a character class shorthand (\d, \w, \s and their negations) renders as: readable, never exotic.
_CATEGORY_CHARS = {
    _sre.CATEGORY_DIGIT: string.digits,
    _sre.CATEGORY_NOT_DIGIT: string.ascii_letters + " _-",
    _sre.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    _sre.CATEGORY_NOT_WORD: " -.,:;!?",
    _sre.CATEGORY_SPACE: " ",
    _sre.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
# The alphabet a negated class ([^...]) or a negated literal picks from.
_PRINTABLE = string.ascii_letters + string.digits + " -_.,:;!?@#/+"


@lru_cache(maxsize=256)
def _parse(pattern: str) -> Any:
    return _sre_parse.parse(pattern)


def pattern_string(pattern: str, min_length: int, max_length: int | None, rng: random.Random, path: str) -> str:
    """A string that ``re.search(pattern, ...)`` accepts, within the length bounds.

    Candidates are sampled from the parsed regex, with unbounded repeats stretched more and more towards
    ``min_length``; lookarounds and word boundaries are not modelled, the check weeds those out.
    """
    compiled = compile_pattern(pattern, path)
    tree = _parse(pattern)
    padding = string.ascii_lowercase
    for attempt in range(_ATTEMPTS):
        # Natural lengths first; then the fewest repetitions (for maxLength) and longer ones (for minLength).
        stretch = 0 if attempt < 10 else rng.randint(0, max(8, min_length))
        sampler = _RegexSampler(rng, stretch, minimal=attempt % 5 == 4)
        try:
            candidate = sampler.render(tree)
        except _Unsupported:
            break
        options = [candidate]
        if len(candidate) < min_length:  # an unanchored pattern also matches inside a longer string
            fill = "".join(rng.choice(padding) for _ in range(min_length - len(candidate)))
            options += [candidate + fill, fill + candidate, f"{candidate} {fill[1:]}", f"{fill[1:]} {candidate}"]
        for option in options:
            if length_ok(option, min_length, max_length) and compiled.search(option):
                return option
    raise SchemaGenerationError(
        f"{path}: could not produce a string matching {pattern!r} with length in [{min_length}, {max_length}]")


class _Unsupported(Exception):
    pass


class _RegexSampler:
    """Renders a parsed (sre) regex as one matching string.

    ``stretch`` adds repetitions to every quantifier; ``minimal`` uses each quantifier's minimum.
    """

    def __init__(self, rng: random.Random, stretch: int, minimal: bool = False) -> None:
        self.rng = rng
        self.stretch = stretch
        self.minimal = minimal
        self.groups: dict[int, str] = {}

    def render(self, tree: Any) -> str:
        return "".join(self._node(op, arg) for op, arg in tree)

    def _node(self, op: Any, arg: Any) -> str:
        rng = self.rng
        if op is _sre.LITERAL:
            return chr(arg)
        if op is _sre.NOT_LITERAL:
            return rng.choice([c for c in _PRINTABLE if ord(c) != arg])
        if op is _sre.ANY:
            return rng.choice(string.ascii_letters + string.digits)
        if op is _sre.IN:  # also \d, \w, \s outside brackets: the parser wraps them in a one-item class
            return self._in(arg)
        if op is _sre.BRANCH:
            alternatives = arg[1]
            return self.render(alternatives[rng.randrange(len(alternatives))])
        if op is _sre.SUBPATTERN:
            group, _add_flags, _del_flags, body = arg
            text = self.render(body)
            if group is not None:
                self.groups[group] = text
            return text
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
            low, high, body = arg
            if self.minimal:
                count = low
            else:
                # Word-like runs for a repeated character ([a-z]+), a few repetitions of a larger group.
                single = len(body) == 1 and body[0][0] in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.IN, _sre.ANY)
                top = low + (6 if single else 2) + self.stretch
                count = rng.randint(low, top if high == _sre.MAXREPEAT else min(high, top + 8))
            return "".join(self.render(body) for _ in range(count))
        if op is getattr(_sre, "ATOMIC_GROUP", None):
            return self.render(arg)
        if op is _sre.GROUPREF:
            return self.groups.get(arg, "")
        if op is _sre.GROUPREF_EXISTS:
            group, yes, no = arg
            return self.render(yes) if group in self.groups else (self.render(no) if no else "")
        if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            return ""  # anchors are satisfied by rendering the whole string; lookarounds are checked afterwards
        raise _Unsupported(str(op))

    def _in(self, items: list[Any]) -> str:
        if items and items[0][0] is _sre.NEGATE:
            allowed = [c for c in _PRINTABLE if not _in_set(c, items[1:])]
            if not allowed:
                raise _Unsupported("negated class excludes every printable character")
            return self.rng.choice(allowed)
        # Pick a class member in proportion to its size, so [a-z0-9._-] reads mostly as letters.
        weights = [_class_item_size(op, arg) for op, arg in items]
        op, arg = self.rng.choices(items, weights=weights)[0]
        if op is _sre.LITERAL:
            return chr(arg)
        if op is _sre.RANGE:
            return chr(self.rng.randint(arg[0], arg[1]))
        if op is _sre.CATEGORY:
            return self.rng.choice(_CATEGORY_CHARS.get(arg, string.ascii_letters))
        raise _Unsupported(str(op))


def _class_item_size(op: Any, arg: Any) -> int:
    if op is _sre.RANGE:
        return arg[1] - arg[0] + 1
    if op is _sre.CATEGORY:
        return len(_CATEGORY_CHARS.get(arg, string.ascii_letters))
    return 1


def _in_set(char: str, items: list[Any]) -> bool:
    code = ord(char)
    for op, arg in items:
        if op is _sre.LITERAL and code == arg:
            return True
        if op is _sre.RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is _sre.CATEGORY and char in _CATEGORY_CHARS.get(arg, ""):
            return True
    return False
