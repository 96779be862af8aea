"""Native SSE framing: what a standard SSE parser (ours, written from the WHATWG spec, and the openai SDK's)
reads back is exactly the chunk object with the given text, byte-identical to orjson's serialization."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder
from sentra_openai import _native

# A content chunk in OpenAI's key order (shared/reference/openai-wire.md §4.3), with and without the
# `"usage": null` that `stream_options.include_usage` adds to every chunk.
BASE_CHUNK = {
    "id": "chatcmpl-C4HqHBe4xca0k0EzsCnf1t6V3YFXp",
    "object": "chat.completion.chunk",
    "created": 1755137933,
    "model": "gpt-5-nano-2025-08-07",
    "service_tier": "default",
    "system_fingerprint": None,
    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": None}],
}
CHUNK_SHAPES = [BASE_CHUNK, {**BASE_CHUNK, "usage": None}]
MARKER = "\x00sentra-text\x00"

# Unicode text without lone surrogates (a Python str can hold them, JSON text cannot), biased towards the
# characters that need escaping or that SSE/JSON parsers treat specially.
TRICKY = st.sampled_from(
    ['"', "\\", "\n", "\r", "\r\n", "\t", "\x00", "\x1f", "\x7f", "\u2028", "\x85", ":", "data: ", "😀", "é"]
)
TEXT = st.lists(st.one_of(st.text(max_size=8), TRICKY), max_size=8).map("".join)
# Real obfuscation is base62 padding, but any string must round-trip.
BASE62 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
OBFUSCATION = st.none() | st.text(alphabet=BASE62, max_size=15) | TEXT


def chunk_with(shape: dict, text: str, obfuscation: str | None) -> dict:
    chunk = orjson.loads(orjson.dumps(shape))
    chunk["choices"][0]["delta"]["content"] = text
    if obfuscation is not None:
        chunk["obfuscation"] = obfuscation
    return chunk


def template_for(shape: dict) -> _native.ChunkTemplate:
    return _native.ChunkTemplate.from_chunk_json(orjson.dumps(chunk_with(shape, MARKER, None)).decode(), MARKER)


def parse_sse(stream: bytes) -> list[tuple[str | None, str]]:
    """(event type, data) per event, following the WHATWG event-stream interpretation rules."""
    lines = re.split(r"\r\n|\r|\n", stream.decode("utf-8"))
    events: list[tuple[str | None, str]] = []
    data: list[str] = []
    event_type: str | None = None
    for line in lines[:-1]:  # the part after the last line break is not a complete line
        if line == "":
            if data:
                events.append((event_type, "\n".join(data)))
            data, event_type = [], None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
    return events


def sdk_events(stream: bytes, piece: int = 7) -> list[str]:
    """Data of the events the openai SDK decodes, fed in small pieces as a network would deliver them."""
    pieces = [stream[i : i + piece] for i in range(0, len(stream), piece)]
    return [event.data for event in SSEDecoder().iter_bytes(iter(pieces))]


@settings(max_examples=500, deadline=None)
@given(TEXT)
def test_json_string_escapes_exactly_like_orjson(text: str) -> None:
    assert _native.json_string(text) == orjson.dumps(text).decode()


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(CHUNK_SHAPES), TEXT, OBFUSCATION)
def test_framed_chunk_parses_back_to_the_chunk_with_that_text(shape: dict, text: str, obfuscation: str | None) -> None:
    expected = chunk_with(shape, text, obfuscation)
    event = template_for(shape).frame_text(text, obfuscation)

    # Byte-identical to serializing the whole chunk with orjson, so native and Python paths can be mixed.
    assert event == b"data: " + orjson.dumps(expected) + b"\n\n"

    parsed = parse_sse(event)
    assert [event_type for event_type, _ in parsed] == [None]
    chunk = orjson.loads(parsed[0][1])
    assert chunk == expected
    assert list(chunk) == list(expected)  # key order, with obfuscation last
    assert chunk["choices"][0]["delta"]["content"] == text

    assert [orjson.loads(data) for data in sdk_events(event)] == [expected]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(CHUNK_SHAPES), st.lists(TEXT, max_size=12), st.booleans(), st.data())
def test_batch_framing_equals_one_by_one(
    shape: dict, texts: list[str], with_obfuscation: bool, data: st.DataObject
) -> None:
    template = template_for(shape)
    if with_obfuscation:
        paddings = data.draw(st.lists(TEXT, min_size=len(texts), max_size=len(texts)))
        batch = template.frame_texts(texts, paddings)
        assert batch == [template.frame_text(t, p) for t, p in zip(texts, paddings)]
    else:
        batch = template.frame_texts(texts)
        assert batch == [template.frame_text(t) for t in texts]

    # A whole stream: the SDK yields every chunk in order and stops at [DONE].
    stream = b"".join(batch) + _native.DONE
    datas = sdk_events(stream)
    assert datas[-1] == "[DONE]"
    assert [orjson.loads(d)["choices"][0]["delta"]["content"] for d in datas[:-1]] == texts
    assert [d for _, d in parse_sse(stream)] == datas


def test_template_parts_are_the_chunk_around_the_text() -> None:
    template = template_for(BASE_CHUNK)
    assert template.head.endswith('"delta":{"content":')
    assert template.tail == '},"finish_reason":null}]'
    assert _native.ChunkTemplate(template.head, template.tail).frame_text("x") == template.frame_text("x")
    assert orjson.loads(template.chunk("hi", "Zz")) == chunk_with(BASE_CHUNK, "hi", "Zz")


def test_done_and_plain_frame_are_single_sse_events() -> None:
    assert parse_sse(_native.DONE) == [(None, "[DONE]")]
    error = {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}
    framed = _native.frame(orjson.dumps(error))
    assert [orjson.loads(d) for d in sdk_events(framed)] == [error]
    assert [orjson.loads(d) for _, d in parse_sse(framed)] == [error]


def test_lone_surrogate_is_rejected_not_emitted() -> None:
    template = template_for(BASE_CHUNK)
    with pytest.raises(ValueError):
        template.frame_text("bad \ud800 text")
    with pytest.raises(ValueError):
        _native.json_string("\udfff")


def test_batch_with_mismatched_obfuscations_is_refused() -> None:
    with pytest.raises(ValueError, match="obfuscations has 1 items but texts has 2"):
        template_for(BASE_CHUNK).frame_texts(["a", "b"], ["x"])


@pytest.mark.parametrize(
    ("chunk_json", "marker", "message"),
    [
        ('{"a":"x"}', "y", "exactly once"),
        ('{"a":"x","b":"x"}', "x", "exactly once"),
        ('["x"]', "x", "object"),
    ],
)
def test_bad_template_source_is_refused(chunk_json: str, marker: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _native.ChunkTemplate.from_chunk_json(chunk_json, marker)
