"""x-ratelimit-reset-* values: Go duration strings rounded up to whole milliseconds."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai._native import go_duration
from sentra_openai.ratelimit import format_go_duration

MS = 1_000_000
S = 1_000 * MS

# Values seen in real OpenAI responses and in its rate-limit docs (shared/reference/openai-wire.md §1.2).
OPENAI_EXAMPLES = [
    (0, "0s"),
    (1 * MS, "1ms"),
    (20 * MS, "20ms"),
    (120 * MS, "120ms"),
    (913 * MS, "913ms"),
    (1 * S, "1s"),
    (17_280 * MS, "17.28s"),
    (9_816 * MS, "9.816s"),
    (6 * 60 * S, "6m0s"),
    ((19 * 60 + 45) * S + 394 * MS, "19m45.394s"),
    ((3600 + 4 * 60 + 48) * S, "1h4m48s"),
]

_GO_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)(?:\.(\d{1,3}))?s|(\d+)ms)")


def parse_ms(text: str) -> int:
    """Read a Go duration string of the shapes above back into whole milliseconds."""
    match = _GO_DURATION.fullmatch(text)
    assert match, f"not a Go duration: {text!r}"
    hours, minutes, seconds, fraction, millis = match.groups()
    if millis is not None:
        assert hours is None and minutes is None
        return int(millis)
    ms = int(seconds) * 1000 + int((fraction or "").ljust(3, "0"))
    return ms + int(minutes or 0) * 60_000 + int(hours or 0) * 3_600_000


@pytest.mark.parametrize(("ns", "expected"), OPENAI_EXAMPLES)
def test_openai_examples(ns: int, expected: str) -> None:
    assert format_go_duration(ns) == expected
    assert go_duration(ns) == expected


def test_partial_milliseconds_round_up() -> None:
    # A client that waits the printed time must never be early.
    assert format_go_duration(1) == "1ms"
    assert format_go_duration(120 * MS + 1) == "121ms"
    assert format_go_duration(999 * MS + 1) == "1s"
    assert format_go_duration(17_280 * MS + 1) == "17.281s"


def test_whole_hours_keep_minutes_and_seconds() -> None:
    assert format_go_duration(3600 * S) == "1h0m0s"
    assert format_go_duration(60 * S + 10 * MS) == "1m0.01s"


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_out_of_range_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError):
        format_go_duration(bad)


def test_non_integer_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        format_go_duration(1.5)  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.integers(0, 10 * S), st.integers(0, 2**64 - 1)))
def test_any_duration_reads_back_as_its_ceiling_in_ms(ns: int) -> None:
    text = format_go_duration(ns)
    assert parse_ms(text) == -(-ns // MS)
    # Go's layout: below 1 s whole ms; from 1 s on no "ms" unit and no trailing zero decimals.
    if ns > 0 and ns <= 999 * MS:
        assert text.endswith("ms")
    elif ns > 999 * MS:
        assert not text.endswith("ms")
        assert not re.search(r"\.\d*0s$", text)
        if "h" in text:
            assert "m" in text
