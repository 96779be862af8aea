"""The organization the simulated account belongs to, named the two ways OpenAI names it: its slug in every
response's `openai-organization` header (e.g. `user-d4niriiw947hljdjinqjyyde`) and its `org-…` id in rate-limit
messages (openai-wire.md §1, §2.4). One record, built once from `server.organization` (and `server.organization_id`),
feeds both, so the header and the 429s always name the same organization."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..config import ServerSettings

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Organization:
    slug: str  # the `openai-organization` header
    id: str  # "org-" + 24 alphanumerics, in rate-limit messages

    @classmethod
    def of(cls, server: ServerSettings) -> Organization:
        """The configured organization; without `server.organization_id`, an id derived from the slug."""
        return cls(server.organization, server.organization_id or derived_id(server.organization))


def derived_id(slug: str) -> str:
    """A stable `org-…` id for a slug (the same slug always names the same organization)."""
    digest = hashlib.sha256(slug.encode()).digest()
    return "org-" + "".join(_ALPHABET[b % 62] for b in digest[:24])
