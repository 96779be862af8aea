"""Ids: random base62 strings (ids, obfuscation padding) drawn cheaply, one draw per string, and the per-process
stream that makes response ids unique across workers, restarts and hosts."""

from __future__ import annotations

import os
import random
from collections.abc import Callable

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Each random byte picks a character; 256 is not a multiple of 62, so the first 8 characters are a little more
# likely. Ids only need to look like OpenAI's and not collide in practice.
BASE62_OF_BYTE = bytes.maketrans(bytes(range(256)), b"".join(BASE62[b % 62].encode() for b in range(256)))


def base62(rng: random.Random, length: int) -> str:
    return rng.randbytes(length).translate(BASE62_OF_BYTE).decode("ascii")


def padding_drawer(rng: random.Random, shortest: int, longest: int) -> Callable[[], str]:
    """A drawer of `base62(rng, rng.randint(shortest, longest))` (the `obfuscation` padding of stream events) that
    makes the very same draws without the four Python-level calls those take: it runs once per streamed delta. In
    CPython's random.py, randint(a, b) is a + getrandbits(k) drawn until below b - a + 1 (k its bit length), and
    randbytes(n) is getrandbits(8 * n) as n little-endian bytes. tests/engine/test_padding.py holds them equal."""
    getrandbits = rng.getrandbits
    span = longest - shortest + 1
    bits = span.bit_length()

    def draw() -> str:
        offset = getrandbits(bits)
        while offset >= span:
            offset = getrandbits(bits)
        length = shortest + offset
        return getrandbits(length * 8).to_bytes(length, "little").translate(BASE62_OF_BYTE).decode("ascii")

    return draw


def _os_seeded() -> random.Random:
    return random.Random(int.from_bytes(os.urandom(32), "big"))


# Ids are the keys of stored state and what clients correlate logs by, so no two processes may share this stream:
# it is seeded from the OS, and again in every forked worker (a fork would otherwise copy its parent's state).
_unique = _os_seeded()


def _reseed_after_fork() -> None:
    global _unique
    _unique = _os_seeded()


os.register_at_fork(after_in_child=_reseed_after_fork)


def unique_stream() -> random.Random:
    """This process's id stream: never repeated by another worker, a restarted worker or another host."""
    return _unique
