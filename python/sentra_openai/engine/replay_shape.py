"""The generation note (issue 12): lets the front answer a request with a *new* prompt itself.

The replay note (replay.py) serves only the very same request bytes again. For a chat completion in the simple class
below, whose text was generated (textgen, no fixture), the worker adds beside it

    x-sentra-replay-gen: hole=S:E;seed=B64;key=B64PRE:B64SUF;enc=NAME;verbosity=WORD;limit=N;budget=N;
        prompt=BASE:MAXPROMPT;content=S:E;finish=S:E;usage=PS:PE,CS:CE,TS:TE;price=IN:CACHED:OUT;fixtures=B64JSON

(one line): a request whose bytes are this one's but for the raw JSON string of the last user message (`hole`, a
byte range of the body between the quotes) is answered with this answer's body, its fills renewed, and the message
content (`content`), finish_reason (`finish`) and usage (`usage`, three integers) spliced in as the native composer
(rust/core/src/textgen) makes them from the new prompt. The composer's RNG is seeded with the content key
`seed + blake2b(PRE + repr(text) + SUF, 16)` (Call.content_key over pipeline.content_parts), draws the fixture
draw, then `generate_answer(rng, limit, enc, lexicon, text, verbosity)` cut at `budget` tokens;
prompt_tokens = BASE + count(text), valid up to MAXPROMPT (beyond: a context error or the prompt cache); the cost
header is recomputed from the prices; `fixtures` lists the rules (base64 JSON) whose match makes the front forward.
The front's side: rust/core/src/front (the shape templates).

Every condition is exact, as for the replay note, and before attaching the worker has the native composer answer
this very request and requires it to reproduce the engine's answer: anything it cannot vouch for gets no note.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import orjson

from .. import _native, costing
from .content.native_textgen import native_lexicon, native_twin

if TYPE_CHECKING:
    from .core import Call
    from .types import Outcome

GEN_HEADER = "x-sentra-replay-gen"
# The body keys of the class: none of them changes the answer with the prompt but through the content key, the
# token limit or the prompt count, which the note carries.
CLASS_KEYS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
                        "seed", "user", "frequency_penalty", "presence_penalty", "stream"})
# Below the front's largest kept request (rust/core/src/front/replay.rs MAX_BYTES) a new body could be refused as too
# large by the engine, which the front cannot know.
MIN_BODY_LIMIT = 64 * 1024
# Past this the note would crowd the front's response head limit (exchange.rs MAX_RESPONSE_HEAD, 256 KiB).
MAX_NOTE_BYTES = 128 * 1024
# A note costs the worker about what the answer itself does (about 90 us: proving the holes, the composer's check) and
# pays off only if the front answers later requests of its shape. Requests whose heads differ each time (a trace
# header per request) never share one: past this many notes in a second of the monotonic clock, a worker notes none.
# A load test has a few shapes, each renewed about once a second.
NOTES_PER_SECOND = 64
# Stands in for the prompt where the note's parts are cut out; no request holds it (checked: exactly one copy).
_SENTINEL = "sentra\x1fgen\x1fhole"
# Replaces the answer's holes to prove them: quotes, a backslash, controls and a length unlike any answer's.
_PROBE_TEXT = 'a "probe"\\ with\ncontrols\t\x01\x1f and a longer tail ' * 3
_PROBE_USAGE = (123456789, 7, 123456796)
_USAGE = re.compile(rb'"(prompt_tokens|completion_tokens|total_tokens)": (\d+)')


@dataclass(frozen=True, slots=True)
class Shape:
    """What the chat pipeline knew of a request in the class (pipeline.handle sets `call.shape`)."""

    model: Any  # catalog.ModelInfo
    req: Any  # endpoints.chat.request.ChatRequest
    key: str  # the content key the answer's RNG was seeded with
    encoding: str  # the model's encoding name
    cap: int  # the natural answer's longest (generate.answer_cap)
    budget: int  # generate.output_budget: a non-reasoning model spends none of it thinking
    prompt_tokens: int
    prices: costing.Prices  # the served tier's

    @property
    def limit(self) -> int:
        return min(self.cap, self.budget)


def in_class(model, req) -> bool:
    """The pipeline's cheap first test (only for answers it generated): the rest is `note`'s."""
    return not model.reasoning and req.n == 1 and not req.stream and CLASS_KEYS.issuperset(req.raw)


class _Budget:
    """At most NOTES_PER_SECOND notes in each second of the monotonic clock (per worker process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.second, self.used = -1, 0

    def take(self) -> bool:
        second = int(self.clock())
        if second != self.second:
            self.second, self.used = second, 0
        self.used += 1
        return self.used <= NOTES_PER_SECOND


_budget = _Budget()


def note(call: Call, outcome: Outcome, fills: list[tuple[int, int]]) -> str | None:
    """The generation note of an answer the replay note is attached to (`fills`: its body fills' byte ranges), or None
    when the front could not answer a new prompt of its shape exactly (or this second's notes are spent)."""
    shape: Shape = call.shape
    model, req, settings = shape.model, shape.req, call.settings
    text = _prompt_of(req)
    if (text is None or call.record.endpoint != "chat.completions" or call.stored_row is not None
            or call.time_scale > 0  # a new answer's length would change its delay
            or settings.server.max_body_bytes < MIN_BODY_LIMIT or not in_class(model, req) or not _budget.take()):
        return None
    fixtures = call.services.fixtures
    rules = fixtures.last_user_rules(model.id)
    if rules is None or fixtures.answers_last_user(model.id, text):
        return None
    hole = _request_hole(call.request.body, req.raw, text)
    key = _key_parts(settings.seed, model.id, req.raw, text, shape.key)
    answer = _answer_holes(outcome.body, fills)
    if hole is None or key is None or answer is None:
        return None
    holes, (content, finish, prompt_tokens, completion_tokens) = answer
    verbosity = _verbosity(req)
    if native_choice(shape.key, text, shape.limit, shape.budget, shape.encoding, verbosity) != (
            content, completion_tokens, finish):
        return None
    base, longest = _base_tokens(call, shape), _max_prompt(call, shape)
    enc = native_twin(shape.encoding)
    if enc is None or not prompt_tokens == shape.prompt_tokens == base + enc.count_ordinary(text) <= longest:
        return None
    prices = shape.prices
    cost = costing.cost_picodollars(prompt_tokens, 0, completion_tokens, prices)
    if call.record.cost_picodollars != cost or outcome.headers.get("x-sentra-cost-usd") != costing.format_usd(cost):
        return None
    (content_at, finish_at, *usage_at) = holes
    made = ";".join([
        f"hole={hole[0]}:{hole[1]}", f"seed={_b64(f'{settings.seed}:'.encode())}",
        f"key={_b64(key[0])}:{_b64(key[1])}", f"enc={shape.encoding}", f"verbosity={verbosity}",
        f"limit={shape.limit}", f"budget={shape.budget}", f"prompt={base}:{longest}",
        f"content={content_at[0]}:{content_at[1]}", f"finish={finish_at[0]}:{finish_at[1]}",
        "usage=" + ",".join(f"{start}:{end}" for start, end in usage_at),
        f"price={prices.input_micro}:{prices.cached_micro}:{prices.output_micro}",
        f"fixtures={_b64(orjson.dumps(rules))}",
    ])
    return made if len(made) <= MAX_NOTE_BYTES else None


def _prompt_of(req) -> str | None:
    """The last user message's text, when the last message is that user message and its content a plain string the
    front can take the place of: ASCII (the front takes a new prompt's characters beyond ASCII only where Python's
    repr writes them as they are, rust/core/src/front/shape.rs printable_beyond_ascii), and no JSON code block asked
    for (generate._answer_text)."""
    messages = req.raw.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages and messages is req.messages else None
    text = last.get("content") if isinstance(last, dict) and last.get("role") == "user" else None
    if (type(text) is not str or req.last_user_text() != text or not text.isascii() or "```json" in text
            or req.stop or req.tools or req.response_format is not None or req.logprobs):
        return None
    return text


def native_choice(key: str, prompt: str, limit: int, budget: int, encoding: str,
                  verbosity: str) -> tuple[str, int, str] | None:
    """(text, completion_tokens, finish_reason) as the front composes them for this class, through the native
    composer: generate.generate_choice's draws (the fixture draw, the answer at `limit`, the cut at `budget`);
    None for an encoding without a native twin."""
    enc = native_twin(encoding)
    if enc is None:
        return None
    rng = _native.MersenneTwister(key)
    rng.random()  # the fixture draw, which decides nothing once no fixture matches
    text, _, finish = _native.generate_answer(rng, limit, enc, native_lexicon(), prompt, verbosity)
    tokens = enc.count_ordinary(text)
    if tokens > budget:
        text, finish = _native.truncate_to_tokens(enc, text, budget), "length"
        tokens = enc.count_ordinary(text)
    return text, tokens, finish


def _request_hole(body: bytes, raw: dict[str, Any], text: str) -> tuple[int, int] | None:
    """Where the last user message's JSON string sits in the body (between its quotes): its one copy, proven by
    putting the sentinel there and finding the body's own value with just that message's content changed."""
    if type(body) is not bytes:
        return None
    needle = orjson.dumps(text)
    start = body.find(needle)
    if start < 0 or body.find(needle, start + 1) >= 0:
        return None
    hole = (start + 1, start + len(needle) - 1)
    try:
        probe = orjson.loads(body[:hole[0]] + orjson.dumps(_SENTINEL)[1:-1] + body[hole[1]:])
    except orjson.JSONDecodeError:
        return None
    last = probe.get("messages")[-1] if isinstance(probe, dict) and isinstance(probe.get("messages"), list) else None
    if not isinstance(last, dict) or last.get("content") != _SENTINEL:
        return None
    last["content"] = text
    return hole if probe == raw else None


def _key_parts(seed: int, model_id: str, raw: dict[str, Any], text: str, key: str) -> tuple[bytes, bytes] | None:
    """The bytes of repr(content parts) before and after repr(text), checked to rebuild the engine's content key."""
    from .endpoints.chat.pipeline import content_parts  # the pipeline imports this module

    messages = raw["messages"]
    stand_in = {**raw, "messages": [*messages[:-1], {**messages[-1], "content": _SENTINEL}]}
    pre, marker, suf = repr(content_parts(model_id, stand_in)).partition(repr(_SENTINEL))
    if not marker or repr(_SENTINEL) in suf:
        return None
    parts = pre.encode(), suf.encode()
    rebuilt = f"{seed}:" + hashlib.blake2b(parts[0] + repr(text).encode() + parts[1], digest_size=16).hexdigest()
    return parts if rebuilt == key else None


def _answer_holes(body: bytes, fills: list[tuple[int, int]]):
    """The byte ranges of the message content (between quotes), finish_reason (between quotes) and the usage's three
    integers in the answer, and its (prompt_tokens, completion_tokens); proven by splicing other values there and
    getting exactly the bytes the engine writes for them (orjson, 2-space indent)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if orjson.dumps(doc, option=orjson.OPT_INDENT_2) != body or len(doc.get("choices") or ()) != 1:
        return None
    choice, usage = doc["choices"][0], doc.get("usage") or {}
    content, finish = choice["message"].get("content"), choice.get("finish_reason")
    if (type(content) is not str or finish not in ("stop", "length")
            or (usage.get("prompt_tokens_details") or {}).get("cached_tokens") != 0
            or (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") != 0):
        return None
    content_at = _between_quotes(body, b'"content": ', content)
    finish_at = _between_quotes(body, b'"finish_reason": ', finish)
    counts = {}
    for match in _USAGE.finditer(body):
        counts.setdefault(match.group(1), []).append(match.span(2))
    if content_at is None or finish_at is None or any(len(counts.get(name, ())) != 1 for name in
                                                      (b"prompt_tokens", b"completion_tokens", b"total_tokens")):
        return None
    usage_at = [counts[name][0] for name in (b"prompt_tokens", b"completion_tokens", b"total_tokens")]
    holes = [content_at, finish_at, *usage_at]
    spans = sorted([*holes, *fills])
    if any(end > start for (_, end), (start, _) in pairwise(spans)):
        return None
    other_finish = "length" if finish == "stop" else "stop"
    values = [orjson.dumps(_PROBE_TEXT)[1:-1], other_finish.encode(), *(str(n).encode() for n in _PROBE_USAGE)]
    spliced = bytearray(body)
    for (start, end), value in sorted(zip(holes, values), reverse=True):
        spliced[start:end] = value
    choice["message"]["content"], choice["finish_reason"] = _PROBE_TEXT, other_finish
    usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"] = _PROBE_USAGE
    if bytes(spliced) != orjson.dumps(doc, option=orjson.OPT_INDENT_2):
        return None
    tokens = [int(body[start:end]) for start, end in usage_at]
    return holes, (content, finish, tokens[0], tokens[1])


def _between_quotes(body: bytes, key: bytes, value: str) -> tuple[int, int] | None:
    needle = key + orjson.dumps(value)
    start = body.find(needle)
    if start < 0 or body.find(needle, start + 1) >= 0:
        return None
    return start + len(key) + 1, start + len(needle) - 1


def _base_tokens(call: Call, shape: Shape) -> int | None:
    """The prompt's tokens with the last user message's content empty: the count is that plus the content's tokens
    (tokens/counter.py counts a string content on its own), which the caller checks against the real count."""
    messages = shape.req.messages
    emptied = [*messages[:-1], {**messages[-1], "content": ""}]
    return call.services.tokens.chat_prompt_tokens(shape.model, emptied).total


def _max_prompt(call: Call, shape: Shape) -> int:
    """The longest prompt answered the same way: within the context window beside the requested output, and below
    the prompt cache's threshold when it is on (a cached prompt leaves a trace)."""
    from .endpoints.chat import field_rules

    req = shape.req
    longest = shape.model.context_window - (req.max_output if req.max_output is not None else 0)
    caching = call.settings.prompt_caching
    if caching.enable and not field_rules.caching_disabled(req.raw):
        longest = min(longest, caching.min_tokens - 1)
    return longest


def _verbosity(req) -> str:
    from .endpoints.chat.generate import verbosity_of

    return verbosity_of(req)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
