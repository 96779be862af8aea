"""Every model id the installed official SDK knows (openai 3.60.0) answers as the real API does on the suite's day
(conftest.SUITE_AS_OF): a chat or responses request succeeds on the surfaces it serves, or the id is gone (404
model_not_found) because its announced shutdown date has passed."""

from __future__ import annotations

import typing

import orjson
import pytest
from conftest import SUITE_AS_OF
from openai.types import EmbeddingModel, ImageModel, ModerationModel
from openai.types.shared import ChatModel, ResponsesModel
from sentra_openai.catalog import Catalog
from sentra_openai.config import load_settings
from sentra_openai.engine import Request, build_engine

CHAT_IDS = typing.get_args(ChatModel)
RESPONSES_ONLY_IDS = typing.get_args(typing.get_args(ResponsesModel)[-1])
NOT_SUPPORTED = {"gpt-5.1-mini"}  # ChatModel docstring: "Not a supported model ID. Retained for SDK compatibility."
catalog = Catalog.default()


@pytest.fixture(scope="module")
def engine():
    return build_engine(load_settings(mode="fast", environ={}, cli={"models.as_of": SUITE_AS_OF}))


def post(engine, path: str, body: dict) -> tuple[int, dict]:
    outcome = engine.handle(Request("POST", path, {"content-type": "application/json"}, orjson.dumps(body)))
    return outcome.status, orjson.loads(outcome.body)


def test_the_sdk_lists_are_what_this_test_expects():
    assert "gpt-6-astra" in CHAT_IDS and "gpt-3.5-turbo" in CHAT_IDS
    assert "o3-pro" in RESPONSES_ONLY_IDS and "gpt-6.2-astra-law" in RESPONSES_ONLY_IDS


@pytest.mark.parametrize("name", sorted(set(CHAT_IDS) | set(RESPONSES_ONLY_IDS)))
def test_every_sdk_text_model_answers_or_is_gone(engine, name):
    if name in NOT_SUPPORTED:
        assert catalog.get(name) is None
        status, body = post(engine, "/v1/chat/completions", {"model": name, "messages": [{"role": "user", "content": "Hi"}]})
        assert (status, body["error"]["code"]) == (404, "model_not_found")
        return
    model = catalog.get(name)
    assert model is not None and model.kind == "chat", name
    chat_status, chat_body = post(engine, "/v1/chat/completions",
                                  {"model": name, "messages": [{"role": "user", "content": "Hi"}]})
    responses_status, responses_body = post(engine, "/v1/responses", {"model": name, "input": "Hi"})
    if model.retired_on(SUITE_AS_OF):
        assert model.shutdown is not None and model.shutdown <= SUITE_AS_OF
        for status, body in ((chat_status, chat_body), (responses_status, responses_body)):
            assert (status, body["error"]["code"]) == (404, "model_not_found"), (name, body)
        return
    if model.serves("chat"):
        assert chat_status == 200, (name, chat_body)
        assert chat_body["model"] in (name, model.snapshot)
        assert chat_body["usage"]["prompt_tokens"] > 0
    else:
        assert chat_status == 404 and "only supported in v1/responses" in chat_body["error"]["message"]
    if model.serves("responses"):
        assert responses_status == 200, (name, responses_body)
    else:
        assert responses_status == 404, (name, responses_body)
    if name in RESPONSES_ONLY_IDS:
        assert not model.serves("chat")


@pytest.mark.parametrize("name", [*typing.get_args(ImageModel), *typing.get_args(EmbeddingModel),
                                  *typing.get_args(ModerationModel)])
def test_every_sdk_image_embedding_and_moderation_model_is_in_the_catalog(name):
    model = catalog.get(name)
    assert model is not None, name
    kinds = {"dall-e": "image", "gpt-image": "image", "chatgpt-image": "image", "text-embedding": "embedding",
             "omni-moderation": "moderation", "text-moderation": "moderation"}
    assert model.kind == next(kind for prefix, kind in kinds.items() if name.startswith(prefix))


def test_shutdown_dates_follow_the_sdk_docstrings():
    # A sample from each paragraph of ChatModel's and ImageModel's "Deprecated values" notes.
    expected = {"gpt-3.5-turbo": "2026-10-23", "gpt-4-turbo": "2026-10-23", "o4-mini": "2026-10-23",
                "gpt-5": "2026-12-11", "o3": "2026-12-11", "gpt-4o": "2027-01-14", "gpt-4.1": "2027-01-14",
                "gpt-5.4-nano": "2027-04-01", "gpt-5.1": "2027-04-01", "gpt-5.2-chat-latest": "2026-08-10",
                "gpt-5-chat-latest": "2026-07-23", "o1-preview": "2025-07-28", "o1-mini": "2025-10-27",
                "gpt-audio-mini": "2027-01-20", "gpt-4o-audio-preview": "2026-05-07", "chatgpt-4o-latest": "2026-02-17",
                "codex-mini-latest": "2026-02-12", "gpt-4-0314": "2026-03-26", "gpt-4-vision-preview": "2024-12-06",
                "gpt-4-32k": "2025-06-06", "gpt-3.5-turbo-16k": "2024-09-13", "gpt-3.5-turbo-1106": "2026-09-28",
                "gpt-4o-audio-preview-2024-10-01": "2025-10-10",
                "dall-e-2": "2026-05-12", "dall-e-3": "2026-05-12", "gpt-image-1": "2026-10-23"}
    assert {name: catalog[name].shutdown for name in expected} == expected
    assert catalog["gpt-6-astra"].shutdown is None and catalog["gpt-5.5"].shutdown is None


def test_snapshots_resolve_to_their_model_and_echo():
    assert catalog.get("gpt-5.5-2026-04-23").id == "gpt-5.5"
    assert catalog.echo_model("gpt-5.4-mini") == "gpt-5.4-mini-2026-03-17"
    assert catalog.echo_model("gpt-5.1-2025-11-13") == "gpt-5.1-2025-11-13"


def test_new_models_are_billed_at_their_prices(engine):
    outcome = engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json"}, orjson.dumps(
        {"model": "gpt-6-astra", "messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 20})))
    body = orjson.loads(outcome.body)
    usage = body["usage"]
    # $10 / 1M input, $50 / 1M output (vercel.com/ai-gateway/models/gpt-6-astra)
    expected = (usage["prompt_tokens"] * 10 + usage["completion_tokens"] * 50) / 1_000_000
    assert float(outcome.headers["x-sentra-cost-usd"]) == pytest.approx(expected)
    assert catalog["gpt-6-astra"].context_window == 1_050_000 and catalog["gpt-6-astra"].max_output == 128_000
