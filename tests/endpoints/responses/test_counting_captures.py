"""Replays every recorded real Responses request (shared/data/captures-responses) and compares usage.input_tokens
(and the status, and error bodies) with the real answer.

The counting rules (engine/endpoints/responses/counting.py, constants in config/responses.yaml) reproduce most
captures exactly. The others are listed in KNOWN_GAPS with the reason and the largest difference allowed, so that
a change which makes them worse fails too.
"""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import ROOT, start_server
from openapi_schemas import validate

pytestmark = pytest.mark.server

CAPTURES = sorted((ROOT / "tests" / "data" / "captures-responses").glob("*.json"))  # copied from shared/data

# name -> (largest |ours - real| allowed, why it is not exact)
_EARLY_2025 = "recorded 2025-03, when the API billed an undisclosed preamble (+18 with instructions, +~200 with tools)"
KNOWN_GAPS = {
    "test_openai_responses_system_prompt-0": (18, _EARLY_2025),
    "test_openai_responses_stream-0": (216, _EARLY_2025),
    "test_openai_responses_stream-1": (216, _EARLY_2025),
    "test_openai_responses_model_retry-1": (214, _EARLY_2025),
    "test_openai_responses_output_type-0": (229, _EARLY_2025),
    "test_openai_responses_compact_with_auto_previous_response_id_chain-5": (7, "compaction blobs: a linear fit"),
    "test_openai_responses_compact_with_auto_previous_response_id_chain-7": (7, "compaction blobs: a linear fit"),
    "test_openai_responses_compact_stateful_mode_stream-3": (7, "compaction blobs: a linear fit"),
    "test_openai_responses_compact_stateful_mode_stream-1": (1, "one token more for a long assistant text: unexplained"),
    "test_openai_responses_compact_stateful_mode_stream-2": (1, "one token more for a long assistant text: unexplained"),
    "test_prompted_output_multiple-0": (1, "one token more for a long system message: unexplained"),
    "test_prompted_output_multiple-1": (1, "one token more for a long system message: unexplained"),
    "test_responses_usage_limit_not_exceeded-0": (1, "gpt-4.1-mini counts one more than gpt-4.1: unexplained"),
    "test_responses_usage_limit_not_exceeded-1": (1, "gpt-4.1-mini counts one more than gpt-4.1: unexplained"),
    "test_responses_count_tokens_with_tools-0": (6, "gpt-4.1-mini with a tool and tool_choice required: unexplained"),
    "test_openai_responses_reasoning_generate_summary-0": (1, "computer-use-preview: its prompt format is unknown"),
}
# Captures the simulator cannot replay: the model is not one it can stand in for.
SKIPPED: dict[str, str] = {}


@pytest.fixture(scope="module")
def lenient_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("responses-captures"),
                          {"latency": {"enable": False}, "error_injection": {"enable": False},
                           "metrics": {"enable": False}, "models": {"strict": False, "fallback": "gpt-5"}},
                          mode="default")
    yield server
    server.stop()


def _final_of_stream(text: str) -> dict:
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    return next(e["response"] for e in events if e["type"] in ("response.completed", "response.incomplete"))


@pytest.mark.parametrize("path", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_replay_matches_the_real_input_tokens(lenient_server, path):
    if path.stem in SKIPPED:
        pytest.skip(SKIPPED[path.stem])
    capture = json.loads(path.read_text())
    request, expected = capture["request"], capture["response"]
    response = httpx.post(lenient_server.base_url + request["path"], json=request["body"],
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
    """The calibration covers the sample: at least 30 of the 47 captures are reproduced exactly."""
    exact = [p for p in CAPTURES if p.stem not in KNOWN_GAPS and p.stem not in SKIPPED]
    assert len(exact) >= 30
