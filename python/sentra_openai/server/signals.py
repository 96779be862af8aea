"""Stopping on SIGTERM or SIGINT: the drain runs once, on its own thread, so the signal handler never blocks the main
thread (which also runs the event loop of the streams being drained)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def drain_on_stop_signals(drain_and_exit: Callable[[], None], thread_name: str) -> threading.Event:
    """Installs the handlers; the returned event is set once a stop signal has arrived."""
    stopping = threading.Event()

    def stop(_signum, _frame) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=drain_and_exit, name=thread_name, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping
