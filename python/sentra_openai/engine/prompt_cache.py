"""Automatic prompt caching as OpenAI reports it: a prompt of 1024 tokens or more whose prefix this API key sent
recently is billed partly at the cached price, with `cached_tokens` in 128-token steps.

Source: OpenAI's prompt-caching guide (caching starts at 1024 tokens, hits grow in 128-token increments, entries
live 5-10 minutes of inactivity); see config/default.yaml prompt_caching.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from ..config import PromptCachingSettings


class PromptCache:
    def __init__(self, settings: PromptCachingSettings, max_entries: int = 100_000) -> None:
        self.settings = settings
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # prefix digest -> last use

    def _boundaries(self, n_tokens: int) -> range:
        s = self.settings
        return range(s.min_tokens, n_tokens + 1, s.increment)

    def cached_tokens(self, scope: str, token_ids: list[int], now: float) -> int:
        """Returns the cached prefix length for this request and remembers its prefixes."""
        if not self.settings.enable or len(token_ids) < self.settings.min_tokens:
            return 0
        hit = 0
        digest = hashlib.blake2b(scope.encode(), digest_size=16)
        position = 0
        for boundary in self._boundaries(len(token_ids)):
            digest.update(_pack(token_ids[position:boundary]))
            position = boundary
            key = digest.digest()
            last = self._seen.get(key)
            if last is not None and now - last <= self.settings.ttl_seconds:
                hit = boundary
            self._seen[key] = now
            self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return hit


def _pack(ids: list[int]) -> bytes:
    return b"".join(i.to_bytes(4, "little") for i in ids)
