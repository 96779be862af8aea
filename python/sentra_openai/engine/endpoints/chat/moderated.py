"""Moderated chat completions (`moderation: {model, policy}`): the request's input and each generated answer are
classified by the moderation fixtures (engine/content/moderation_rules.py, the same as POST /v1/moderations), and the
completion carries the results as `moderation: {input, output}` (openai 3.57.0 types/chat/chat_completion.py
`Moderation`; the spec's ChatCompletionModeration). A stream sends them on their own chunk before the usage chunk.

A `block` policy whose side is flagged withholds the content: the choice keeps no text and finishes with
`content_filter` (the finish reason OpenAI documents for "content omitted due to a flag from our content filters";
how a blocked moderated completion looks on the wire is assumed -- unconfirmed).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...content.moderation_rules import ModerationRules, rules_of
from ...core import Call
from .generate import Choice
from .request import ChatRequest


def _classify(call: Call, rules: ModerationRules, model, texts: list[str], images: list[str]) -> dict[str, Any]:
    family = rules.family_of(model)
    key = call.content_key("chat-moderation", model.id, texts, images)
    result = call.generated(key, lambda rng: rules.classify(model.id, family, texts, images, rng))
    return {"type": "moderation_result", "model": model.snapshot, "flagged": result.flagged,
            "categories": result.categories, "category_scores": result.scores,
            "category_applied_input_types": result.applied}


def _input_parts(req: ChatRequest) -> tuple[list[str], list[str]]:
    texts, images = [], []
    for message in req.messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
                    images.append(str(part["image_url"].get("url", "")))
    return texts, images


def moderate(call: Call, req: ChatRequest, choices: list[Choice]) -> tuple[dict[str, Any], list[Choice]]:
    """The `moderation` object and the choices as delivered (blocked ones emptied)."""
    config = req.raw["moderation"]
    model = call.services.catalog.get(config["model"])
    assert model is not None  # field_rules.check refused anything but a moderation model
    rules = rules_of(tuple(str(p) for p in call.settings.moderation_fixture_paths()))
    policy = config.get("policy") or {}
    texts, images = _input_parts(req)
    input_result = _classify(call, rules, model, texts, images)
    output_results = [_classify(call, rules, model, [c.content or ""] + [t.arguments for t in c.tool_calls], [])
                      for c in choices]
    blocked_input = input_result["flagged"] and (policy.get("input") or {}).get("mode") == "block"
    block_output = (policy.get("output") or {}).get("mode") == "block"
    delivered = []
    for choice, result in zip(choices, output_results):
        if blocked_input or (block_output and result["flagged"]):
            choice = dataclasses.replace(choice, content=None, pieces=[], tool_calls=[], logprobs=None,
                                         finish_reason="content_filter")
        delivered.append(choice)
    moderation = {
        "input": {"type": "moderation_results", "model": model.snapshot, "results": [input_result]},
        "output": {"type": "moderation_results", "model": model.snapshot, "results": output_results},
    }
    return moderation, delivered
