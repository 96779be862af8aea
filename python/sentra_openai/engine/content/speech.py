"""The spoken form of a transcript: its length in seconds and in audio tokens, and its sound as 16-bit mono PCM.

The sound is a buzz per word (config/audio.yaml `voices`, `envelope`), built from cached single periods so that a
minute of speech costs a few byte joins, not a million float operations. A period of N samples plays at exactly
sample_rate / N Hz, so tiling it has no seams. Deterministic: the same transcript, voice and seed give the same bytes.
"""

from __future__ import annotations

import array
import math
import random
import sys
from functools import lru_cache
from typing import Any

import yaml

from ...config import config_dir

_SETTINGS_PATH = config_dir() / "audio.yaml"
_HARMONICS = ((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12))  # a voiced sound's overtones, falling off


@lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    """config/audio.yaml, read once per process."""
    with open(_SETTINGS_PATH, "rb") as handle:
        return yaml.safe_load(handle)


def sample_rate() -> int:
    return int(settings()["sample_rate"])


def spoken_seconds(transcript: str) -> float:
    """How long the voice takes to say `transcript` (words_per_second, at least min_seconds)."""
    conf = settings()
    return max(len(transcript.split()) / conf["words_per_second"], conf["min_seconds"])


def output_tokens(seconds: float) -> int:
    """Audio tokens of `seconds` of generated sound (output_tokens_per_second)."""
    return max(1, math.ceil(seconds * settings()["output_tokens_per_second"]))


def input_tokens(seconds: float) -> int:
    """Audio tokens of `seconds` of sound in the prompt (input_tokens_per_second)."""
    return max(1, math.ceil(seconds * settings()["input_tokens_per_second"])) if seconds > 0 else 0


def sample_count(transcript: str) -> int:
    return round(spoken_seconds(transcript) * sample_rate())


def voice_pitch(voice: Any) -> float:
    """A built-in voice's pitch (or a pitch in Hz); a custom voice object ({"id": ...}) gets custom_voice_pitch."""
    conf = settings()
    if isinstance(voice, (int, float)) and not isinstance(voice, bool):
        return float(voice)
    if isinstance(voice, str) and voice in conf["voices"]:
        return float(conf["voices"][voice])
    return float(conf["custom_voice_pitch"])


def synthesize(transcript: str, voice: Any, seed: int) -> bytes:
    """The transcript spoken by `voice` (a name, a custom voice object, or a pitch in Hz): little-endian 16-bit mono
    PCM at sample_rate, sample_count(transcript) samples."""
    conf = settings()
    rate = sample_rate()
    total = sample_count(transcript)
    words = transcript.split() or [""]
    rng = random.Random(seed)
    weights = [len(word) + 2 for word in words]  # a longer word takes longer to say
    scale = total / sum(weights)
    base_period = rate / voice_pitch(voice)
    pieces: list[bytes] = []
    used = 0
    for index, weight in enumerate(weights):
        slot = total - used if index == len(weights) - 1 else round(weight * scale)
        slot = max(0, min(slot, total - used))
        used += slot
        spread = 1.0 + rng.uniform(-conf["pitch_spread"], conf["pitch_spread"])
        period = max(8, round(base_period * spread))
        voiced = slot - round(slot * conf["pause_share"])
        pieces.append(_word(period, voiced))
        pieces.append(bytes(2 * (slot - voiced)))
    return b"".join(pieces)


def _word(period: int, samples: int) -> bytes:
    """`samples` samples of the buzz at `period`, loudness stepping through the envelope."""
    steps = settings()["envelope"]
    out: list[bytes] = []
    done = 0
    for index in range(len(steps)):
        length = (samples * (index + 1)) // len(steps) - done
        done += length
        cycle = _period_bytes(period, index)
        repeats = -(-length // period)
        out.append((cycle * repeats)[: 2 * length])
    return b"".join(out)


@lru_cache(maxsize=4096)
def _period_bytes(period: int, step: int) -> bytes:
    """One period of the buzz at envelope step `step`, as PCM bytes."""
    conf = settings()
    peak = conf["loudness"] * conf["envelope"][step] * 32767 / sum(weight for _, weight in _HARMONICS)
    samples = array.array("h", (
        round(peak * sum(weight * math.sin(2 * math.pi * harmonic * i / period) for harmonic, weight in _HARMONICS))
        for i in range(period)
    ))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()
