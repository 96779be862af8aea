"""Moderated responses (`moderation: {model, policy}`): the input and the answer are classified by the moderation
fixtures (engine/content/moderation_rules.py, as POST /v1/moderations and moderated chat completions do), and the
response carries `moderation: {input, output}`, one `moderation_result` each (the spec's Moderation and
ModerationResultBody).

Shape: captures moderation-0 and moderation_stream-0 (gpt-5, 2026-07-21): each result's keys come type, categories,
category_applied_input_types, category_scores, flagged, model (the raw stream's order); the categories in the omni
family's order (config/moderation.yaml); `model` echoes the name asked ("omni-moderation-latest"), not its snapshot.
A request without `moderation` gets `moderation: null` (every body since 2026-05, every model).

Assumed (no capture shows it): stream snapshots before the end (response.created, .in_progress) and a background
response in flight carry null (the spec's Moderation requires both sides, and the output is not written yet); no
stream event of its own (the spec defines none). The input classified is the instructions and every message's text
and image URLs; the output, the answer's text, refusals and function-call arguments. A `block` policy whose side is
flagged withholds the answer: status incomplete with reason content_filter (the spec's incomplete_details reason;
how a blocked response looks on the wire is unconfirmed), reasoning items kept, the generated tokens still billed.
"""

from __future__ import annotations

from typing import Any

from ...content.moderation_rules import ModerationRules, rules_of
from ...core import Call
from ...validation import Fields
from ..chat import field_rules


def check(body: dict[str, Any], catalog) -> None:
    """The chat rules for the field (a moderation model, policy modes score|block): OpenAI's 400 otherwise."""
    field_rules.check_moderation(Fields(body), catalog)  # one rule for both surfaces


def _result(call: Call, rules: ModerationRules, model, name: str, texts: list[str], images: list[str]) -> dict[str, Any]:
    family = rules.family_of(model)
    # POST /v1/moderations' key: one text gets the same scores there and here.
    key = call.content_key("moderation", model.id, texts, images)
    result = call.generated(key, lambda rng: rules.classify(model.id, family, texts, images, rng))
    return {"type": "moderation_result", "categories": result.categories,
            "category_applied_input_types": result.applied, "category_scores": result.scores,
            "flagged": result.flagged, "model": name}


def input_parts(instructions: str | None, items: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The texts and image URLs of the input: instructions, then every message item's parts."""
    texts = [instructions] if isinstance(instructions, str) and instructions else []
    images: list[str] = []
    for item in items:
        if item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
                images.append(part["image_url"])
    return texts, images


def output_texts(output: list[dict[str, Any]]) -> list[str]:
    texts = []
    for item in output:
        if item.get("type") == "message":
            for part in item.get("content") or []:
                text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
                if isinstance(text, str):
                    texts.append(text)
        elif item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            texts.append(item["arguments"])
    return texts


def moderate(call: Call, config: dict[str, Any], instructions: str | None, items: list[dict[str, Any]],
             output: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The `moderation` object, and whether the policy blocks the answer."""
    name = config["model"]
    model = call.services.catalog.get(name)
    assert model is not None  # check() refused anything but a moderation model
    rules = rules_of(tuple(str(p) for p in call.settings.moderation_fixture_paths()))
    texts, images = input_parts(instructions, items)
    moderation = {"input": _result(call, rules, model, name, texts, images),
                  "output": _result(call, rules, model, name, output_texts(output), [])}
    policy = config.get("policy") or {}
    blocked = any(moderation[side]["flagged"] and ((policy.get(side) or {}).get("mode") == "block")
                  for side in ("input", "output"))
    return moderation, blocked
