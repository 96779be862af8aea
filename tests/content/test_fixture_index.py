"""Fixture matching: the native index's ranking rules, and the YAML loader with its error messages."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest
import sentra_openai
from hypothesis import given, settings
from hypothesis import strategies as st
from sentra_openai import _native
from sentra_openai.engine.content.fixtures import Fixture, FixtureError, FixtureSet

SHIPPED_FIXTURES = Path(sentra_openai.__file__).parent / "fixtures"


Rule = tuple[int, str | None, str | None, str | None, float]


def rule(
    priority: int = 0, exact: str | None = None, regex: str | None = None, model: str | None = None, weight: float = 1.0
) -> Rule:
    return (priority, exact, regex, model, weight)


# --- the native index ---


def test_highest_matching_priority_wins_regardless_of_order() -> None:
    index = _native.FixtureIndex(
        [rule(1, regex="(?i)python"), rule(5, regex="(?i)python.*list"), rule(9, regex="rust")]
    )
    assert index.lookup("gpt-4o", "In Python, sort a list", 0.5) == 1
    assert index.lookup("gpt-4o", "Python dictionaries", 0.5) == 0
    assert index.lookup("gpt-4o", "Go channels", 0.5) is None


def test_exact_beats_lower_priority_regex_and_ignores_surrounding_whitespace() -> None:
    index = _native.FixtureIndex([rule(0, regex="test"), rule(10, exact="Say this is a test")])
    assert index.lookup("gpt-4o", "  Say this is a test\n", 0.0) == 1
    # Not equal once stripped: only the regex matches.
    assert index.lookup("gpt-4o", "Say this is a test, please", 0.0) == 0
    assert index.lookup("gpt-4o", "say this is a test", 0.0) == 0  # exact is case-sensitive


def test_regex_is_searched_anywhere_in_the_prompt() -> None:
    index = _native.FixtureIndex([rule(regex=r"\bweather\b")])
    assert index.lookup("m", "Tell me: what's the weather in Paris?", 0.0) == 0
    assert index.lookup("m", "weathering", 0.0) is None


def test_entry_with_exact_and_regex_needs_both() -> None:
    index = _native.FixtureIndex([rule(exact="ping", regex="^p")])
    assert index.lookup("m", "ping", 0.0) == 0
    index = _native.FixtureIndex([rule(exact="ping", regex="^x")])
    assert index.lookup("m", "ping", 0.0) is None


def test_model_filter_exact_and_prefix() -> None:
    index = _native.FixtureIndex(
        [rule(2, regex="hi", model="gpt-4o-mini*"), rule(1, regex="hi", model="gpt-4o"), rule(0, regex="hi")]
    )
    assert index.lookup("gpt-4o-mini-2024-07-18", "hi", 0.0) == 0
    assert index.lookup("gpt-4o", "hi", 0.0) == 1
    assert index.lookup("gpt-4o-2024-08-06", "hi", 0.0) == 2  # "gpt-4o" without * is an exact id
    assert index.lookup("o3", "hi", 0.0) == 2


def test_catch_all_entry_matches_any_prompt_at_its_priority() -> None:
    index = _native.FixtureIndex([rule(-1), rule(0, regex="special")])
    assert index.lookup("m", "anything at all", 0.3) == 0
    assert index.lookup("m", "something special", 0.3) == 1


def test_weighted_choice_follows_weights_over_many_draws() -> None:
    weights = [1.0, 3.0, 6.0]
    index = _native.FixtureIndex([rule(7, regex="x", weight=w) for w in weights] + [rule(0, regex="x", weight=1000.0)])
    rng = random.Random(20240611)
    draws = 20_000
    counts = Counter(index.lookup("m", "x", rng.random()) for _ in range(draws))
    assert set(counts) == {0, 1, 2}  # the heavy lower-priority entry is never chosen
    for entry, weight in enumerate(weights):
        expected = draws * weight / sum(weights)
        assert abs(counts[entry] - expected) < 5 * (expected ** 0.5)  # about 5 standard deviations
    # Evenly spaced draws split exactly in proportion.
    even = Counter(index.lookup("m", "x", i / 1000) for i in range(1000))
    assert even == {0: 100, 1: 300, 2: 600}


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.floats(min_value=0.001, max_value=1000.0), min_size=1, max_size=8),
    st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_choice_is_the_cumulative_weight_interval_of_the_draw(weights: list[float], draw: float) -> None:
    index = _native.FixtureIndex([rule(regex="q", weight=w) for w in weights])
    chosen = index.lookup("m", "q", draw)
    assert chosen is not None
    assert index.lookup("m", "q", draw) == chosen  # deterministic for a given draw
    total = sum(weights)
    below = sum(weights[:chosen])
    # draw*total falls in [below, below + weight); a relative epsilon absorbs float summation order.
    eps = 1e-9 * total
    assert below - eps <= draw * total
    assert draw * total < below + weights[chosen] + eps or chosen == len(weights) - 1


def test_many_regexes_each_find_their_own_prompt() -> None:
    words = [f"topic{n:03d}" for n in range(300)]
    index = _native.FixtureIndex([rule(regex=rf"\b{w}\b") for w in words])
    assert len(index) == 300
    for n in (0, 17, 150, 299):
        assert index.lookup("m", f"tell me about {words[n]} please", 0.0) == n


def test_bad_regex_error_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"fixture entry 1: invalid regex") as caught:
        _native.FixtureIndex([rule(regex="fine"), rule(regex="(unclosed")])
    assert "(unclosed" in str(caught.value)
    with pytest.raises(ValueError, match=r"^b\.yaml: fixture #2 'broken': invalid regex"):
        names = ["a.yaml: fixture #1 'ok'", "b.yaml: fixture #2 'broken'"]
        _native.FixtureIndex([rule(regex="ok"), rule(regex="[z-a]")], names)


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_weight_is_refused(weight: float) -> None:
    with pytest.raises(ValueError, match="fixture entry 0: weight"):
        _native.FixtureIndex([rule(weight=weight)])


@pytest.mark.parametrize("draw", [-0.1, 1.0, 2.0, float("nan")])
def test_draw_outside_unit_interval_is_refused(draw: float) -> None:
    with pytest.raises(ValueError, match="draw"):
        _native.FixtureIndex([rule()]).lookup("m", "p", draw)


def test_empty_index_matches_nothing() -> None:
    index = _native.FixtureIndex([])
    assert len(index) == 0
    assert index.lookup("gpt-4o", "hello", 0.5) is None


# --- the YAML loader and the shipped fixtures ---


def test_shipped_fixtures_load_and_answer_known_prompts() -> None:
    fixtures = FixtureSet.load([SHIPPED_FIXTURES])
    assert len(fixtures) >= 15
    test = fixtures.match("gpt-4o-mini", "Say this is a test", 0.5)
    assert test is not None and test.content == "This is a test."
    weather = fixtures.match("gpt-4o", "What's the weather like in Boston today?", 0.5)
    assert weather is not None and weather.content is None
    assert weather.tool_call == {
        "name": "get_current_weather",
        "arguments": {"location": "Boston, MA", "unit": "celsius"},
    }
    greeting = fixtures.match("gpt-4.1", "Hello!", 0.0)
    assert greeting is not None and greeting.content and "help" in greeting.content.lower()
    assert fixtures.match("gpt-4o", "Summarize the attached quarterly report in three bullet points.", 0.5) is None
    for fixture in fixtures.fixtures:
        assert (fixture.content is None) != (fixture.tool_call is None)


def test_shipped_identity_fixture_depends_on_the_model() -> None:
    fixtures = FixtureSet.load([SHIPPED_FIXTURES])
    answers = {model: fixtures.match(model, "Which model are you?", 0.5) for model in ("gpt-4o-mini", "gpt-4o", "o3")}
    assert len({fixture.name for fixture in answers.values() if fixture}) == 3
    assert "mini" in answers["gpt-4o-mini"].content  # type: ignore[union-attr]


def test_shipped_greetings_alternate_by_weight() -> None:
    fixtures = FixtureSet.load([SHIPPED_FIXTURES])
    rng = random.Random(7)
    names = Counter(fixtures.match("gpt-4o", "hi", rng.random()).name for _ in range(4000))  # type: ignore[union-attr]
    assert len(names) == 2
    common, rare = (count for _, count in names.most_common())
    assert 2.4 < common / rare < 3.7  # the shipped weights are 3:1


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD_ENTRY = """
  - name: {name}
    match: {{exact: "{exact}"}}
    response: {{content: "{content}"}}
"""


def test_directory_loads_yaml_files_in_name_order_and_fixtures_are_frozen(tmp_path: Path) -> None:
    write(tmp_path / "b.yml", "fixtures:" + GOOD_ENTRY.format(name="second", exact="q", content="from b"))
    write(tmp_path / "a.yaml", "fixtures:" + GOOD_ENTRY.format(name="first", exact="q", content="from a"))
    write(tmp_path / "notes.txt", "not a fixture file")
    write(tmp_path / "empty.yaml", "")
    fixtures = FixtureSet.load([tmp_path])
    assert [f.name for f in fixtures.fixtures] == ["first", "second"]
    # Same priority and weight: the draw decides, lower draws pick the earlier file's entry.
    assert fixtures.match("m", "q", 0.1) == Fixture("first", "from a", None)
    assert fixtures.match("m", "q", 0.9) == Fixture("second", "from b", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fixtures.fixtures[0].content = "changed"  # type: ignore[misc]


def test_tool_call_arguments_may_be_json_text(tmp_path: Path) -> None:
    file = write(
        tmp_path / "f.yaml",
        """
fixtures:
  - name: lookup
    match: {regex: 'order \\d+', model: "gpt-4.1*"}
    priority: 3
    weight: 2.5
    response:
      tool_call: {name: get_order, arguments: '{"order_id": 42}'}
""",
    )
    fixtures = FixtureSet.load([str(file)])
    assert fixtures.match("gpt-4.1-mini", "where is order 17?", 0.0) == Fixture(
        "lookup", None, {"name": "get_order", "arguments": {"order_id": 42}}
    )
    assert fixtures.match("gpt-4o", "where is order 17?", 0.0) is None
    assert fixtures.match("gpt-4.1", None, 0.0) is None  # type: ignore[arg-type]


BROKEN_ENTRIES = {
    "bad regex": ("match: {regex: '(?P<x'}\n    response: {content: a}", "invalid regex"),
    "look-around (not in Rust regex)": ("match: {regex: '(?<=a)b'}\n    response: {content: a}", "invalid regex"),
    "no response": ("match: {exact: a}", "'response' must be a mapping"),
    "two responses": ("response: {content: a, tool_call: {name: f}}", "exactly one of"),
    "unknown key": ("match: {exactly: a}\n    response: {content: a}", "unknown key(s) exactly"),
    "priority text": ("priority: high\n    response: {content: a}", "'priority' must be an integer"),
    "zero weight": ("weight: 0\n    response: {content: a}", "'weight' must be a number > 0"),
    "content not text": ("response: {content: [a, b]}", "'response.content' must be a string"),
    "tool without name": ("response: {tool_call: {arguments: {}}}", "'response.tool_call.name'"),
    "arguments not an object": ("response: {tool_call: {name: f, arguments: '[1]'}}", "must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ENTRIES))
def test_broken_entry_error_names_file_and_entry(tmp_path: Path, case: str) -> None:
    body, problem = BROKEN_ENTRIES[case]
    file = write(
        tmp_path / "broken.yaml",
        "fixtures:" + GOOD_ENTRY.format(name="fine", exact="x", content="ok") + f"  - name: culprit\n    {body}\n",
    )
    with pytest.raises(FixtureError) as caught:
        FixtureSet.load([file])
    message = str(caught.value)
    assert message.startswith(f"{file}: fixture #2 'culprit': ")
    assert problem in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fixtures: [\n", "not valid YAML (line"),
        ("- name: a\n", "the top level must be a mapping"),
        ("fixtures: {name: a}\n", "must be a list"),
        ("fixtures: []\nextra: 1\n", "single key 'fixtures'"),
    ],
)
def test_broken_file_error_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    file = write(tmp_path / "bad.yaml", text)
    with pytest.raises(FixtureError, match="bad.yaml") as caught:
        FixtureSet.load([file])
    assert problem in str(caught.value)


def test_duplicate_names_across_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "fixtures:" + GOOD_ENTRY.format(name="same", exact="x", content="1"))
    write(tmp_path / "b.yaml", "fixtures:" + GOOD_ENTRY.format(name="same", exact="y", content="2"))
    with pytest.raises(FixtureError, match=r"b\.yaml: fixture #1 'same': the name 'same' is already used by .*a\.yaml"):
        FixtureSet.load([tmp_path])


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="no such fixture file or directory"):
        FixtureSet.load([tmp_path / "absent"])
