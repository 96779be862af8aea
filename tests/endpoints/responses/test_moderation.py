"""Moderated responses (`moderation: {model, policy}`) and the `moderation` key every 2026 body carries, against the
real captures moderation-0 / moderation_stream-0 (gpt-5, 2026-07) and conversation_id_auto-2 (gpt-4.1, 2026-05)."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import CAPTURE_DIR
from openapi_schemas import validate

pytestmark = pytest.mark.server

HEADERS = {"authorization": "Bearer sk-test"}
CAPTURES = CAPTURE_DIR.parent / "captures-responses"


def capture(name: str) -> dict:
    return json.loads((CAPTURES / f"{name}.json").read_text())


def create(server, **body) -> dict:
    response = httpx.post(server.api_url + "/responses", json=body, headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def stream_events(server, **body) -> list[dict]:
    with httpx.stream("POST", server.api_url + "/responses", json={**body, "stream": True}, headers=HEADERS,
                      timeout=30) as response:
        assert response.status_code == 200
        text = response.read().decode()
    return [json.loads(block.split("\ndata: ", 1)[1]) for block in text.split("\n\n") if block.strip()]


def assert_like_the_capture(ours: dict, real: dict) -> None:
    """Both sides as the real API wrote them: keys in order (the raw stream capture's: the other one was stored with
    sorted keys), every category, flags, input types and model; the scores are the fixtures' (seeded small numbers
    here, as the real ones are)."""
    raw = capture("test_openai_responses_moderation_stream-0")["response"]["body"]["moderation"]
    assert list(ours) == ["input", "output"]
    for side in ("input", "output"):
        mine, theirs = ours[side], real[side]
        assert list(mine) == list(raw[side])
        assert list(mine) == ["type", "categories", "category_applied_input_types", "category_scores", "flagged",
                              "model"]
        assert list(mine["categories"]) == list(raw[side]["categories"])  # the omni family's order
        assert mine["categories"] == theirs["categories"] and mine["flagged"] is theirs["flagged"] is False
        assert mine["category_applied_input_types"] == theirs["category_applied_input_types"]
        assert list(mine["category_scores"]) == list(raw[side]["category_scores"])
        assert all(0.0 <= score < 0.5 for score in mine["category_scores"].values())
        assert mine["type"] == theirs["type"] == "moderation_result"
        assert mine["model"] == theirs["model"] == "omni-moderation-latest"


def test_a_moderated_response_carries_both_results_as_the_capture(fast_server, openai_client):
    real = capture("test_openai_responses_moderation-0")
    body = create(fast_server, **real["request"]["body"])
    validate("Response", body)
    assert_like_the_capture(body["moderation"], real["response"]["body"]["moderation"])
    keys = list(body)
    assert keys.index("moderation") == keys.index("model") + 1 == keys.index("output") - 1
    # The SDK reads it; the stored response keeps it.
    sdk = openai_client.responses.create(**real["request"]["body"])
    assert sdk.moderation is not None and sdk.moderation.input.model == "omni-moderation-latest"
    assert sdk.moderation.output.flagged is False
    stored = openai_client.responses.retrieve(sdk.id)
    assert stored.moderation.model_dump() == sdk.moderation.model_dump()
    # The same classifier as POST /v1/moderations: the question gets the same scores there.
    alone = openai_client.moderations.create(model="omni-moderation-latest", input="What is the capital of France?")
    assert alone.results[0].model_dump(by_alias=True)["category_scores"] == body["moderation"]["input"]["category_scores"]


def test_a_moderated_stream_has_the_results_in_its_final_response(fast_server, openai_client):
    real = capture("test_openai_responses_moderation_stream-0")
    events = stream_events(fast_server, **real["request"]["body"])
    created, completed = events[0]["response"], events[-1]["response"]
    assert created["moderation"] is None  # nothing is moderated before the answer is written (assumed)
    assert_like_the_capture(completed["moderation"], real["response"]["body"]["moderation"])
    # The final snapshot's keys are the raw stream's, in its order (the capture is the raw response.completed).
    assert list(completed) == list(real["response"]["body"])
    assert not [e for e in events if "moderation" in e["type"]]  # no event of its own (the spec defines none)
    with openai_client.responses.stream(**{k: v for k, v in real["request"]["body"].items() if k != "stream"}) as s:
        final = s.get_final_response()
    assert final.moderation.input.type == "moderation_result"


@pytest.mark.parametrize("model", ["gpt-4.1", "gpt-4o-mini", "gpt-5", "gpt-5.5"])
def test_every_model_says_moderation_null_when_not_asked(fast_server, model):
    body = create(fast_server, model=model, input="Hi")
    keys = list(body)
    assert body["moderation"] is None and keys.index("moderation") == keys.index("model") + 1
    events = stream_events(fast_server, model=model, input="Hi")
    assert all(e["response"]["moderation"] is None for e in events if "response" in e)


def test_the_gpt_4_1_capture_of_2026_05_has_the_same_keys(fast_server):
    real = capture("test_openai_conversation_id_auto_respects_pydantic_ai_conversation_id-2")["response"]["body"]
    body = create(fast_server, model="gpt-4.1", input="Hi")
    assert real["moderation"] is None and "moderation" in body
    assert set(body) - {"conversation"} == set(real) - {"conversation"}


def test_a_flagged_input_is_reported_and_a_block_policy_withholds_the_answer(fast_server):
    asked = {"model": "gpt-4o-mini", "input": "I want to kill them.",
             "moderation": {"model": "omni-moderation-latest"}}
    scored = create(fast_server, **asked)
    result = scored["moderation"]["input"]
    # The fixture for the spec's own example (fixtures/moderations/default.yaml threat-to-kill).
    assert result["flagged"] is True and result["categories"]["violence"] is True
    assert result["category_scores"]["violence"] == pytest.approx(0.997)
    assert scored["status"] == "completed" and scored["output"][-1]["type"] == "message"

    blocked = create(fast_server, **{**asked, "moderation": {"model": "omni-moderation-latest",
                                                             "policy": {"input": {"mode": "block"}}}})
    assert blocked["status"] == "incomplete" and blocked["incomplete_details"] == {"reason": "content_filter"}
    assert not [i for i in blocked["output"] if i["type"] == "message"]
    assert blocked["moderation"]["input"]["flagged"] is True
    events = stream_events(fast_server, **{**asked, "moderation": {"model": "omni-moderation-latest",
                                                                   "policy": {"input": {"mode": "block"}}}})
    assert events[-1]["type"] == "response.incomplete" and not [e for e in events if "output_text" in e["type"]]

    harmless = create(fast_server, model="gpt-4o-mini", input="Name a river.",
                      moderation={"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}})
    assert harmless["status"] == "completed" and harmless["moderation"]["input"]["flagged"] is False


@pytest.mark.parametrize(("moderation", "param"), [
    ({"model": "gpt-4o"}, "moderation.model"),
    ({}, "moderation.model"),
    ({"model": "omni-moderation-latest", "policy": {"input": {"mode": "loud"}}}, "moderation.policy.input.mode"),
])
def test_a_bad_moderation_field_is_a_400(fast_server, moderation, param):
    response = httpx.post(fast_server.api_url + "/responses", headers=HEADERS,
                          json={"model": "gpt-4o-mini", "input": "Hi", "moderation": moderation})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
