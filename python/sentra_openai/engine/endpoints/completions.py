"""POST /v1/completions (legacy): validation, generation, usage, cost, and the response or its paced stream.

Wire shapes: shared/reference/openai-wire.md §5.1 and the captures completion-*.json. Non-streaming key order is
id, object, created, model, choices, usage; stream chunks are id, object, created, choices, model[, usage] with no
obfuscation, the finish_reason rides on the last text chunk, and the content type has no charset. `model` echoes the
catalog snapshot (babbage-002 -> babbage:2023-07-21-v2), also in an `openai-model` header.
"""

from __future__ import annotations

import codecs
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from ... import _native
from .. import errors, respond
from ..content import textgen, tokensplit
from ..content.float32 import shortest_one
from ..content.lexicon import lexicon
from ..core import Call, Engine
from ..errors import ApiError
from ..model_resolution import model_name, resolve_model_of_kind
from ..realism import midstream, token_charge
from ..realism.faults import Fault
from ..realism.latency import Timing, plan_timing
from ..realism.pacing import interleave
from ..types import Outcome, Piece, StreamPlan
from ..validation import Fields, parse_json_object

KNOWN_FIELDS = frozenset({
    "model", "prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "logprobs",
    "echo", "stop", "presence_penalty", "frequency_penalty", "best_of", "logit_bias", "user", "seed",
})
DEFAULT_MAX_TOKENS = 16  # CreateCompletionRequest.max_tokens default (openapi.yaml; openai-wire.md §5.1)
# The live endpoint accepts `logprobs` above the documented 5 and silently caps it at 20 (a third-party probe of
# gpt-3.5-turbo-instruct, 2026-08, found by exact-string search; the spec still says maximum 5).
LOGPROBS_CAP = 20
DOCUMENT_START = "<|endoftext|>"  # what the model sees without a prompt (CreateCompletionRequest.prompt default)
EVENT_STREAM = "text/event-stream"  # legacy completions streams carry no charset (capture completion-streaming)
SUCCESS_HEADERS = {"access-control-allow-origin": "*", "cache-control": "no-cache, must-revalidate"}  # captures

# Plausible runner-up tokens for `top_logprobs` (the sampled token is always listed too).
@dataclass(frozen=True)
class Prompt:
    text: str  # the prompt as text (token arrays decoded), what `echo` prepends
    ids: tuple[int, ...] | None  # the tokens when the prompt was given as tokens


@dataclass
class CompletionRequest:
    prompts: list[Prompt]
    suffix: str | None
    max_tokens: int
    n: int
    best_of: int
    echo: bool
    logprobs: int | None
    stop: list[str]
    seed: int | None
    stream: bool
    include_usage: bool


@dataclass(frozen=True)
class Candidate:
    text: str  # the generated text only (no echo)
    finish_reason: str
    score: float  # mean log probability per token, what best_of ranks by
    tokens: int  # completion tokens of `text`


@dataclass
class Entry:
    """One token of a choice's `logprobs`."""

    token: str
    logprob: float | None
    top: dict[str, float] | None
    offset: int


@dataclass
class Choice:
    index: int
    prompt: Prompt
    candidate: Candidate
    pieces: list[tuple[str, int]] = field(default_factory=list)  # streamed text pieces and their token counts
    echo_entries: list[Entry] = field(default_factory=list)
    entries: list[Entry] | None = None  # completion tokens' logprobs, when requested


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/completions", "completions", handle)


def handle(call: Call) -> Outcome:
    services = call.services
    body = parse_json_object(call.request.body)
    model = resolve_model_of_kind(call, model_name(body), "completion")
    encoding = services.tokens.encoding(model.encoding)
    try:
        req = parse_request(body, model, encoding)
        counts = _count_prompt_tokens(services.tokens, model, req)
    except ApiError:
        # OpenAI's limiter runs before validation: a 400 still costs a request and carries the x-ratelimit-* headers
        # (capture completion-bad-request).
        respond.admit(call, model, 0, lambda: token_charge.completion(body))
        raise
    prompt_tokens = counts.total
    per_prompt = max(req.n, req.best_of)
    requested = prompt_tokens + req.max_tokens * per_prompt * len(req.prompts)
    respond.admit(call, model, requested, lambda: token_charge.completion(body))
    fault = call.check_fault(model.id, req.stream)

    choices: list[Choice] = []
    completion_tokens = 0
    longest = 0
    for prompt_index, prompt in enumerate(req.prompts):
        candidates = []
        for k in range(req.best_of):
            # The text the model would write depends on the prompt, suffix, seed and candidate number; max_tokens
            # and stop only cut it, so they key the (cached) result but not the RNG.
            seed_key = call.content_key("completion", model.id, prompt.text, prompt.ids, req.suffix, req.seed, k)
            cache_key = call.content_key("completion-cut", seed_key, req.max_tokens, req.stop)
            candidate = call.generated(
                cache_key, lambda _, key=seed_key, text=prompt.text: _candidate(key, model.id, encoding, text, req,
                                                                              services.fixtures)
            )
            tokens = candidate.tokens
            completion_tokens += tokens  # every best_of candidate is generated, and billed
            longest = max(longest, tokens)
            candidates.append(candidate)
        # best_of returns the n candidates with the highest mean logprob, best first (ties keep generation order)
        ranked = sorted(candidates, key=lambda c: -c.score) if req.best_of > req.n else candidates
        for k, candidate in enumerate(ranked[: req.n]):
            choice = Choice(prompt_index * req.n + k, prompt, candidate)
            _fill_tokens(choice, req, encoding, call)
            choices.append(choice)

    respond.charge_tokens(call, model, prompt_tokens, 0, completion_tokens)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    timing = plan_timing(call.rng, model.latency, prompt_tokens=prompt_tokens, output_tokens=max(longest, 1),
                         time_scale=call.time_scale)
    completion_id = call.new_id("cmpl-", 29)
    created = int(call.wall_started)
    echoed = services.catalog.echo_model(model.id) or model.snapshot
    if req.stream:
        return _stream(call, req, completion_id, created, echoed, choices, usage, timing, fault)
    payload = {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": echoed,
        "choices": [_choice_payload(c, req) for c in choices],
        "usage": usage,
    }
    return respond.json_outcome(payload, headers={**SUCCESS_HEADERS, "openai-model": echoed}, delay=timing.total)


# ---- request ------------------------------------------------------------------------------------------------------


def parse_request(body: dict[str, Any], model, encoding) -> CompletionRequest:
    f = Fields(body)
    f.reject_unknown(KNOWN_FIELDS)
    # Order of checks: the capture completion-bad-request reports max_tokens before temperature and the prompt.
    max_tokens = f.integer("max_tokens", DEFAULT_MAX_TOKENS, minimum=0)
    n = f.integer("n", 1, minimum=1, maximum=128)
    best_of = f.integer("best_of", minimum=0, maximum=20)
    logprobs = f.integer("logprobs", minimum=0)
    f.number("temperature", minimum=0, maximum=2)
    f.number("top_p", minimum=0, maximum=1)
    f.number("frequency_penalty", minimum=-2, maximum=2)
    f.number("presence_penalty", minimum=-2, maximum=2)
    seed = f.integer("seed")
    echo = bool(f.boolean("echo", False))
    stop = f.string_or_array("stop", max_items=4) or []
    suffix = f.string("suffix")
    f.string("user")
    f.obj("logit_bias")
    stream = bool(f.boolean("stream", False))
    stream_options = f.obj("stream_options")
    if stream_options is not None and not stream:
        raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options")
    include_usage = bool(Fields(stream_options or {}, "stream_options").boolean("include_usage", False))
    prompts = _parse_prompt(body.get("prompt"), encoding)

    assert n is not None and max_tokens is not None
    if best_of is not None and best_of < n:  # wording unconfirmed (the spec: "best_of must be greater than n")
        raise ApiError(400, "best_of must be greater than or equal to n.", param="best_of")
    if stream and best_of is not None and best_of > 1:  # wording unconfirmed (the spec: "Results cannot be streamed")
        raise ApiError(400, "best_of > 1 is not supported when streaming.", param="best_of")
    if echo and logprobs is not None and not model.has("echo_logprobs"):
        # Live API, 2026-08 (third-party probe of gpt-3.5-turbo-instruct): the old prompt-scoring trick is refused.
        raise ApiError(400, "Setting 'echo' and 'logprobs' at the same time is not supported for this model.")
    if suffix is not None and not model.has("suffix"):
        raise errors.unsupported_parameter("suffix")  # wording follows OpenAI's current unsupported-parameter form
    return CompletionRequest(
        prompts=prompts,
        suffix=suffix,
        max_tokens=max_tokens,
        n=n,
        best_of=max(best_of or n, n),
        echo=echo,
        logprobs=min(logprobs, LOGPROBS_CAP) if logprobs is not None else None,
        stop=stop,
        seed=seed,
        stream=stream,
        include_usage=include_usage,
    )


def _parse_prompt(value: Any, encoding) -> list[Prompt]:
    """A string, strings, a token array or token arrays (CreateCompletionRequest.prompt)."""
    if value is None:
        return [Prompt(DOCUMENT_START, None)]
    if isinstance(value, str):
        return [Prompt(value, None)]
    if isinstance(value, list):
        if not value:
            raise errors.empty_array("prompt")
        if all(isinstance(item, str) for item in value):
            return [Prompt(item, None) for item in value]
        if all(_is_token(item) for item in value):
            return [_token_prompt(value, encoding)]
        if all(isinstance(item, list) and item and all(_is_token(t) for t in item) for item in value):
            return [_token_prompt(item, encoding) for item in value]
    # Wording unconfirmed; the four accepted shapes are those of the spec.
    raise ApiError(
        400,
        "Invalid type for 'prompt': expected a string, an array of strings, an array of tokens, or an array of "
        "token arrays.",
        param="prompt",
        code="invalid_type",
    )


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _token_prompt(ids: list[int], encoding) -> Prompt:
    highest = encoding.eot_token
    for token in ids:
        if not 0 <= token <= highest:
            # A third-party test double of this error (respx mock of /v1/completions), param and code null.
            raise errors.invalid_token(token, highest)
    return Prompt(b"".join(_token_bytes(encoding, t) for t in ids).decode("utf-8", errors="replace"), tuple(ids))


def _count_prompt_tokens(counter, model, req: CompletionRequest):
    """usage.prompt_tokens of the request; raises the legacy context-length 400 for a prompt that cannot fit."""
    counts = counter.completion_prompt_tokens(model, _prompt_value(req), req.suffix)
    suffix_tokens = counter.text_tokens(model, req.suffix) if req.suffix else 0
    for tokens_of_prompt in counts.per_input:
        in_prompt = tokens_of_prompt + suffix_tokens  # each prompt is completed with the suffix as context
        if in_prompt + req.max_tokens > model.context_window:
            raise errors.legacy_context_exceeded(model.context_window, in_prompt, req.max_tokens)
    return counts


def _prompt_value(req: CompletionRequest) -> list[Any]:
    return [list(p.ids) if p.ids is not None else p.text for p in req.prompts]


# ---- generation ---------------------------------------------------------------------------------------------------


def _candidate(seed_key: str, model_id: str, encoding, prompt: str, req: CompletionRequest, fixtures) -> Candidate:
    rng = random.Random(seed_key)
    fixture = fixtures.match(model_id, prompt, rng.random())
    return generate_candidate(rng, encoding, prompt, req.max_tokens, req.stop, fixture)


def generate_candidate(rng: random.Random, encoding, prompt: str, max_tokens: int, stop: list[str], fixture) -> Candidate:
    """A continuation of `prompt`: natural-length text cut by `stop` ("stop") or at `max_tokens` ("length")."""
    if max_tokens == 0:
        return Candidate("", "length", _mean_logprob(rng), 0)
    if fixture is not None and fixture.content is not None:
        natural = fixture.content
    else:
        # One token of lookahead is enough to tell "ended naturally" from "cut at the limit".
        natural = textgen.generate_answer(rng, max_tokens + 1, encoding, prompt).text
    text, _ = textgen.apply_stop(_lead_in(prompt) + natural, stop)
    finish = "stop"
    count = len(encoding.encode_ordinary(text))
    if count > max_tokens:
        text = textgen.truncate_to_tokens(encoding, text, max_tokens)
        finish = "length"
        count = len(encoding.encode_ordinary(text))
    return Candidate(text, finish, _mean_logprob(rng), count)


def _mean_logprob(rng: random.Random) -> float:
    """A candidate's best_of score, drawn last so that it never shifts the text's draws."""
    return -rng.uniform(0.2, 2.5)


def _lead_in(prompt: str) -> str:
    """How a continuation starts: right after a trailing space, a newline or the document start, on a new paragraph
    after a finished sentence or an instruction, and after a space in the middle of a line."""
    if not prompt or prompt[-1].isspace() or prompt.endswith(DOCUMENT_START):
        return ""
    if prompt[-1] in ".?!:":
        return "\n\n"
    return " "


def _fill_tokens(choice: Choice, req: CompletionRequest, encoding, call: Call) -> None:
    """Streamed pieces of the completion and, when asked for, the logprobs of its (and the echoed prompt's) tokens."""
    text = choice.candidate.text
    choice.pieces = tokensplit.token_pieces(encoding, text) if text else []
    if req.logprobs is None:
        return
    rng = random.Random(call.content_key("completion-logprobs", choice.prompt.text, choice.prompt.ids, text,
                                         req.logprobs))
    if req.echo:
        prompt_ids = list(choice.prompt.ids) if choice.prompt.ids is not None else encoding.encode(
            choice.prompt.text, allowed_special={DOCUMENT_START}, disallowed_special=())
        choice.echo_entries = _entries(encoding, prompt_ids, 0, req.logprobs, rng, first_unscored=True)
    # Offsets count from the start of the prompt, whether or not it is echoed.
    offset = len(choice.prompt.text)
    choice.entries = _entries(encoding, encoding.encode_ordinary(text), offset, req.logprobs, rng)


def _entries(encoding, ids: list[int], start: int, top: int, rng: random.Random, first_unscored: bool = False) -> list[Entry]:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    offset = start
    out: list[Entry] = []
    for position, token_id in enumerate(ids):
        raw = _token_bytes(encoding, token_id)
        token = _token_text(raw)
        if first_unscored and position == 0:
            # Nothing precedes the first prompt token, so the model gives it no probability (legacy echo output).
            out.append(Entry(token, None, None, offset))
        else:
            logprob = shortest_one(-rng.expovariate(6.0))
            alternatives = {token: logprob}  # the sampled token is always listed ("up to logprobs+1" entries)
            runners_up = [word for word in lexicon()["logprob_runners_up"] if word != token]
            floor = logprob
            for word in rng.sample(runners_up, max(top - 1, 0)):
                floor = shortest_one(floor - rng.uniform(0.3, 2.5))
                alternatives[word] = floor
            out.append(Entry(token, logprob, alternatives, offset))
        offset += len(decoder.decode(raw))
    return out


def _token_bytes(encoding, token_id: int) -> bytes:
    try:
        return encoding.decode_single_token_bytes(token_id)
    except KeyError:  # an id inside the valid range that the vocabulary leaves unused
        return b""


def _token_text(raw: bytes) -> str:
    """A token as the legacy API lists it: its text, or `bytes:\\xNN...` when it is part of a character."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in raw)


# ---- response -----------------------------------------------------------------------------------------------------


def _logprobs_object(entries: list[Entry]) -> dict[str, Any]:
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [e.logprob for e in entries],
        "top_logprobs": [e.top for e in entries],
        "text_offset": [e.offset for e in entries],
    }


def _choice_payload(choice: Choice, req: CompletionRequest) -> dict[str, Any]:
    text = (choice.prompt.text if req.echo else "") + choice.candidate.text
    logprobs = None
    if choice.entries is not None:
        logprobs = _logprobs_object(choice.echo_entries + choice.entries)
    return _chunk_choice(text, choice.index, logprobs, choice.candidate.finish_reason)


class _ChunkWriter:
    """text_completion chunks in the order the real stream uses: id, object, created, choices, model[, usage]."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        start = '{"id":' + orjson.dumps(completion_id).decode() + ',"object":"text_completion","created":' + str(created)
        model_field = ',"model":' + orjson.dumps(model).decode()
        self.head = start + ',"choices":'
        self.tail = model_field + (',"usage":null' if include_usage else "")
        self.usage_head = start + model_field + ',"usage":'
        self._templates: dict[int, Any] = {}

    def event(self, choices: list[dict[str, Any]]) -> bytes:
        return _native.frame((self.head + orjson.dumps(choices).decode() + self.tail + "}").encode())

    def usage_event(self, usage: dict[str, Any]) -> bytes:
        return _native.frame((self.usage_head + orjson.dumps(usage).decode() + ',"choices":[]}').encode())

    def text_frame(self, index: int):
        """A framer for one choice's plain text chunks (no logprobs, no finish_reason)."""
        template = self._templates.get(index)
        if template is None:
            template = _native.ChunkTemplate(
                self.head + '[{"text":', ',"index":' + str(index) + ',"logprobs":null,"finish_reason":null}]' + self.tail
            )
            self._templates[index] = template
        return template.frame_text


def _stream(call: Call, req: CompletionRequest, completion_id: str, created: int, model: str, choices: list[Choice],
            usage: dict[str, Any], timing: Timing, fault: Fault | None) -> Outcome:
    writer = _ChunkWriter(completion_id, created, model, req.include_usage)
    pieces = interleave([_choice_pieces(writer, req, c) for c in choices], (timing.ttft,) + timing.token_times)
    end = timing.total
    if req.include_usage:
        pieces.append(Piece(end, raw=writer.usage_event(usage)))
    pieces.append(Piece(end, raw=_native.DONE))
    plan = StreamPlan(pieces, paced=call.time_scale > 0)
    if fault is not None and fault.at_chunk is not None:
        midstream.strike(call, plan, fault)
    headers = {"content-type": EVENT_STREAM, **SUCCESS_HEADERS, "openai-model": model}
    return Outcome(200, headers, stream=plan)


def _choice_pieces(writer: _ChunkWriter, req: CompletionRequest, choice: Choice) -> list[Piece]:
    """The choice's events: the echoed prompt, one per token-sized text piece; the last carries the finish_reason."""
    pieces: list[Piece] = []
    if req.echo:
        logprobs = _logprobs_object(choice.echo_entries) if choice.entries is not None else None
        pieces.append(Piece(0.0, raw=writer.event([_chunk_choice(choice.prompt.text, choice.index, logprobs, None)])))
    grouped = _group_entries(choice)
    texts = choice.pieces or [("", 0)]
    plain = writer.text_frame(choice.index)
    for position, (text, _) in enumerate(texts):
        last = position == len(texts) - 1
        logprobs = _logprobs_object(grouped[position]) if grouped is not None else None
        if last or logprobs is not None:
            finish = choice.candidate.finish_reason if last else None
            pieces.append(Piece(0.0, raw=writer.event([_chunk_choice(text, choice.index, logprobs, finish)])))
        else:
            pieces.append(Piece(0.0, text=text, frame=plain))
    return pieces


def _chunk_choice(text: str, index: int, logprobs: dict[str, Any] | None, finish: str | None) -> dict[str, Any]:
    return {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}


def _group_entries(choice: Choice) -> list[list[Entry]] | None:
    """The completion's logprob entries split along the streamed pieces (a piece may span several tokens)."""
    if choice.entries is None:
        return None
    groups: list[list[Entry]] = []
    cursor = 0
    for _, count in choice.pieces or [("", 0)]:
        groups.append(choice.entries[cursor:cursor + count])
        cursor += count
    if cursor < len(choice.entries) and groups:
        groups[-1].extend(choice.entries[cursor:])
    return groups
