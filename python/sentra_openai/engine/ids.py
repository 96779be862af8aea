"""Random base62 strings (ids, obfuscation padding) drawn from a seeded RNG, cheaply: one draw per string."""

from __future__ import annotations

import random

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Each random byte picks a character; 256 is not a multiple of 62, so the first 8 characters are a little more
# likely. Ids only need to look like OpenAI's and not collide in practice.
_TABLE = bytes.maketrans(bytes(range(256)), b"".join(BASE62[b % 62].encode() for b in range(256)))


def base62(rng: random.Random, length: int) -> str:
    return rng.randbytes(length).translate(_TABLE).decode("ascii")
