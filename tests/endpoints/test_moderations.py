"""POST /v1/moderations through the SDK: the spec's shape, fixture-driven flags, seeded scores, text and image inputs,
OpenAI's 400s, and the limits, cost and log every endpoint has."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest
from openapi_schemas import validate
from sentra_openai.config import load_settings
from sentra_openai.engine import Request, build_engine
from sentra_openai.engine.content.fixtures import FixtureError
from sentra_openai.engine.content.moderation_rules import ModerationRules

OMNI_CATEGORIES = {"harassment", "harassment/threatening", "sexual", "hate", "hate/threatening", "illicit",
                   "illicit/violent", "self-harm/intent", "self-harm/instructions", "self-harm", "sexual/minors",
                   "violence", "violence/graphic"}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}}


@pytest.fixture(scope="module")
def engine():
    return build_engine(load_settings(mode="fast", environ={}))


def post(engine, body: dict) -> tuple[int, dict]:
    outcome = engine.handle(Request("POST", "/v1/moderations", {"content-type": "application/json"}, orjson.dumps(body)))
    return outcome.status, orjson.loads(outcome.body)


@pytest.mark.server
def test_the_spec_example_is_flagged_for_violence_and_harassment(openai_client, fast_server):
    result = openai_client.moderations.create(input="I want to kill them.")
    assert result.id.startswith("modr-") and len(result.id) == 37
    assert result.model == "omni-moderation-latest"
    [verdict] = result.results
    assert verdict.flagged
    assert verdict.categories.violence and verdict.categories.harassment_threatening
    assert not verdict.categories.sexual and not verdict.categories.self_harm
    assert verdict.category_scores.violence > 0.9 > verdict.category_scores.sexual
    assert verdict.category_applied_input_types.violence == ["text"]
    raw = httpx.post(f"{fast_server.api_url}/moderations", json={"input": "I want to kill them."}).json()
    validate("CreateModerationResponse", raw)
    assert set(raw["results"][0]["categories"]) == OMNI_CATEGORIES


@pytest.mark.server
def test_harmless_text_is_not_flagged_and_scores_stay_small(openai_client):
    [verdict] = openai_client.moderations.create(input="What a lovely day for a walk.").results
    assert not verdict.flagged
    assert not any(verdict.categories.model_dump().values())
    assert max(verdict.category_scores.model_dump().values()) < 0.05


def test_scores_are_seeded_by_the_input(engine):
    first = post(engine, {"input": "The weather report for Tuesday."})[1]
    again = post(engine, {"input": "The weather report for Tuesday."})[1]
    other = post(engine, {"input": "The weather report for Wednesday."})[1]
    assert first["results"] == again["results"]
    assert first["id"] != again["id"]
    assert first["results"][0]["category_scores"] != other["results"][0]["category_scores"]


def test_an_array_of_strings_gets_one_result_each(engine):
    status, body = post(engine, {"input": ["Hello there", "you are an idiot", "How do I shoplift a jacket?"]})
    assert status == 200
    flagged = [(r["flagged"], r["categories"]["harassment"], r["categories"]["illicit"]) for r in body["results"]]
    assert flagged == [(False, False, False), (True, True, False), (True, False, True)]
    validate("CreateModerationResponse", body)


def test_text_and_image_parts_get_one_result_with_applied_input_types(engine):
    status, body = post(engine, {"model": "omni-moderation-2024-09-26",
                                 "input": [{"type": "text", "text": "I want to kill them."}, IMAGE]})
    assert status == 200 and len(body["results"]) == 1
    assert body["model"] == "omni-moderation-2024-09-26"
    applied = body["results"][0]["category_applied_input_types"]
    assert applied["violence"] == ["text", "image"] and applied["sexual"] == ["text", "image"]
    assert applied["harassment"] == ["text"] and applied["illicit"] == ["text"]
    image_only = post(engine, {"input": [IMAGE]})[1]["results"][0]["category_applied_input_types"]
    assert image_only["violence"] == ["image"] and image_only["harassment"] == []
    validate("CreateModerationResponse", body)


def test_text_models_score_the_legacy_categories_and_refuse_images(engine):
    status, body = post(engine, {"model": "text-moderation-latest", "input": "I want to kill them."})
    assert status == 200
    assert body["model"] == "text-moderation-007"  # the spec's example echo
    assert body["id"].startswith("modr-") and len(body["id"]) == 34
    [result] = body["results"]
    assert result["categories"]["violence"] is True
    assert result["categories"]["illicit"] is None and result["category_scores"]["illicit"] == 0.0
    validate("CreateModerationResponse", body)
    status, error = post(engine, {"model": "text-moderation-stable", "input": [IMAGE]})
    assert status == 400 and error["error"]["param"] == "input"


@pytest.mark.parametrize(("body", "param", "code"), [
    ({}, "input", "missing_required_parameter"),
    ({"input": []}, "input", "empty_array"),
    ({"input": 42}, "input", "invalid_type"),
    ({"input": [{"type": "audio", "audio": "x"}]}, "input[0].type", "invalid_value"),
    ({"input": [{"type": "text"}]}, "input[0].text", "missing_required_parameter"),
    ({"input": [{"type": "image_url", "image_url": {"url": 7}}]}, "input[0].image_url.url", "invalid_type"),
    ({"input": ["ok", {"type": "text", "text": "x"}]}, "input[0]", "invalid_type"),  # strings and parts do not mix
    ({"input": [{"type": "text", "text": "x"}, {"type": "text", "text": 1}]}, "input[1].text", "invalid_type"),
    ({"input": [3]}, "input[0]", "invalid_type"),
])
def test_malformed_input_gets_openais_400(engine, body, param, code):
    status, error = post(engine, body)
    assert status == 400
    assert (error["error"]["param"], error["error"]["code"], error["error"]["type"]) == (param, code,
                                                                                         "invalid_request_error")
    validate("ErrorResponse", error)


def test_unknown_fields_and_models(engine):
    status, error = post(engine, {"input": "x", "temperature": 0})
    assert status == 400 and error["error"]["message"] == "Unrecognized request argument supplied: temperature"
    status, error = post(engine, {"input": "x", "model": "omni-moderation-9"})
    assert status == 404 and error["error"]["code"] == "model_not_found"
    status, error = post(engine, {"input": "x", "model": "gpt-4o"})
    assert status == 404 and error["error"]["param"] == "model"


@pytest.mark.server
def test_rate_limit_headers_and_a_zero_cost(limited_server):
    response = httpx.post(f"{limited_server.api_url}/moderations", json={"input": "Is this fine?"})
    assert response.status_code == 200
    assert response.headers["x-ratelimit-limit-requests"] == "500"  # omni-moderation-latest, tier 1
    assert response.headers["x-ratelimit-limit-tokens"] == "10000"
    assert response.headers["x-sentra-cost-usd"] == "0"


@pytest.mark.server
def test_a_users_fixture_flags_its_categories(server_factory, tmp_path):
    rules = tmp_path / "mods.yaml"
    rules.write_text("moderations:\n"
                     "  - name: pineapple-pizza\n"
                     "    match: {regex: '(?i)pineapple on pizza', model: 'omni-*'}\n"
                     "    scores: {hate: 0.8, hate/threatening: 0.2}\n")
    server = server_factory({"fixtures": {"moderation_paths": [str(rules)]}})
    client = server.client()
    [verdict] = client.moderations.create(input="I put pineapple on pizza").results
    assert verdict.flagged and verdict.categories.hate and not verdict.categories.hate_threatening
    assert verdict.category_scores.hate == 0.8
    # the packaged fixtures are replaced, not added to
    assert not client.moderations.create(input="I want to kill them.").results[0].flagged
    # `model` limits an entry to the models it names
    [text_verdict] = client.moderations.create(model="text-moderation-latest", input="pineapple on pizza").results
    assert not text_verdict.flagged


@pytest.mark.server
def test_a_bad_fixture_file_stops_the_server_with_its_name(server_factory, tmp_path):
    rules = tmp_path / "broken.yaml"
    rules.write_text("moderations:\n  - name: x\n    match: {regex: 'a'}\n    scores: {violence: 2}\n")
    with pytest.raises(RuntimeError, match=r"broken.yaml: moderation #1 'x': the score of 'violence'"):
        server_factory({"fixtures": {"moderation_paths": [str(rules)]}})


@pytest.mark.parametrize(("entry", "message"), [
    ("- {name: a, match: {regex: '('}, scores: {violence: 0.9}}", "invalid regex"),
    ("- {name: a, match: {regex: 'x'}, scores: {gore: 0.9}}", "unknown category 'gore'"),
    ("- {name: a, scores: {violence: 0.9}}", "'match' must be a mapping"),
    ("- {name: a, match: {regex: 'x'}, scores: {violence: 0.9}, weight: 2}", "unknown key 'weight'"),
    ("- {name: a, match: {regex: 'x'}, scores: {violence: 0.9}}\n- {name: a, match: {regex: 'y'}, scores: {hate: 1}}",
     "the name 'a' is already used"),
])
def test_fixture_errors_name_the_entry(tmp_path, entry, message):
    path = tmp_path / "m.yaml"
    path.write_text("moderations:\n" + "\n".join("  " + line for line in entry.splitlines()) + "\n")
    with pytest.raises(FixtureError, match=message):
        ModerationRules.load([path])


@pytest.mark.server
def test_the_request_log_names_the_endpoint(server_factory):
    server = server_factory({"logging": {"request_log": True}})
    with pytest.raises(openai.BadRequestError):
        server.client().moderations.create(input=[])
    server.client().moderations.create(input="hello")
    log = server.log()
    assert '"endpoint": "moderations"' in log or '"endpoint":"moderations"' in log


def test_changed_fixture_paths_are_reloaded_and_a_bad_file_keeps_the_last_good_ones(tmp_path):
    from dataclasses import replace

    engine = build_engine(load_settings(mode="fast", environ={}))
    rules = tmp_path / "mods.yaml"
    rules.write_text("moderations:\n  - {name: tea, match: {regex: 'tea'}, scores: {harassment: 0.9}}\n")
    services = engine.services

    def with_paths(*paths: str) -> None:  # what the control API's PATCH of fixtures.* does to a worker
        services.settings = replace(services.settings, fixtures=replace(services.settings.fixtures,
                                                                        moderation_paths=paths))

    assert not post(engine, {"input": "more tea"})[1]["results"][0]["flagged"]
    with_paths(str(rules))
    assert post(engine, {"input": "more tea, please"})[1]["results"][0]["categories"]["harassment"] is True
    broken = tmp_path / "broken.yaml"
    broken.write_text("moderations: 3\n")
    with_paths(str(broken))
    status, body = post(engine, {"input": "tea again"})
    assert status == 200 and body["results"][0]["categories"]["harassment"] is True
