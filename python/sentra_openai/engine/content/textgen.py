"""Deterministic prose for answers that no fixture covers.

Everything here is a pure function of a passed-in ``random.Random`` (and a tiktoken encoding, for lengths):
the same RNG state always gives the same text. The word lists and templates live in config/lexicon.yaml.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .lexicon import fill_template, lexicon
from .tokensplit import token_ids, token_pieces


@dataclass(frozen=True)
class GeneratedText:
    """An answer and how it ended: ``finish_reason`` is "length" when it was cut at ``max_tokens``."""

    text: str
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


def natural_length(rng: random.Random, verbosity: str = "medium") -> int:
    """How many tokens an unconstrained answer would have (lognormal, clipped; parameters in the lexicon), scaled
    by the request's verbosity after the draw, so that one draw gives low < medium < high."""
    params = lexicon()["answer_length"]
    drawn = rng.lognormvariate(math.log(params["median_tokens"]), params["sigma"])
    factor = params["verbosity_factors"].get(verbosity, 1)
    return max(params["min_tokens"], round(min(params["max_tokens"], drawn) * factor))


def generate_answer(rng: random.Random, max_tokens: int, encoding: Any, prompt: str = "",
                    verbosity: str = "medium") -> GeneratedText:
    """A natural-length answer, cut at ``max_tokens`` tokens when it would be longer.

    The answer's content does not depend on ``max_tokens``: a smaller limit gives a prefix of the same text,
    as a real model would, so only the RNG (and the prompt) decide what is said.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    target = natural_length(rng, verbosity)
    text, count = _compose(rng, target, max_tokens, encoding, salient_phrases(prompt))
    if count <= max_tokens:
        return GeneratedText(text, count, "stop")
    cut = truncate_to_tokens(encoding, text, max_tokens)
    return GeneratedText(cut, len(token_ids(encoding, cut)), "length")


def generate_text(rng: random.Random, max_tokens: int, encoding: Any, prompt: str = "") -> str:
    """The text of :func:`generate_answer`: readable prose of at most ``max_tokens`` tokens."""
    return generate_answer(rng, max_tokens, encoding, prompt).text


def truncate_to_tokens(encoding: Any, text: str, n: int) -> str:
    """The longest prefix of ``text`` made of its first ``n`` tokens or fewer that re-encodes to <= ``n`` tokens.

    Guarantees: the result is a prefix of ``text``; it ends on a boundary of ``text``'s own tokens and never
    inside a character; ``len(encoding.encode_ordinary(result)) <= n``; and ``text`` itself when it already has
    <= ``n`` tokens. For ordinary prose the result is exactly the first ``n`` tokens. It can be shorter when the
    n-th token ends inside a multi-byte character, or when BPE would merge the cut prefix into more tokens than
    it had inside the longer text (the prefix then drops trailing tokens until it fits).
    """
    if n <= 0:
        return ""
    ids = token_ids(encoding, text)
    if len(ids) <= n:
        return text
    try:  # fast path: the n-th token ends on a character boundary (always, for ASCII prose)
        candidate = encoding.decode_bytes(ids[:n]).decode("utf-8")
    except UnicodeDecodeError:
        candidate = None
    if candidate is not None and text.startswith(candidate) and len(token_ids(encoding, candidate)) <= n:
        return candidate
    pieces = token_pieces(encoding, text)
    # Character offsets where a piece ends, for every prefix that spans at most n of text's tokens.
    prefix_len = 0
    tokens_so_far = 0
    boundaries: list[int] = []
    for piece, token_count in pieces:
        tokens_so_far += token_count
        if tokens_so_far > n:
            break
        prefix_len += len(piece)
        boundaries.append(prefix_len)
    if tokens_so_far <= n and len(boundaries) == len(pieces):
        return text
    for end in reversed(boundaries):  # almost always the first one fits
        candidate = text[:end]
        if len(encoding.encode_ordinary(candidate)) <= n:
            return candidate
    return ""


def apply_stop(text: str, stops: list[str] | None) -> tuple[str, bool]:
    """Cut ``text`` before the earliest occurrence of any stop sequence; the flag says whether it was cut."""
    earliest = -1
    for stop in stops or ():
        if not stop:
            continue
        found = text.find(stop)
        if found != -1 and (earliest == -1 or found < earliest):
            earliest = found
    if earliest == -1:
        return text, False
    return text[:earliest], True


# ----------------------------------------------------------------------------------------------- composition


def _compose(
    rng: random.Random, target: int, max_tokens: int, encoding: Any, topics: list[str]
) -> tuple[str, int]:
    """Sentences until the target is reached (or the limit passed); returns the text and its token count."""
    lex = lexicon()
    if target <= lex["answer_length"]["short_reply_max_tokens"]:
        text = lex["short_replies"][rng.randrange(len(lex["short_replies"]))]
        return text, len(encoding.encode_ordinary(text))

    # The natural end depends only on the RNG and the target (never on max_tokens), so a smaller limit cuts
    # the same answer. Generation may stop early once the text is certainly over the limit: the rest would
    # be cut anyway, and it keeps long targets cheap under small limits. `count` sums per-sentence counts,
    # which is exact except where BPE merges ".\n\n" at a paragraph break; the limit check is exact.
    knobs = lex["composition"]
    openers, sentences, closers = lex["openers"], lex["sentences"], lex["closers"]
    in_paragraphs = target > lex["answer_length"]["paragraph_min_tokens"]
    sentences_min, sentences_max = knobs["paragraph_sentences"]
    paragraphs: list[list[str]] = [[]]
    paragraph_size = rng.randint(sentences_min, sentences_max)
    count = 0
    sentence_index = 0
    while count < target:
        if count > max_tokens:
            text = _join(paragraphs)
            text_tokens = len(token_ids(encoding, text))
            if text_tokens > max_tokens:
                return text, text_tokens
        if sentence_index == 0 and rng.random() < knobs["opener_chance"]:
            template_list = openers
        elif (count > knobs["closer_after_tokens"] and target - count < knobs["closer_within_tokens"]
              and rng.random() < knobs["closer_chance"]):
            template_list = closers
        else:
            template_list = sentences
        sentence = fill_template(rng, template_list[rng.randrange(len(template_list))], topics)
        if in_paragraphs and len(paragraphs[-1]) >= paragraph_size:
            paragraphs.append([])
            paragraph_size = rng.randint(sentences_min, sentences_max)
        joiner = " " if paragraphs[-1] else ("\n\n" if sentence_index else "")
        count += len(encoding.encode_ordinary(joiner + sentence))
        paragraphs[-1].append(sentence)
        sentence_index += 1
        if template_list is closers:
            break
    text = _join(paragraphs)
    return text, len(token_ids(encoding, text))


def _join(paragraphs: list[list[str]]) -> str:
    return "\n\n".join(" ".join(paragraph) for paragraph in paragraphs)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset:
    return frozenset(lexicon()["stopwords"])


# Group 1: a word (two ASCII letters or more, with inner ' and -). Group 2: other non-space characters (punctuation,
# digits, letters outside A-Z such as "é" or "北"), consecutive ones together, across spaces: each ends the current
# run, and the last one says whether a sentence starts after them. A lone ASCII letter ("a", "I") is neither, and
# skipped. Group 2 takes a whole run of non-letters, then gives back its trailing spaces (the lookbehind): the match
# of "non-spaces with spaces between them", found with less backtracking (findall about a quarter faster).
_WORDS = re.compile(r"([A-Za-z][A-Za-z'-]*[A-Za-z])|([^\sA-Za-z][^A-Za-z]*(?<!\s))")


def salient_phrases(prompt: str) -> list[str]:
    """Up to two short phrases from the prompt (runs of content words), so the answer reads as related.

    Phrases are at most two words (the end of a run, where English puts the head noun), ranked by
    frequency, then by length; a prompt with no word of five letters or more gives none.
    """
    if not prompt:
        return []
    return list(_salient_phrases_of_tail(prompt[-2000:]))


@lru_cache(maxsize=64)  # each of a request's n answers (and reasoning summaries, tool arguments) reads the same prompt
def _salient_phrases_of_tail(text: str) -> tuple[str, ...]:
    stop = _stopwords()
    phrases: dict[str, int] = {}
    run: list[str] = []
    sentence_start = True
    # Non-word characters other than spaces end a run, so phrases never straddle punctuation.
    for token, others in _WORDS.findall(text):
        if others:
            if run:
                _close_run(run, phrases)
                run = []
            sentence_start = others[-1] in ".!?"
            continue
        lowered = token.lower()
        if len(token) >= 3 and lowered not in stop and not token.isupper():
            # A capital only because the sentence starts here is dropped; a name keeps its capital ("Paris").
            run.append(lowered if sentence_start and token[1:].islower() else token)
        elif run:
            _close_run(run, phrases)
            run = []
        sentence_start = False
    if run:
        _close_run(run, phrases)
    ranked = sorted(phrases, key=lambda p: (-phrases[p], -len(p), p))
    return tuple(ranked[:2])


def _close_run(run: list[str], phrases: dict[str, int]) -> None:
    """Counts the run's last two words as a phrase, when one of them has five letters or more."""
    last_two = run[-2:]
    if len(last_two[0]) >= 5 or len(last_two[-1]) >= 5:
        phrase = " ".join(last_two)
        phrases[phrase] = phrases.get(phrase, 0) + 1


def lowercase_words(text: str) -> list[str]:
    """The text's runs of letters and digits, lower-cased (tool relevance, slugs)."""
    word, out = [], []
    for ch in text.lower():
        if ch.isalnum():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out
