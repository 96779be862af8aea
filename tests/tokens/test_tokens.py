"""Prompt-token counting against published ground truth (cookbook, hmarr, real API captures, vision docs)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import CAPTURE_DIR, DATA
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai.catalog import Catalog
from sentra_openai.tokens import ENCODING_FILES, TokenCounter, image_dimensions, image_tokens

catalog = Catalog.default()
counter = TokenCounter()


def model(name: str):
    info = catalog.get(name)
    assert info is not None, name
    return info


# ------------------------------------------------------------------------------------------ cookbook §1.1

# openai-cookbook How_to_count_tokens_with_tiktoken.ipynb, "Counting tokens for chat completions API calls".
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_cookbook_messages_match_the_api_prompt_tokens(name: str, expected: int) -> None:
    assert counter.chat_prompt_tokens(model(name), COOKBOOK_MESSAGES).total == expected


# cookbook section 7: "How to count tokens for chat completions with tools"
COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("name", "expected"), [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)]
)
def test_cookbook_tools_match_the_api_prompt_tokens(name: str, expected: int) -> None:
    count = counter.chat_prompt_tokens(model(name), COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS)
    assert count.total == expected
    without_tools = counter.chat_prompt_tokens(model(name), COOKBOOK_TOOL_MESSAGES).total
    assert 0 < count.tool_tokens < count.total - without_tools + 2  # the pad "\n" may merge into ":\n"


def test_legacy_functions_and_tools_count_the_same() -> None:
    functions = [tool["function"] for tool in COOKBOOK_TOOLS]
    via_tools = counter.chat_prompt_tokens(model("gpt-4o"), COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS)
    via_functions = counter.chat_prompt_tokens(model("gpt-4o"), COOKBOOK_TOOL_MESSAGES, functions=functions)
    assert via_tools == via_functions


def test_forcing_a_tool_by_tool_choice_costs_the_same_as_by_function_call() -> None:
    gpt = model("gpt-3.5-turbo")
    functions = [tool["function"] for tool in COOKBOOK_TOOLS]
    forced_tool = counter.chat_prompt_tokens(
        gpt,
        COOKBOOK_TOOL_MESSAGES,
        tools=COOKBOOK_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_current_weather"}},
    )
    forced_function = counter.chat_prompt_tokens(
        gpt, COOKBOOK_TOOL_MESSAGES, functions=functions, function_call={"name": "get_current_weather"}
    )
    assert forced_tool.total == forced_function.total


# ------------------------------------------------------------------------------------------ hmarr §1.2(b)

HMARR = json.loads((DATA / "hmarr_cases.json").read_text())


@pytest.mark.parametrize("case", HMARR["cases"], ids=lambda case: f"{case['tokens']}tok")
def test_hmarr_cases(case: dict[str, Any]) -> None:
    count = counter.chat_prompt_tokens(
        model(HMARR["model"]),
        case["messages"],
        functions=case.get("functions"),
        function_call=case.get("function_call"),
    )
    assert count.total == case["tokens"]


def test_all_hmarr_cases_were_transcribed() -> None:
    assert len(HMARR["cases"]) == 36


# ------------------------------------------------------------------------------------------ real captures


def _usage(capture: dict[str, Any]) -> dict[str, Any] | None:
    body = capture["response"]["body"]
    if isinstance(body, dict):
        return body.get("usage")
    for line in body.splitlines():  # a stream: the usage chunk, if the request asked for it
        if line.startswith("data: {"):
            chunk = json.loads(line[len("data: ") :])
            if chunk.get("usage"):
                return chunk["usage"]
    return None


def _captures() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(CAPTURE_DIR.glob("*.json")):
        capture = json.loads(path.read_text())
        if capture["response"]["status"] == 200 and _usage(capture) is not None:
            found.append((path.stem, capture))
    return found


CAPTURE_CASES = _captures()


def test_the_capture_copies_cover_every_endpoint() -> None:
    paths = {capture["request"]["path"] for _, capture in CAPTURE_CASES}
    assert paths == {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}
    assert len(CAPTURE_CASES) >= 11


@pytest.mark.parametrize(("name", "capture"), CAPTURE_CASES, ids=[name for name, _ in CAPTURE_CASES])
def test_capture_prompt_tokens(name: str, capture: dict[str, Any]) -> None:
    body = capture["request"]["body"]
    info = model(body["model"])
    path = capture["request"]["path"]
    if path == "/v1/chat/completions":
        got = counter.chat_prompt_tokens(
            info,
            body["messages"],
            tools=body.get("tools"),
            tool_choice=body.get("tool_choice"),
            functions=body.get("functions"),
            function_call=body.get("function_call"),
        ).total
    elif path == "/v1/completions":
        got = counter.completion_prompt_tokens(info, body["prompt"], suffix=body.get("suffix")).total
    else:
        got = counter.embedding_input_tokens(info, body["input"]).total
    assert got == _usage(capture)["prompt_tokens"]


def test_capture_copies_match_the_shared_originals() -> None:
    shared = Path(os.environ.get("SENTRA_SHARED_CAPTURE_DIR", "/work/shared/data/captures"))
    if not shared.is_dir():
        pytest.skip(f"{shared} is absent: only the copies in tests/data/captures are checked")
    for path in CAPTURE_DIR.glob("*.json"):
        original = shared / path.name
        if original.exists():
            assert json.loads(original.read_text()) == json.loads(path.read_text()), path.name


# ------------------------------------------------------------------------------------------ images §1.3


def _png(width: int, height: int) -> bytes:
    """A real (black, 1-bit greyscale) PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes((width + 7) // 8) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("width", "height", "detail", "expected"),
    [
        (1024, 1024, "high", 765),  # official example: 768x768, 4 tiles
        (2048, 4096, "high", 1105),  # official example: 1024x2048 -> 768x1536, 6 tiles
        (4096, 8192, "low", 85),  # low detail is the base, whatever the size
        (500, 500, "high", 255),  # forum: no upscaling
        (513, 500, "high", 425),
        (513, 513, "high", 765),
        (1024, 1024, "auto", 765),  # auto means high
    ],
)
def test_tile_image_tokens_for_gpt_4o(width: int, height: int, detail: str, expected: int) -> None:
    assert image_tokens(model("gpt-4o"), width, height, detail) == expected


def test_gpt_4o_mini_image_costs_33x_more_tokens() -> None:
    assert image_tokens(model("gpt-4o-mini"), 1024, 1024, "high") == 25501  # §1.3


@pytest.mark.parametrize(
    ("width", "height", "patches"),
    [(1024, 1024, 1024), (1800, 2400, 1452)],  # the guide's examples (1800x2400 -> 1056x1408)
)
def test_patch_image_tokens_follow_the_documented_patch_counts(width: int, height: int, patches: int) -> None:
    # gpt-5-nano: multiplier 2.46, no per-image extra; the product rounds up
    assert image_tokens(model("gpt-5-nano"), width, height) == -(-patches * 246 // 100)


def test_patch_models_never_exceed_the_patch_budget() -> None:
    huge = image_tokens(model("gpt-5-nano"), 20000, 300)
    assert huge <= -(-1536 * 246 // 100)


def test_gpt_5_nano_image_capture() -> None:
    capture = json.loads((CAPTURE_DIR / "chat-image-to-text.json").read_text())
    body = capture["request"]["body"]
    count = counter.chat_prompt_tokens(model(body["model"]), body["messages"])
    assert count.total == capture["response"]["body"]["usage"]["prompt_tokens"] == 22
    assert count.image_tokens == 3  # 16x16 = 1 patch x 2.46, rounded up


# community.openai.com/t/1262691 (2025): a 128x64 image plus the 5-word text below, prompt_tokens per model
FORUM_TEXT = "repeat word from attached image"
FORUM_PROMPT_TOKENS = {
    "gpt-4o": (97, 267),
    "gpt-4.1": (97, 267),
    "gpt-4-turbo": (97, 267),
    "gpt-4o-mini": (2845, 8512),
    "o3": (86, 236),
    "gpt-4.1-mini": (26, 26),
    "gpt-4.1-nano": (33, 33),
    "o4-mini": (26, 26),
}


@pytest.mark.parametrize("name", sorted(FORUM_PROMPT_TOKENS))
def test_forum_vision_measurements(name: str) -> None:
    url = _data_url(_png(128, 64))
    for detail, expected in zip(("low", "auto"), FORUM_PROMPT_TOKENS[name]):
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": FORUM_TEXT},
                    {"type": "image_url", "image_url": {"url": url, "detail": detail}},
                ],
            }
        ]
        assert counter.chat_prompt_tokens(model(name), messages).total == expected, detail


def test_remote_image_urls_are_not_fetched_and_count_as_1024_square() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}
    count = counter.chat_prompt_tokens(model("gpt-4o"), [{"role": "user", "content": [part]}])
    assert count.image_tokens == 765


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def _gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def _webp_vp8x(width: int, height: int) -> bytes:
    payload = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    payload += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(payload) + 4) + b"WEBP" + payload


def _webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | (height - 1) << 14
    payload = b"VP8L" + struct.pack("<I", 5) + b"\x2f" + struct.pack("<I", bits)
    return b"RIFF" + struct.pack("<I", len(payload) + 4) + b"WEBP" + payload


def _webp_vp8(width: int, height: int) -> bytes:
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    payload = b"VP8 " + struct.pack("<I", len(frame)) + frame
    return b"RIFF" + struct.pack("<I", len(payload) + 4) + b"WEBP" + payload


@settings(max_examples=500, deadline=None)
@given(
    width=st.integers(min_value=1, max_value=16383),
    height=st.integers(min_value=1, max_value=16383),
    fmt=st.sampled_from(["png", "jpeg", "gif", "webp-vp8x", "webp-vp8l", "webp-vp8"]),
)
def test_image_headers_give_back_their_size(width: int, height: int, fmt: str) -> None:
    build = {
        "png": lambda w, h: _png_header_only(w, h),
        "jpeg": _jpeg,
        "gif": lambda w, h: _gif(min(w, 65535), min(h, 65535)),
        "webp-vp8x": _webp_vp8x,
        "webp-vp8l": _webp_vp8l,
        "webp-vp8": _webp_vp8,
    }[fmt]
    assert image_dimensions(_data_url(build(width, height), "image/" + fmt.split("-")[0])) == (width, height)


def _png_header_only(width: int, height: int) -> bytes:
    return _png(1, 1)[:16] + struct.pack(">II", width, height) + _png(1, 1)[24:]


def test_a_jpeg_with_a_big_exif_block_is_still_measured() -> None:
    exif = b"\xff\xe1" + struct.pack(">H", 60002) + b"\x00" * 60000
    data = b"\xff\xd8" + exif + _jpeg(640, 480)[2:]
    assert image_dimensions(_data_url(data, "image/jpeg")) == (640, 480)


@pytest.mark.parametrize(
    "url", ["data:image/png;base64,not-base64!!", "data:image/png;base64,", "data:text/plain,hello", "ftp://x"]
)
def test_unreadable_images_do_not_raise(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url, "detail": "high"}}
    count = counter.chat_prompt_tokens(model("gpt-4o"), [{"role": "user", "content": [part]}])
    assert count.image_tokens == 765  # the 1024x1024 fallback


# ------------------------------------------------------------------------------------------ gpt-5 rule


def test_gpt_5_single_message_costs_one_token_less_than_gpt_4o() -> None:
    # Same o200k text; harmony primes the reply with 2 tokens instead of 3 (captures chat-basic/json-mode).
    messages = [{"role": "user", "content": "Hello!"}]
    assert counter.chat_prompt_tokens(model("gpt-5-nano"), messages).total == 8
    assert counter.chat_prompt_tokens(model("gpt-4o"), messages).total == 9


def test_gpt_5_earlier_assistant_turns_carry_a_channel_header() -> None:
    base = [{"role": "user", "content": "Hello!"}]
    turn = {"role": "assistant", "content": "Hi"}
    user_turn = {"role": "user", "content": "Hi"}
    nano, gpt4o = model("gpt-5-nano"), model("gpt-4o")
    nano_assistant = counter.chat_prompt_tokens(nano, [*base, turn]).total
    nano_user = counter.chat_prompt_tokens(nano, [*base, user_turn]).total
    assert nano_assistant - nano_user == 2  # "<|channel|>final"
    assert counter.chat_prompt_tokens(gpt4o, [*base, turn]).total == counter.chat_prompt_tokens(
        gpt4o, [*base, user_turn]
    ).total


# ------------------------------------------------------------------------------------------ history shapes


def test_assistant_tool_calls_and_tool_results_are_counted() -> None:
    gpt = model("gpt-4o")
    enc = gpt.encoding
    arguments = '{"location":"Boston, MA","unit":"fahrenheit"}'
    call = {"id": "call_8fxy20OEu9ulvvaa5b5CzVA4", "type": "function",
            "function": {"name": "get_current_weather", "arguments": arguments}}
    user = {"role": "user", "content": "What is the weather like in Boston today?"}
    plain = counter.chat_prompt_tokens(gpt, [user]).total
    with_call = counter.chat_prompt_tokens(gpt, [user, {"role": "assistant", "content": None, "tool_calls": [call]}]).total
    # one more message (3 + "assistant") plus the call: name + arguments + 3, per the documented rule
    expected_call = 3 + counter.count_text(enc, "assistant") + 3
    expected_call += counter.count_text(enc, "get_current_weather") + counter.count_text(enc, arguments)
    assert with_call - plain == expected_call
    result = {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature": 72}'}
    with_result = counter.chat_prompt_tokens(
        gpt, [user, {"role": "assistant", "content": None, "tool_calls": [call]}, result]
    ).total
    expected_result = 3 + counter.count_text(enc, "tool") + counter.count_text(enc, call["id"])
    expected_result += counter.count_text(enc, result["content"])
    assert with_result - with_call == expected_result


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": None},
        {"role": "assistant", "content": [], "refusal": "I can't help with that."},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]},
        {"role": "user", "content": [{"type": "text"}, "bare string part", 42]},
        {"role": "user", "content": [{"type": "image_url", "image_url": "https://example.invalid/x.png"}]},
    ],
)
def test_odd_but_valid_messages_never_raise(message: dict[str, Any]) -> None:
    for name in ("gpt-4o", "gpt-5-nano", "gpt-3.5-turbo"):
        assert counter.chat_prompt_tokens(model(name), [message]).total > 0


def test_text_parts_count_like_text() -> None:
    gpt = model("gpt-4o")
    as_string = counter.chat_prompt_tokens(gpt, [{"role": "user", "content": "Hello there"}])
    as_parts = counter.chat_prompt_tokens(gpt, [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}])
    assert as_string == as_parts


@settings(max_examples=500, deadline=None)
@given(
    first=st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant", "developer"]), "content": st.text(max_size=40)}
        ),
        max_size=4,
    ),
    last=st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant"]), "content": st.text(max_size=40)},
        optional={"name": st.from_regex(r"[a-z_]{1,12}", fullmatch=True)},
    ),
    name=st.sampled_from(["gpt-4o", "gpt-3.5-turbo", "gpt-5-nano"]),
)
def test_messages_are_counted_independently(first: list[dict[str, str]], last: dict[str, str], name: str) -> None:
    # Without tools, appending a message adds exactly what that message costs on its own.
    info = model(name)
    priming = info.prompt_format.reply_priming
    both = counter.chat_prompt_tokens(info, [*first, last]).total
    alone = counter.chat_prompt_tokens(info, first).total + counter.chat_prompt_tokens(info, [last]).total
    assert both == alone - priming


# ------------------------------------------------------------------------------------------ text / completions / embeddings


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=200), encoding=st.sampled_from(sorted(ENCODING_FILES)))
def test_cached_counts_equal_plain_tiktoken_counts(text: str, encoding: str) -> None:
    expected = len(counter.encoding(encoding).encode_ordinary(text))
    assert counter.count_text(encoding, text) == expected
    assert counter.count_text(encoding, text) == expected  # second call: from the cache


def test_cookbook_text_fixtures() -> None:
    # cookbook: "tiktoken is great!" ids, and the three count examples (cl100k / o200k)
    assert counter.encode("cl100k_base", "tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert counter.encode("o200k_base", "tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]
    for text, cl100k, o200k in [
        ("antidisestablishmentarianism", 6, 6),
        ("2 + 2 = 4", 7, 7),
        ("お誕生日おめでとう", 9, 8),
    ]:
        assert counter.count_text("cl100k_base", text) == cl100k
        assert counter.text_tokens(model("gpt-4o"), text) == o200k


def test_special_token_text_in_chat_is_plain_text() -> None:
    assert counter.count_text("cl100k_base", "<|endoftext|>") > 1


def test_completion_prompt_shapes() -> None:
    babbage = model("babbage-002")
    assert counter.completion_prompt_tokens(babbage, [755, 16178, 1471]).total == 3
    assert counter.completion_prompt_tokens(babbage, [[1, 2], [3, 4, 5]]).per_input == (2, 3)
    both = counter.completion_prompt_tokens(babbage, ["def fib(n):", "hello world"])
    assert both.per_input == (counter.text_tokens(babbage, "def fib(n):"), counter.text_tokens(babbage, "hello world"))
    assert both.total == sum(both.per_input)
    # the legacy endpoint reads <|endoftext|> as its document separator: one token
    assert counter.completion_prompt_tokens(babbage, "<|endoftext|>").total == 1
    with_suffix = counter.completion_prompt_tokens(babbage, "def fib(n):", suffix="    return n")
    assert with_suffix.total == counter.text_tokens(babbage, "def fib(n):") + counter.text_tokens(babbage, "    return n")


def test_embedding_input_shapes() -> None:
    small = model("text-embedding-3-small")
    texts = ["   Leading spaces", "Trailing spaces   "]
    count = counter.embedding_input_tokens(small, texts)
    assert count.per_input == tuple(counter.text_tokens(small, text) for text in texts)
    assert counter.embedding_input_tokens(small, [102257]).total == 1
    assert counter.embedding_input_tokens(small, [[1, 2, 3], [4]]).per_input == (3, 1)


def test_counting_is_thread_safe() -> None:
    fresh = TokenCounter(cache_size=4)  # a tiny cache forces evictions under contention
    expected = TokenCounter().chat_prompt_tokens(model("gpt-4o"), COOKBOOK_MESSAGES).total
    barrier = threading.Barrier(8)

    def work(_: int) -> set[int]:
        barrier.wait()
        return {fresh.chat_prompt_tokens(model("gpt-4o"), COOKBOOK_MESSAGES).total for _ in range(30)}

    with ThreadPoolExecutor(8) as pool:
        results = set().union(*pool.map(work, range(8)))
    assert results == {expected}


# ------------------------------------------------------------------------------------------ offline loading

_NO_NETWORK = textwrap.dedent(
    """
    import socket

    def _refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    class _NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            _refuse()

    socket.socket = _NoSocket
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
    """
)

_COUNT_SCRIPT = textwrap.dedent(
    """
    import json, os, socket
    try:
        socket.socket()
        raise SystemExit("the network block is not active")
    except OSError:
        pass
    from sentra_openai.catalog import Catalog
    from sentra_openai.tokens import TokenCounter
    counter = TokenCounter()
    catalog = Catalog.default()
    messages = [{"role": "user", "content": "hello"}]
    print(json.dumps({
        "o200k": counter.chat_prompt_tokens(catalog.get("gpt-4o"), messages).total,
        "cl100k": counter.chat_prompt_tokens(catalog.get("gpt-3.5-turbo"), messages).total,
        "cache_dir": os.environ.get("TIKTOKEN_CACHE_DIR"),
    }))
    """
)


def _run_offline(tmp_path: Path, env_updates: dict[str, str | None]) -> dict[str, Any]:
    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(_NO_NETWORK)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocker), env.get("PYTHONPATH")]))
    for key, value in env_updates.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_SCRIPT], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["o200k"] == 8 and result["cl100k"] == 8  # hmarr: "hello" as a user message
    return result


def _cache_files_are_intact(directory: Path) -> None:
    for spec in ENCODING_FILES.values():
        data = (directory / spec.cache_name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == spec.sha256


def test_empty_user_cache_dir_is_filled_without_network(tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    result = _run_offline(tmp_path, {"TIKTOKEN_CACHE_DIR": str(cache)})
    assert result["cache_dir"] == str(cache)
    _cache_files_are_intact(cache)


def test_without_a_cache_dir_a_per_user_cache_is_used(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _run_offline(
        tmp_path,
        {"TIKTOKEN_CACHE_DIR": None, "DATA_GYM_CACHE_DIR": None, "XDG_CACHE_HOME": None, "HOME": str(home)},
    )
    expected = home / ".cache" / "sentra-openai" / "tiktoken"
    assert result["cache_dir"] == str(expected)
    _cache_files_are_intact(expected)


def test_a_corrupt_cached_file_is_replaced_instead_of_downloaded(tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    for spec in ENCODING_FILES.values():
        (cache / spec.cache_name).write_bytes(b"garbage")
    _run_offline(tmp_path, {"TIKTOKEN_CACHE_DIR": str(cache)})
    _cache_files_are_intact(cache)


@pytest.mark.parametrize("setting", ["", "a-file"])
def test_an_unusable_cache_dir_falls_back_and_is_left_as_set(tmp_path: Path, setting: str) -> None:
    if setting:
        (tmp_path / setting).write_text("not a directory")
        setting = str(tmp_path / setting)
    result = _run_offline(
        tmp_path, {"TIKTOKEN_CACHE_DIR": setting, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    )
    assert result["cache_dir"] == setting  # the user's choice is restored after loading
    _cache_files_are_intact(tmp_path / "xdg" / "sentra-openai" / "tiktoken")
