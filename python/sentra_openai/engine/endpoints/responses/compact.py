"""POST /v1/responses/compact: a conversation (its `input`, or a previous_response_id chain plus `input`) compacted
into all of its user messages followed by one opaque `compaction` item, which a later create accepts in `input`.
Both `input` and `previous_response_id` are optional in the spec: with neither, only the instructions are compacted.

Shapes: the spec's CompactResource and CompactResponseMethodPublicBody (shared/data/openapi), the SDK's
CompactedResponse ("a list of all user messages, followed by a single compaction item"); ids: reference §1.6
(compaction ids put `01` where responses put `00`).
"""

from __future__ import annotations

import base64
from typing import Any

from ... import errors, respond
from ...core import Call, Engine
from ...types import Outcome
from ...validation import Fields, parse_json_object
from . import stored

KNOWN_FIELDS = frozenset({"model", "input", "previous_response_id", "instructions", "prompt_cache_key",
                          "prompt_cache_retention", "prompt_cache_options", "image", "service_tier"})
# The compaction pass writes a summary: its size follows the conversation's (an assumption: OpenAI publishes none).
SUMMARY_RATIO = 8
MIN_SUMMARY_TOKENS = 16
BLOB_BYTES_PER_TOKEN = 3  # encrypted_content grows with the summary, as reasoning blobs grow with their tokens


def register(engine: Engine) -> None:
    engine.route("POST", "/v1/responses/compact", "responses.compact", compact)


def compact(call: Call) -> Outcome:
    body = parse_json_object(call.request.body)
    Fields(body).reject_unknown_parameters(KNOWN_FIELDS)
    if "model" not in body or body["model"] is None:
        raise errors.missing_parameter("model")
    if not isinstance(body["model"], str):
        raise errors.invalid_type("model", "a string", body["model"])
    model = call.resolve_model(body["model"])
    request_input = body.get("input")
    if request_input is not None and not isinstance(request_input, (str, list)):
        raise errors.invalid_type("input", "a string or an array", request_input)
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise errors.invalid_type("previous_response_id", "a string", previous)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise errors.invalid_type("instructions", "a string", instructions)

    now = int(call.services.wall_clock())
    shared = f"{call.id_rng.getrandbits(64):016x}"
    compaction_id = f"resp_{shared}01{now:08x}{call.id_rng.getrandbits(96):024x}"
    items = (stored.chain_items(call, previous) if previous else []) + stored.normalize_input(
        call, request_input, compaction_id)

    text = "\n".join([instructions or "", *(_item_text(item) for item in items)])
    input_tokens = call.services.tokens.text_tokens(model, text) if model.encoding else len(text) // 4
    summary_tokens = max(MIN_SUMMARY_TOKENS, input_tokens // SUMMARY_RATIO)
    # A compaction is a model pass: the same rate-limit buckets as a create of this model, and billed as one.
    respond.admit(call, model, input_tokens + summary_tokens, lambda: input_tokens)
    blob = call.generated(call.content_key("compaction", text),
                          lambda rng: _blob(rng.randbytes(summary_tokens * BLOB_BYTES_PER_TOKEN)))
    user_messages = [item for item in items if item.get("type") == "message" and item.get("role") == "user"]
    compaction = {"id": f"cmp_{shared}01{now:08x}{call.id_rng.getrandbits(96):024x}", "type": "compaction",
                  "encrypted_content": blob}
    usage = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
             "output_tokens": summary_tokens, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": input_tokens + summary_tokens}
    respond.charge_tokens(call, model, input_tokens, 0, summary_tokens)
    return respond.json_outcome({"id": compaction_id, "object": "response.compaction", "created_at": now,
                                 "output": [*user_messages, compaction], "usage": usage})


def _blob(raw: bytes) -> str:
    """Fernet-looking, as OpenAI's encrypted_content is ("gAAAAA…", reference §1.2)."""
    return "gAAAAAB" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _item_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text") or part.get("refusal") or "") for part in content if isinstance(part, dict))
    for key in ("arguments", "output", "encrypted_content"):
        if isinstance(item.get(key), str):
            return item[key]
    return ""
