"""A bounded memo: what a load test repeats (content, content keys, prompt counts), kept without growing."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(OrderedDict[K, V]):
    """A dict of at most `size` entries that drops the oldest first. An OrderedDict because it drops its oldest entry
    in O(1), where a plain dict finds its first key by scanning past the slots of the entries dropped before it (~2 us
    a request at 2048 entries: issue 12)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
