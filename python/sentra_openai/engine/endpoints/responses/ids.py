"""Ids of a response and its items (shared/reference/responses-api.md §1.6), and the reasoning items' encrypted_content.

Current form: <prefix> + 16 hex shared by the response and all its items + "00" + 8 hex of the emission time (unix
seconds) + 24 hex. Every draw comes from the call's id stream (the process's unique stream, or the pinned RNG under
X-Sentra-Seed), never from the content-cached RNG: ids are the state store's keys.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import random
import struct

from ...errors import ApiError

_BLOB_MARKER = b"SNTR1"  # the simulator's blobs; anything else is OpenAI's (or a client's) and passes unverified
_FERNET_HEAD = "gAAAAAB"  # how OpenAI's blobs start (Fernet version byte + timestamp)


class ResponseIds:
    """Draws the ids of one response: they share its 16-hex prefix; each embeds the time it is made."""

    def __init__(self, id_rng: random.Random, created_at: int, prefix: str | None = None) -> None:
        self.rng = id_rng
        self.created_at = created_at
        self.prefix = prefix or f"{id_rng.getrandbits(64):016x}"
        self._stamped = self._stamp(created_at)  # most ids are made at created_at: its part of the id made once
        self.issued: list[tuple[str, str]] = []  # (kind, id) of each id made: the front's replay note renews them

    def _stamp(self, moment: int) -> str:
        return f"{self.prefix}00{moment & 0xFFFFFFFF:08x}"

    def new(self, kind: str, at: int | None = None) -> str:
        stamped = self._stamped if at is None or at == self.created_at else self._stamp(at)
        made = f"{kind}{stamped}{self.rng.getrandbits(96):024x}"
        self.issued.append((kind, made))
        return made

    def call_id(self) -> str:
        from ...ids import base62

        made = "call_" + base62(self.rng, 24)
        self.issued.append(("call_", made))
        return made


@functools.lru_cache(maxsize=8)  # one config seed per engine
def _key(seed: int) -> bytes:
    return hashlib.sha256(f"sentra-reasoning:{seed}".encode()).digest()


def _mac(seed: int, body: bytes) -> bytes:
    return hmac.digest(_key(seed), body, "sha256")[:16]


def encrypted_reasoning(seed: int, reasoning_tokens: int, length: int, rng: random.Random) -> str:
    """An opaque blob of about `length` characters that carries the item's reasoning tokens, signed with a key
    derived from the config seed, so the server recognises it (and a tampered copy) when a client sends it back."""
    body_bytes = max((length - len(_FERNET_HEAD)) * 3 // 4 - len(_BLOB_MARKER) - 16 - 4, 0)
    body = struct.pack(">I", reasoning_tokens) + rng.randbytes(body_bytes)
    mac = _mac(seed, body)
    return _FERNET_HEAD + base64.urlsafe_b64encode(_BLOB_MARKER + mac + body).decode().rstrip("=")


def reasoning_tokens_in(seed: int, blob: str, item_id: str | None) -> int | None:
    """The reasoning tokens a blob of ours carries; None for a foreign blob; a 400 for a tampered one of ours."""
    if not blob.startswith(_FERNET_HEAD):
        return None
    payload = blob[len(_FERNET_HEAD):]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (ValueError, TypeError):
        return None
    if not raw.startswith(_BLOB_MARKER):
        return None
    mac, body = raw[len(_BLOB_MARKER):len(_BLOB_MARKER) + 16], raw[len(_BLOB_MARKER) + 16:]
    expected = _mac(seed, body)
    if len(body) < 4 or not hmac.compare_digest(mac, expected):
        raise ApiError(400, f"The encrypted content for item {item_id} could not be verified.",
                       param="input", code="invalid_encrypted_content")
    return struct.unpack(">I", body[:4])[0]
