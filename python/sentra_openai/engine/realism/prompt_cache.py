"""Automatic prompt caching as OpenAI reports it: a prompt of 1024 tokens or more whose prefix the same API key sent
recently to the same model is billed partly at the cached price, with `cached_tokens` counted in 128-token steps
(1024, 1152, 1280, ...).

Source: OpenAI's prompt-caching guide (caching starts at 1024 tokens, hits grow in 128-token increments, the prefix
must match exactly, entries live 5-10 minutes of inactivity, `prompt_cache_retention: "24h"` keeps them up to a day,
`prompt_cache_key` steers routing); shared/data/openapi/openapi.yaml (prompt_cache_key, prompt_cache_retention).

The cache works on a token sequence that mirrors the prompt as the model reads it: tool definitions first, then each
message's formatting tokens, role, name and content. For text prompts its positions are the positions of
usage.prompt_tokens, so cached_tokens is exact; image parts stand in as a short digest, so after an image the
counted prefix is an estimate.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ...config import PromptCachingSettings

EXTENDED_RETENTION_SECONDS = 24 * 3600  # prompt_cache_retention: "24h"
# Ids that no tokenizer produces, standing for tokens without text (message framing, tool framing).
_FRAME_TOKEN = 0xFFFF_FFF0
_TOOLS_TOKEN = 0xFFFF_FFF1


def prompt_token_ids(
    encode: Callable[[str], list[int]],
    messages: Sequence[Mapping[str, Any]],
    tools_text: str | None = None,
    tokens_per_message: int = 3,
    reply_priming: int = 3,
) -> list[int]:
    """The token sequence the cache compares: `tools_text` (the rendered tool definitions), every message, then the
    tokens that prime the reply (the same in every request, so a fully repeated prompt is cached to its end)."""
    ids: list[int] = []
    if tools_text:
        ids.append(_TOOLS_TOKEN)
        ids.extend(encode(tools_text))
    for message in messages:
        ids.extend([_FRAME_TOKEN] * tokens_per_message)
        ids.extend(encode(str(message.get("role") or "")))
        name = message.get("name")
        if isinstance(name, str) and name:
            ids.extend(encode(name))
        content = message.get("content")
        if isinstance(content, str):
            ids.extend(encode(content))
        elif isinstance(content, list):
            for part in content:
                ids.extend(encode(_part_text(part)))
        for key in ("tool_calls", "function_call"):
            if message.get(key):
                ids.extend(encode(orjson.dumps(message[key]).decode()))
        for key in ("tool_call_id", "refusal"):
            value = message.get(key)
            if isinstance(value, str):
                ids.extend(encode(value))
    ids.extend([_FRAME_TOKEN] * reply_priming)
    return ids


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return ""
    for key in ("text", "refusal"):
        if isinstance(part.get(key), str):
            return part[key]
    # An image (or audio, file) part: its identity matters, not its bytes; a digest keeps base64 data out of the ids.
    digest = hashlib.blake2b(orjson.dumps(part, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()
    return f"<{part.get('type', 'part')}:{digest}>"


def step_floor(tokens: int, min_tokens: int, increment: int) -> int:
    """The largest cacheable length <= tokens: 0 below min_tokens, else min_tokens + k * increment."""
    if tokens < min_tokens:
        return 0
    return min_tokens + (tokens - min_tokens) // increment * increment


class PromptCache:
    def __init__(self, settings: PromptCachingSettings, max_entries: int = 200_000) -> None:
        self.settings = settings
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # digest of (scope, prefix) -> expiry time

    def cached_tokens(self, scope: str, token_ids: Sequence[int], now: float, *, prompt_tokens: int | None = None,
                      ttl_seconds: float | None = None) -> int:
        """The cached prefix length of this prompt (0, or min_tokens + k * increment), remembering its prefixes.

        `scope` separates caches (API key, model, prompt_cache_key); `prompt_tokens` (usage.prompt_tokens) caps
        the answer, since the id sequence may differ from it by a few framing tokens.
        """
        s = self.settings
        total = len(token_ids) if prompt_tokens is None else prompt_tokens
        if not s.enable or total < s.min_tokens or len(token_ids) < s.min_tokens:
            return 0
        ttl = s.ttl_seconds if ttl_seconds is None else ttl_seconds
        hit = 0
        digest = hashlib.blake2b(scope.encode(), digest_size=16)
        position = 0
        for boundary in range(s.min_tokens, len(token_ids) + 1, s.increment):
            digest.update(_pack(token_ids[position:boundary]))
            position = boundary
            key = digest.digest()
            expires = self._seen.get(key)
            live = expires is not None and now <= expires
            if live:
                hit = boundary  # digests are cumulative: a matching digest means the whole prefix matches
            # Every use refreshes the entry (OpenAI evicts after a period of inactivity).
            self._seen[key] = max(expires, now + ttl) if live else now + ttl
            self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return min(hit, step_floor(total, s.min_tokens, s.increment))


def _pack(ids: Sequence[int]) -> bytes:
    return array("I", ids).tobytes()  # 4 bytes per id (tokenizer ids and the framing ids all fit)
