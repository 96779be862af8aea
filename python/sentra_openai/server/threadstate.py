"""Keeps the Python thread state of each OS thread that calls our handlers.

Robyn 0.88 calls a handler through PyO3's `with_gil`, i.e. PyGILState_Ensure/Release. On a thread without a Python
thread state, Ensure creates one and the matching Release destroys it, so every request paid for a new thread state
(an allocation, a 16 KiB frame-stack mmap and munmap, a few gettid calls) and started from an empty threading.local.
One extra Ensure per OS thread, never released, keeps that thread's state: Robyn's Release then only detaches it.
The GIL is held by the caller here, so the extra Ensure just raises the thread state's counter. A kept state outlives
its thread (about 20 KiB), so at most MAX_KEPT threads keep theirs: only the sync handler's threads do (Robyn's
actix thread); stream chunks, pulled on tokio's blocking pool whose threads come and go, are left as they were.
"""

from __future__ import annotations

import ctypes
from threading import get_ident

MAX_KEPT = 64
_kept: set[int] = set()
_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.restype = ctypes.c_int
_ensure.argtypes = []


def keep_thread_state() -> None:
    ident = get_ident()
    if ident not in _kept and len(_kept) < MAX_KEPT:
        _kept.add(ident)
        _ensure()
