"""Counts requests and streams in progress, so shutdown can wait for them (bounded) before exiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @contextmanager
    def track(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    @property
    def count(self) -> int:
        return self._count

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._count > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._count == 0
