"""Audio files in the formats of the chat audio models: 16-bit mono PCM in, the requested file out, and back.

wav and pcm16 with the standard library (`wave`); mp3, flac, opus (Ogg) and aac (ADTS) with PyAV, FFmpeg's Python
binding, whose wheels carry the LAME, libopus, FLAC and AAC encoders (config/audio.yaml `encoders`). Reading an
`input_audio` part (base64 wav or mp3, spec ChatCompletionRequestMessageContentPartAudio) measures its length.
"""

from __future__ import annotations

import io
import wave
from typing import cast

from . import speech

OUTPUT_FORMATS = ("wav", "aac", "mp3", "flac", "opus", "pcm16")  # spec ChatCompletionAudioParam.format
INPUT_FORMATS = ("wav", "mp3")  # spec ChatCompletionRequestMessageContentPartAudio.input_audio.format


class UndecodableAudio(ValueError):
    """The bytes are not a readable file of the format they claim."""


def encode(pcm: bytes, fmt: str) -> bytes:
    """`pcm` (little-endian 16-bit mono at the configured rate) as a file of `fmt`."""
    rate = speech.sample_rate()
    if fmt == "pcm16":
        return pcm  # raw samples, no header (TTS guide)
    if fmt == "wav":
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(pcm)
        return buffer.getvalue()
    encoder = speech.settings()["encoders"][fmt]
    return _encode_with_ffmpeg(pcm, rate, encoder["container"], encoder["codec"], encoder.get("bit_rate"),
                               {key: str(value) for key, value in (encoder.get("options") or {}).items()})


def _encode_with_ffmpeg(pcm: bytes, rate: int, container: str, codec: str, bit_rate: int | None,
                        options: dict[str, str]) -> bytes:
    import av  # imported on first use: a server that never speaks does not load FFmpeg

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        added = out.add_stream(codec, rate=rate, layout="mono", options=options)
        stream = cast("av.audio.stream.AudioStream", added)
        if bit_rate:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):  # the encoder re-frames and converts the samples as it needs
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def duration_seconds(data: bytes, fmt: str) -> float:
    """Length of an input file; UndecodableAudio when it is not a `fmt` file."""
    if fmt == "wav":
        try:
            with wave.open(io.BytesIO(data), "rb") as source:
                rate = source.getframerate()
                return source.getnframes() / rate if rate else 0.0
        except Exception as exc:  # noqa: BLE001 -- a hostile header trips wave many ways (wave.Error, EOFError...)
            raise UndecodableAudio(str(exc)) from None
    return _ffmpeg_duration(data, fmt)


def _ffmpeg_duration(data: bytes, fmt: str) -> float:
    import av

    try:
        with av.open(io.BytesIO(data), "r", format=fmt) as source:
            stream = next(iter(source.streams.audio), None)
            if stream is None:
                raise UndecodableAudio("no audio stream")
            samples = sum(frame.samples for frame in source.decode(stream))
            rate = stream.rate or 0
    except UndecodableAudio:
        raise
    except Exception as exc:  # noqa: BLE001 -- FFmpeg's errors, and PyAV's own on bad metadata (UnicodeDecodeError)
        raise UndecodableAudio(str(exc)) from None
    if not samples or not rate:
        raise UndecodableAudio("no audio frames")
    return samples / rate
