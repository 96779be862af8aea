"""Spoken answers on Chat Completions: `modalities: ["text", "audio"]` with `audio: {voice, format}`.

An audio answer carries `message.audio` {id, expires_at, data, transcript} and `content: null` (spec
ChatCompletionResponseMessage.audio); its audio tokens count in completion_tokens and are billed at the model's
audio-token price (config/models.yaml `audio_token_prices`), as are the `input_audio` parts of the prompt.
The stream sends `delta.audio` pieces: the transcript, then the pcm16 data, then `expires_at` (openai-node #1206,
a 2024-10-01 capture: transcript-only deltas, a data delta carrying role/content/refusal and the id, data-only
deltas; openai-openapi #577 and openai-node #1991: a terminal delta holding only `expires_at`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .... import costing
from ... import errors, respond
from ...content import audio_codec, speech, textgen, tokensplit
from ...errors import ApiError
from ...types import Piece


@dataclass(frozen=True)
class SpokenAnswer:
    """What a choice says aloud; the sound is made from it on demand (it is too big to keep in the content cache)."""

    transcript: str
    voice: Any
    fmt: str
    seed: int
    tokens: int  # audio tokens
    samples: int


def wanted(body: dict[str, Any]) -> dict[str, Any] | None:
    """The `audio` parameter when the request asks for spoken output, else None (checked by field_rules before)."""
    modalities = body.get("modalities")
    audio = body.get("audio")
    if isinstance(modalities, list) and "audio" in modalities and isinstance(audio, dict):
        return audio
    return None


def speak_choice(choice, audio: dict[str, Any], encoding, rng: random.Random, budget: int) -> None:
    """Turns a text choice into a spoken one, in place: the text becomes the transcript, content goes null, and the
    audio tokens join completion_tokens; a transcript whose speech would pass `budget` tokens is cut ("length")."""
    text = choice.content or ""
    reasoning = choice.reasoning_tokens
    text_tokens = choice.completion_tokens - reasoning
    room = max(budget, 1)
    tokens = speech.output_tokens(speech.spoken_seconds(text))
    if text_tokens + tokens > room:
        # The longest prefix whose words and their sound fit (the sound grows with the words: a bisection).
        low, high = 0, text_tokens
        while low < high:
            middle = (low + high + 1) // 2
            prefix = textgen.truncate_to_tokens(encoding, text, middle)
            if middle + speech.output_tokens(speech.spoken_seconds(prefix)) <= room:
                low = middle
            else:
                high = middle - 1
        text = textgen.truncate_to_tokens(encoding, text, low)
        text_tokens = len(encoding.encode(text, disallowed_special=()))
        tokens = speech.output_tokens(speech.spoken_seconds(text))
        choice.finish_reason = "length"
    samples = speech.sample_count(text)
    if text_tokens + tokens > room:  # not even the shortest sound fits: the sound itself is cut
        tokens = max(room - text_tokens, 1)
        samples = min(samples, tokens * speech.sample_rate() // speech.settings()["output_tokens_per_second"])
    choice.audio = SpokenAnswer(text, audio.get("voice"), audio.get("format") or "wav", rng.getrandbits(64), tokens,
                                samples)
    choice.content = None
    choice.pieces = tokensplit.split_on_tokens(encoding, text) if text else []
    choice.logprobs = None
    choice.completion_tokens = text_tokens + tokens + reasoning


def speak(call, choices, created: int) -> list[dict[str, Any] | None]:
    """`message.audio` of each choice (None for a choice that did not speak), with a fresh id per response."""
    expires = created + int(speech.settings()["expires_after_seconds"])
    spoken: list[dict[str, Any] | None] = []
    for choice in choices:
        answer = getattr(choice, "audio", None)
        if answer is None:
            spoken.append(None)
            continue
        data = _sound(answer.transcript, speech.voice_pitch(answer.voice), answer.fmt, answer.seed, answer.samples)
        # The capture's id starts with the response's creation time in hex (audio_672960c3... for 1730764995).
        audio_id = f"audio_{created:08x}{call.id_rng.getrandbits(96):024x}"
        spoken.append({"id": audio_id, "expires_at": expires, "data": data, "transcript": answer.transcript})
    return spoken


@lru_cache(maxsize=16)
def _sound(transcript: str, pitch: float, fmt: str, seed: int, samples: int) -> str:
    """The base64 file of a spoken answer: a load test repeats its requests, and encoding costs milliseconds."""
    pcm = speech.synthesize(transcript, pitch, seed)[: 2 * samples]
    return base64.b64encode(audio_codec.encode(pcm, fmt)).decode()


def attach(payload_choices: list[dict[str, Any]], spoken: list[dict[str, Any] | None]) -> None:
    for body, audio in zip(payload_choices, spoken):
        if audio is not None:
            body["message"]["audio"] = audio


def stream_pieces(writer, choice, audio: dict[str, Any], times: tuple[float, ...]) -> list[Piece]:
    """A spoken choice's deltas, each due when the token it ends with is generated: the transcript's tokens come
    first, then the audio tokens, whose pcm16 data goes out in stream_chunk_seconds pieces."""
    index = choice.index
    last = len(times) - 1

    def event(delta: dict[str, Any], due: float) -> Piece:
        return Piece(due, raw=writer.event([{"index": index, "delta": delta, "finish_reason": None}]))

    pieces: list[Piece] = []
    transcript = choice.pieces or [""]
    head = {"role": "assistant", "content": None, "refusal": None,
            "audio": {"id": audio["id"], "transcript": transcript[0]}}
    pieces.append(event(head, times[0]))
    for step, text in enumerate(transcript[1:], start=1):
        pieces.append(event({"audio": {"transcript": text}}, times[min(step, last)]))
    conf = speech.settings()
    # Whole multiples of 3 bytes: the base64 of the pieces, joined, is the base64 of the whole sound.
    chunk_bytes = round(conf["stream_chunk_seconds"] * speech.sample_rate()) * 2 // 6 * 6 or 6
    chunk_chars = chunk_bytes // 3 * 4
    data = audio["data"]
    slices = [data[i:i + chunk_chars] for i in range(0, len(data), chunk_chars)] or [""]
    per_slice = choice.audio.tokens / len(slices)
    for k, text in enumerate(slices):
        due = times[min(len(transcript) + round((k + 1) * per_slice) - 1, last)]
        delta: dict[str, Any] = {"audio": {"data": text}}
        if k == 0:  # the capture's first data delta repeats the role and carries the id
            delta = {"role": "assistant", "content": None, "refusal": None, "audio": {"id": audio["id"], "data": text}}
        pieces.append(event(delta, due))
    pieces.append(event({"audio": {"expires_at": audio["expires_at"]}}, times[last]))
    return pieces


# ---- the prompt's audio -------------------------------------------------------------------------------------------


def input_parts(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(param path, part) of every `input_audio` content part of the messages."""
    found = []
    for m, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for p, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "input_audio":
                    found.append((f"messages[{m}].content[{p}]", part))
    return found


def prompt_seconds(body: dict[str, Any]) -> float:
    """Total length of the prompt's `input_audio` parts; OpenAI's 400 for a part that is not a wav or mp3 file."""
    total = 0.0
    for path, part in input_parts(body):
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise ApiError(400, f"Missing required parameter: '{path}.input_audio'.", param=f"{path}.input_audio",
                           code="missing_required_parameter")
        data, fmt = audio.get("data"), audio.get("format")
        if not isinstance(data, str):
            raise ApiError(400, f"Missing required parameter: '{path}.input_audio.data'.",
                           param=f"{path}.input_audio.data", code="missing_required_parameter")
        if fmt is None:
            raise ApiError(400, f"Missing required parameter: '{path}.input_audio.format'.",
                           param=f"{path}.input_audio.format", code="missing_required_parameter")
        if fmt not in audio_codec.INPUT_FORMATS:
            raise errors.invalid_value(f"{path}.input_audio.format", fmt, list(audio_codec.INPUT_FORMATS))
        seconds = _seconds_of(data, fmt)
        if seconds is None:
            # Wording assumed: no capture of this refusal.
            raise ApiError(400, f"The audio in '{path}.input_audio.data' could not be decoded as {fmt}.",
                           param=f"{path}.input_audio.data", code="invalid_value")
        total += seconds
    return total


_MEASURED: dict[tuple[bytes, str], float | None] = {}  # digest of a part's data -> its length (not the data: MBs)
_MEASURED_SIZE = 256


def _seconds_of(data: str, fmt: str) -> float | None:
    """The part's length in seconds, None when it is not base64 of a `fmt` file; an agent resends the same audio
    every turn, so lengths are remembered by digest (field_rules checks a part, the pipeline counts it)."""
    key = (hashlib.blake2b(data.encode(), digest_size=16).digest(), fmt)
    if key in _MEASURED:
        return _MEASURED[key]
    try:
        seconds: float | None = audio_codec.duration_seconds(base64.b64decode(data, validate=True), fmt)
    except (binascii.Error, ValueError):
        seconds = None
    _MEASURED[key] = seconds
    if len(_MEASURED) > _MEASURED_SIZE:
        _MEASURED.pop(next(iter(_MEASURED)))
    return seconds


# ---- usage and cost -----------------------------------------------------------------------------------------------


def add_usage_details(usage: dict[str, Any], prompt_audio: int, completion_audio: int) -> None:
    """The audio models report text and audio tokens apart (openai-wire.md §4.1: text_tokens, image_tokens)."""
    prompt_details = usage["prompt_tokens_details"]
    prompt_details["audio_tokens"] = prompt_audio
    prompt_details["text_tokens"] = usage["prompt_tokens"] - prompt_audio
    prompt_details["image_tokens"] = 0
    completion_details = usage["completion_tokens_details"]
    completion_details["audio_tokens"] = completion_audio
    reasoning = completion_details["reasoning_tokens"]
    completion_details["text_tokens"] = usage["completion_tokens"] - completion_audio - reasoning


def bill_audio(call, model, prompt_tokens: int, cached: int, completion_tokens: int, prompt_audio: int,
               completion_audio: int) -> None:
    """Re-prices a request that heard or spoke: text tokens at the text prices, audio tokens at the audio-token
    prices (cached input is text). The audio models have no service-tier prices (assumed), so the model's own."""
    prices = model.audio_token_prices
    if prices is None or not (prompt_audio or completion_audio):
        return
    text_prompt = prompt_tokens - prompt_audio
    text = costing.cost_picodollars(text_prompt, min(cached, text_prompt), completion_tokens - completion_audio,
                                    respond.text_prices(model))
    sound = costing.cost_picodollars(prompt_audio, 0, completion_audio,
                                     costing.Prices.of(prices.input_micros, None, prices.output_micros))
    call.record.cost_picodollars = text + sound
    call.record.cost_usd = costing.format_usd(text + sound)


def prompt_audio_tokens(body: dict[str, Any]) -> int:
    """Audio tokens of the prompt's `input_audio` parts (input_tokens_per_second of their length)."""
    return speech.input_tokens(prompt_seconds(body)) if input_parts(body) else 0


def audio_tokens_of(choices) -> int:
    return sum(c.audio.tokens for c in choices if getattr(c, "audio", None) is not None)
