"""Replays every recorded real Responses request (shared/data/captures-responses) and compares usage.input_tokens
(and the status, and error bodies) with the real answer.

Each capture is replayed on a server whose day (models.as_of) is the day it was recorded, since the API's prompt
changed over time (config/responses.yaml counting.early_prompt). The counting rules (engine/endpoints/responses/
counting.py, constants in config/responses.yaml) reproduce most captures exactly. The others are listed in
KNOWN_GAPS with the reason and the largest difference allowed, so that a change which makes them worse fails too.
"""

from __future__ import annotations

import datetime
import json
import signal
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, SUITE_AS_OF, start_server
from openapi_schemas import validate
from sentra_openai.catalog import Catalog
from sentra_openai.engine.endpoints.responses import counting
from sentra_openai.engine.endpoints.responses.request import parse_responses_request
from sentra_openai.tokens import TokenCounter

pytestmark = pytest.mark.server

_CATALOG = Catalog.default()


def recording_day(path: Path) -> str:
    """The UTC day a capture was recorded: its response's created_at, when the model existed by then (a hand-made
    cassette can carry a copied created_at: test_responses_usage_limit_not_exceeded-1 claims 2025-03-27 for
    gpt-4.1-mini, a model of 2025-04, and echoes an undated model). Otherwise, and for answers without a
    created_at (errors, input_tokens), the suite's day."""
    capture = json.loads(path.read_text())
    created = (capture["response"]["body"] or {}).get("created_at")
    model = _CATALOG.get(capture["request"]["body"].get("model") or "")
    if not isinstance(created, int) or model is None or created < model.created:
        return SUITE_AS_OF
    return datetime.datetime.fromtimestamp(created, datetime.timezone.utc).date().isoformat()


# copied from shared/data; in the order of their recording days, so that one server per day serves them in turn
CAPTURES = sorted((ROOT / "tests" / "data" / "captures-responses").glob("*.json"),
                  key=lambda p: (recording_day(p), p.stem))

# name -> (largest |ours - real| allowed, why it is not exact)
_FOLDED = ("the recorder folded the model's typographic characters to ASCII in this request (its answer before wrote "
           "she’d, Willow’s, thrummed—alive): the real API read them; restored, the count is exact "
           "(test_folded_characters_explain_the_story_gaps)")
_COMPACTION = ("a compaction blob is encrypted: its tokens are not a function of its length (2788 characters bill 273, "
               "2828 bill 266), so counting.compaction_* is a linear fit")
_MINI = ("gpt-4.1-mini, a lone user message: one more than the rules, which reproduce the same route and model with a "
         "system message (count_tokens below: 16) or a tool (count_tokens_with_tools-0: 51, recorded twice): a +1 per "
         "prompt, per route or per model breaks both, and gpt-4.1's lone message (compact_with_auto_previous_response_"
         "id_chain-0: 14) is exact. The only lone-message mini count, from a hand-written cassette: unconfirmed")
_FORCED_STRICT = ("the one forced call (tool_choice required, one function) of a strict function on an hmarr model: "
                  "pydantic-ai's re-recording of 2026-01-30 (no title, no instructions) bills 66, 3 over the rules, as "
                  "if forcing cost 7 + name (pamelafox/openai-messages-token-helper's chat measurements of a named "
                  "tool_choice) rather than 4 + name; but count_tokens_with_tools-0 (mini, /input_tokens, not strict) "
                  "bills 4 + name, and strictness, route and model are not told apart. The other 4 are the tokens of "
                  "'// MyOutput\\n' (the only titled schema, in the early prompt). Ruled out: integer (harmony's "
                  "renderer and pamelafox's string_enum case print number), strict with a description "
                  "(background_mode_with_tool below is exact), property order and the tool's name when recorded "
                  "(final_output, renamed in the cassette since): the same tokens")
KNOWN_GAPS = {
    "test_openai_responses_compact_stateful_mode_stream-1": (1, _FOLDED),
    "test_openai_responses_compact_stateful_mode_stream-2": (1, _FOLDED),
    "test_openai_responses_compact_with_auto_previous_response_id_chain-5": (7, _COMPACTION),
    "test_openai_responses_compact_with_auto_previous_response_id_chain-7": (5, _COMPACTION),
    "test_openai_responses_compact_stateful_mode_stream-3": (1, _COMPACTION),
    "test_openai_responses_output_type-0": (7, _FORCED_STRICT),
    "test_responses_usage_limit_not_exceeded-0": (1, _MINI),
    "test_responses_usage_limit_not_exceeded-1": (1, _MINI + "; a hand-made cassette: system_prompt-0's answer "
                                                     "edited (same created_at, ids one character apart) with -0's count"),
}
# Captures the simulator cannot replay: the model is not one it can stand in for.
SKIPPED: dict[str, str] = {}


@pytest.fixture(scope="module")
def server_on(tmp_path_factory):
    """server_on(day): a lenient server whose models.as_of is `day`, or a day counted alike (counting.prompt_period);
    one at a time (the captures come day by day)."""
    current: dict[str, object] = {}

    def server_on(day: str):
        if current.get("period") != counting.prompt_period(day):
            if current:
                current["server"].stop(signal.SIGKILL)
            current["period"] = counting.prompt_period(day)
            current["server"] = start_server(
                tmp_path_factory.mktemp("responses-captures"),
                {"latency": {"enable": False}, "error_injection": {"enable": False}, "metrics": {"enable": False},
                 "models": {"strict": False, "fallback": "gpt-5"}},
                mode="default", env={"SENTRA_MODELS_AS_OF": day})
        return current["server"]

    yield server_on
    if current:
        current["server"].stop(signal.SIGKILL)


def _final_of_stream(text: str) -> dict:
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    return next(e["response"] for e in events if e["type"] in ("response.completed", "response.incomplete"))


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_replay_matches_the_real_input_tokens(server_on, path):
    if path.stem in SKIPPED:
        pytest.skip(SKIPPED[path.stem])
    capture = json.loads(path.read_text())
    request, expected = capture["request"], capture["response"]
    response = httpx.post(server_on(recording_day(path)).base_url + request["path"], json=request["body"],
                          headers={"authorization": "Bearer sk-test"}, timeout=30)
    assert response.status_code == expected["status"], response.text[:500]
    if expected["status"] >= 400:
        validate("ErrorResponse", response.json())
        if expected["body"] is not None:
            assert response.json() == expected["body"]
        return
    if request["body"].get("stream"):
        ours = _final_of_stream(response.text)
    else:
        ours = response.json()
    real = expected["body"]
    if real.get("object") == "response.input_tokens":
        got, want = ours["input_tokens"], real["input_tokens"]
    else:
        validate("Response", ours)
        got, want = ours["usage"]["input_tokens"], real["usage"]["input_tokens"]
        assert ours["status"] == real["status"]
        assert [item["type"] for item in ours["output"]][:1] != [] or real["output"] == []
    allowed, _ = KNOWN_GAPS.get(path.stem, (0, ""))
    assert abs(got - want) <= allowed, f"ours {got}, real {want}"


def test_most_captures_are_exact():
    """The calibration covers the sample: 39 of the 47 captures (37 of the 45 with a count, and the 2 errors) are
    reproduced exactly."""
    exact = [p for p in CAPTURES if p.stem not in KNOWN_GAPS and p.stem not in SKIPPED]
    assert len(exact) >= 39


_FOLDS = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "--", "–": "-"})


def _output_texts(path: Path) -> list[str]:
    body = json.loads(path.read_text())["response"]["body"] or {}
    return [part["text"] for item in body.get("output") or [] if item.get("type") == "message"
            for part in item.get("content") or [] if part.get("type") == "output_text"]


@pytest.mark.parametrize("stem", [s for s, (_, why) in KNOWN_GAPS.items() if why == _FOLDED])
def test_folded_characters_explain_the_story_gaps(server_on, stem):
    """The story captures' assistant messages are the model's earlier answers with ’ and — folded to ASCII by the
    recorder: sent as the model wrote them (the earlier captures' outputs), they bill exactly the real count."""
    path = ROOT / "tests" / "data" / "captures-responses" / f"{stem}.json"
    capture = json.loads(path.read_text())
    answers = {text.translate(_FOLDS): text for other in CAPTURES for text in _output_texts(other)}
    body = capture["request"]["body"]
    restored = [{**item, "content": answers[item["content"]]} if item.get("role") == "assistant" else item
                for item in body["input"]]
    assert restored != body["input"]
    response = httpx.post(server_on(recording_day(path)).base_url + capture["request"]["path"],
                          json={**body, "input": restored}, headers={"authorization": "Bearer sk-test"}, timeout=30)
    assert _final_of_stream(response.text)["usage"]["input_tokens"] == capture["response"]["body"]["usage"]["input_tokens"]


# Real recordings outside the capture set (pydantic/pydantic-ai tests/models/cassettes/test_openai_responses, MIT),
# as (cassette, day recorded, request body, real input_tokens): they check the rules the captures were read from.
_FRANCE = {"content": "What is the capital of France?", "role": "user"}
_POTATO = {"content": "What is the capital of PotatoLand?", "role": "user"}
_GET_CAPITAL = {"type": "function", "name": "get_capital", "description": "", "strict": True,
                "parameters": {"additionalProperties": False, "properties": {"country": {"type": "string"}},
                               "required": ["country"], "type": "object"}}
_CAPITAL_CALL = [{"content": "", "role": "assistant"},
                 {"type": "function_call", "call_id": "call_61", "name": "get_capital",
                  "arguments": '{"country":"PotatoLand"}'},
                 {"type": "function_call_output", "call_id": "call_61", "output": "Potato City"}]
_GET_LOCATION = {"type": "function", "name": "get_location", "description": None, "strict": True,
                 "parameters": {"additionalProperties": False, "properties": {"loc_name": {"type": "string"}},
                                "required": ["loc_name"], "type": "object"}}
_LOCATION_CALLS = [
    {"type": "function_call", "call_id": "call_8b", "name": "get_location", "arguments": '{"loc_name":"Londos"}'},
    {"type": "function_call", "call_id": "call_Ww", "name": "get_location", "arguments": '{"loc_name":"London"}'},
    {"type": "function_call_output", "call_id": "call_8b",
     "output": 'Wrong location, I only know about "London".\n\nFix the errors and try again.'},
    {"type": "function_call_output", "call_id": "call_Ww", "output": '{"lat": 51, "lng": 0}'}]
_PROMPTED = {"role": "system", "content": (
    "\nAlways respond with a JSON object that's compatible with this schema:\n\n"
    '{"properties": {"city": {"type": "string"}, "country": {"type": "string"}}, "required": ["city", "country"], '
    '"type": "object", "additionalProperties": false, "title": "CityLocation"}'
    "\n\nDon't include any text or Markdown fencing before or after.\n")}
_COUNTRY = {"content": "What is the largest city in the user country?", "role": "user"}
_GET_USER_COUNTRY = {"type": "function", "name": "get_user_country", "description": None, "strict": False,
                     "parameters": {"additionalProperties": False, "properties": {}, "type": "object"}}
_COUNTRY_CALL = [{"type": "function_call", "call_id": "call_OU", "name": "get_user_country", "arguments": "{}"},
                 {"type": "function_call_output", "call_id": "call_OU", "output": "Mexico"}]
_JSON_OBJECT = {"format": {"type": "json_object"}}
_PARIS = {"content": "What is the weather in Paris? Use the get_weather tool.", "role": "user"}
_GET_WEATHER = {"type": "function", "name": "get_weather", "description": "Get current weather for a city.", "strict": True,
                "parameters": {"additionalProperties": False, "properties": {"city": {"type": "string"}},
                               "required": ["city"], "type": "object"}}
_WEATHER_CALL = [{"type": "function_call", "call_id": "call_Jc", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                 {"type": "function_call_output", "call_id": "call_Jc", "output": "Sunny and 72F in Paris"}]


def _strict_object(properties: dict, required: list) -> dict:  # pydantic-ai's key order
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _tagged(kind: str, first: str, second: str) -> dict:
    data = _strict_object({first: {"type": "string"}, second: {"type": "string"}}, [first, second])
    return _strict_object({"kind": {"type": "string", "const": kind}, "data": data}, ["kind", "data"])


_RESULT_FORMAT = {"format": {"type": "json_schema", "name": "final_result", "strict": True, "schema": _strict_object(
    {"result": {"anyOf": [_tagged("CityLocation", "city", "country"),
                          _tagged("CountryLanguage", "country", "language")]}}, ["result"])}}
_FINAL_RESULT = {"type": "function", "name": "final_result", "strict": True,
                 "description": "The final response which ends this conversation",
                 "parameters": {"additionalProperties": False, "required": ["city", "country"], "type": "object",
                                "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}}
RECORDINGS = [
    ("history_with_combined_tool_call_id", "2025-10-13",
     {"model": "gpt-5", "input": [_COUNTRY, *_COUNTRY_CALL, _COUNTRY], "tool_choice": "required",
      "tools": [_FINAL_RESULT]}, 103),
    ("native_output_multiple", "2026-01-30",
     {"input": [_COUNTRY], "text": _RESULT_FORMAT, "tools": [_GET_USER_COUNTRY]}, 142),
    ("native_output_multiple", "2026-01-30",
     {"input": [_COUNTRY, *_COUNTRY_CALL], "text": _RESULT_FORMAT, "tools": [_GET_USER_COUNTRY]}, 161),
    ("prompted_output", "2026-01-30",
     {"input": [_PROMPTED, _COUNTRY], "text": _JSON_OBJECT, "tools": [_GET_USER_COUNTRY]}, 114),
    ("prompted_output", "2026-01-30",
     {"input": [_PROMPTED, _COUNTRY, *_COUNTRY_CALL], "text": _JSON_OBJECT, "tools": [_GET_USER_COUNTRY]}, 133),
    ("model_simple_response", "2025-03-27", {"input": [_FRANCE], "instructions": ""}, 32),
    ("model_simple_response_with_tool_call", "2025-03-27",
     {"input": [_POTATO], "instructions": "", "tools": [_GET_CAPITAL]}, 256),
    ("model_simple_response_with_tool_call", "2025-03-27",
     {"input": [_POTATO, *_CAPITAL_CALL], "instructions": "", "tools": [_GET_CAPITAL]}, 287),
    ("model_instructions", "2025-04-07", {"input": [_FRANCE], "instructions": "You are a helpful assistant."}, 24),
    ("model_retry", "2026-01-30",
     {"input": [{"content": "What is the location of Londos and London?", "role": "user"}, *_LOCATION_CALLS],
      "tools": [_GET_LOCATION]}, 115),
    # a strict function with a description on gpt-4o (output_type-0's gap is not that)
    ("background_mode_with_tool_vcr", "2026-02-10", {"background": True, "input": [_PARIS], "tools": [_GET_WEATHER]}, 51),
    ("background_mode_with_tool_vcr", "2026-02-10",
     {"background": True, "input": [_PARIS, *_WEATHER_CALL], "tools": [_GET_WEATHER]}, 78),
    # gpt-4.1-mini on /v1/responses/input_tokens, as the mini captures (undated: that answer has no created_at). From
    # the pull request's branch (strawgate/pydantic-ai); pydantic-ai's own copy says 7 for a body its header gives as
    # 93 bytes (this one: 112, as sent), so it was not recorded from this body.
    ("count_tokens", None,
     {"model": "gpt-4.1-mini", "input": [{"content": "", "role": "user"}],
      "instructions": "Follow the system instructions."}, 16),
]


@pytest.mark.parametrize("cassette, day, body, real", RECORDINGS, ids=[f"{r[0]}-{r[3]}" for r in RECORDINGS])
def test_recordings_outside_the_set_follow_the_rules(cassette, day, body, real):
    body = {"model": "gpt-4o", **body}
    model = _CATALOG.get(body["model"])
    req = parse_responses_request(body, model.max_output, reasoning_model=False)
    counted = counting.count_input(TokenCounter(), model, req, req.items, lambda item: None, day=day)
    assert counted.total == real
