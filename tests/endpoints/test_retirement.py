"""Model shutdowns as the real API applies them, judged on `models.as_of`: before the announced date the model
answers, from that day on it is OpenAI's 404 model_not_found (the exact body of an unknown model) and unlisted."""

from __future__ import annotations

import json

import orjson
import pytest
from conftest import CAPTURE_DIR, SUITE_AS_OF
from sentra_openai.config import ConfigError, load_settings
from sentra_openai.engine import Request, build_engine, retirement

HELLO = [{"role": "user", "content": "Hello!"}]


def engine_on(day: str, **cli):
    return build_engine(load_settings(mode="fast", environ={}, cli={"models.as_of": day, **cli}))


def call(engine, method: str, path: str, body: dict | None = None):
    outcome = engine.handle(Request(method, path, {"content-type": "application/json"},
                                    orjson.dumps(body) if body is not None else b""))
    return outcome, orjson.loads(outcome.body)


def chat(engine, model: str):
    return call(engine, "POST", "/v1/chat/completions", {"model": model, "messages": HELLO})


def unknown_model_body(model: str) -> dict:
    capture = json.loads((CAPTURE_DIR / "chat-unknown-model.json").read_text())
    body = capture["response"]["body"]
    body["error"]["message"] = body["error"]["message"].replace("gpt-4.1-nano-wrong", model)
    return body


@pytest.mark.parametrize(("model", "last_day", "shutdown"), [
    ("gpt-5-nano", "2026-12-10", "2026-12-11"),          # ChatModel docstring: 2026-12-11
    ("gpt-5-nano-2025-08-07", "2026-12-10", "2026-12-11"),
    ("gpt-3.5-turbo", "2026-10-22", "2026-10-23"),
    ("gpt-4o", "2027-01-13", "2027-01-14"),
    ("gpt-4o-2024-05-13", "2026-10-22", "2026-10-23"),   # a snapshot with its own date, before its alias's
    ("gpt-3.5-turbo-1106", "2026-09-27", "2026-09-28"),
])
def test_a_model_answers_until_its_shutdown_date_then_is_an_unknown_model(model, last_day, shutdown):
    outcome, body = chat(engine_on(last_day), model)
    assert outcome.status == 200, body
    outcome, body = chat(engine_on(shutdown), model)
    assert outcome.status == 404
    assert body == unknown_model_body(model)
    assert outcome.headers["content-type"] == "application/json; charset=utf-8"
    assert outcome.body.startswith(b'{\n    "error"')  # the 4-space body of the real 404 (openai-wire.md §2.3)


def test_the_listing_and_retrieval_follow_the_date():
    before, after = engine_on("2026-12-10"), engine_on("2026-12-11")
    listed_before = {m["id"] for m in call(before, "GET", "/v1/models")[1]["data"]}
    listed_after = {m["id"] for m in call(after, "GET", "/v1/models")[1]["data"]}
    assert {"gpt-5", "gpt-5-2025-08-07", "o3", "o3-2025-04-16"} <= listed_before
    assert listed_before - listed_after == {"gpt-5", "gpt-5-2025-08-07", "gpt-5-mini", "gpt-5-mini-2025-08-07",
                                            "gpt-5-nano", "gpt-5-nano-2025-08-07", "o3", "o3-2025-04-16"}
    assert call(before, "GET", "/v1/models/o3")[1]["shutdown_date"] == "2026-12-11"
    outcome, body = call(after, "GET", "/v1/models/o3")
    assert outcome.status == 404 and body["error"]["code"] == "model_not_found"


def test_every_endpoint_applies_the_date():
    engine = engine_on("2026-06-01")
    outcome, body = call(engine, "POST", "/v1/images/generations", {"model": "dall-e-3", "prompt": "a cat"})
    assert outcome.status == 404 and body["error"]["code"] == "model_not_found"  # ImageModel: retired 2026-05-12
    outcome, _ = call(engine_on("2026-05-11"), "POST", "/v1/images/generations", {"model": "dall-e-3", "prompt": "a cat"})
    assert outcome.status == 200


def test_a_lenient_server_serves_a_retired_name_with_its_fallback():
    engine = engine_on("2026-12-11", **{"models.strict": False})
    outcome, body = chat(engine, "gpt-5-nano")
    assert outcome.status == 200
    assert body["model"] == "gpt-4o-mini-2024-07-18"  # models.fallback


def test_a_retired_fallback_gives_way_to_a_live_model_of_the_kind():
    engine = engine_on("2027-06-01", **{"models.strict": False})  # gpt-4o-mini (the fallback) is gone by then
    outcome, body = chat(engine, "no-such-model")
    assert outcome.status == 200
    assert body["model"] != "gpt-4o-mini-2024-07-18"


def test_today_is_the_real_utc_date_and_the_suite_pins_it():
    import datetime

    assert retirement.utc_today() == datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    settings = load_settings(mode="fast", environ={})
    assert settings.models.as_of == "today"
    assert retirement.as_of_day(settings) == SUITE_AS_OF  # conftest pins "today" for a deterministic suite


def test_as_of_is_validated_and_accepts_an_unquoted_yaml_date(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  as_of: 2026-12-11\n")
    assert load_settings(path, environ={}).models.as_of == "2026-12-11"
    assert load_settings(environ={"SENTRA_MODELS_AS_OF": "2027-01-01"}).models.as_of == "2027-01-01"
    with pytest.raises(ConfigError, match="models.as_of"):
        load_settings(environ={}, cli={"models.as_of": "tomorrow"})
    with pytest.raises(ConfigError, match="models.as_of"):
        load_settings(environ={}, cli={"models.as_of": "2026-13-01"})


def test_responses_only_models_are_refused_on_chat_completions():
    engine = engine_on(SUITE_AS_OF)
    outcome, body = chat(engine, "o3-pro")
    assert outcome.status == 404
    assert body["error"] == {"message": "This model is only supported in v1/responses and not in v1/chat/completions.",
                             "type": "invalid_request_error", "param": "model", "code": None}
    listed = {m["id"] for m in call(engine, "GET", "/v1/models")[1]["data"]}
    assert {"o3-pro", "gpt-5.5-pro", "gpt-6-cyber"} <= listed
