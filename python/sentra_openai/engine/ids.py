"""Ids: random base62 strings (ids, obfuscation padding) drawn cheaply, one draw per string, and the per-process
stream that makes response ids unique across workers, restarts and hosts."""

from __future__ import annotations

import os
import random

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Each random byte picks a character; 256 is not a multiple of 62, so the first 8 characters are a little more
# likely. Ids only need to look like OpenAI's and not collide in practice.
BASE62_OF_BYTE = bytes.maketrans(bytes(range(256)), b"".join(BASE62[b % 62].encode() for b in range(256)))


def base62(rng: random.Random, length: int) -> str:
    return rng.randbytes(length).translate(BASE62_OF_BYTE).decode("ascii")


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
