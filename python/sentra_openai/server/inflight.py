"""Counts requests and streams in progress, so shutdown can wait for them (bounded) before exiting."""

from __future__ import annotations

import time
from collections import deque


class InFlight:
    """A context manager around each request and stream. deque.append and deque.pop are atomic, so the count needs
    no lock on the hot path."""

    def __init__(self) -> None:
        self._tokens: deque[None] = deque()

    def __enter__(self) -> None:
        self._tokens.append(None)

    def __exit__(self, *_exc: object) -> None:
        self._tokens.pop()

    def track(self) -> InFlight:
        return self

    @property
    def count(self) -> int:
        return len(self._tokens)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.count == 0
