"""Keeps the Python thread state of each OS thread that calls our handlers.

Robyn 0.88 calls a handler through PyO3's `with_gil`, i.e. PyGILState_Ensure/Release. On a thread without a Python
thread state, Ensure creates one and the matching Release destroys it, so every request paid for a new thread state
(an allocation, a 16 KiB frame-stack mmap and munmap, a few gettid calls) and started from an empty threading.local.
One extra Ensure per OS thread, never released, keeps that thread's state: Robyn's Release then only detaches it.
The GIL is held by the caller here, so the extra Ensure just raises the thread state's counter. A kept state outlives
its thread (about 20 KiB), so at most MAX_KEPT threads keep theirs: the sync handler's threads (Robyn's actix
thread).

Stream chunks are pulled on tokio's blocking pool (263 threads in a worker at 1000 streams on 2 cores: actix-server's
default of 512 blocking threads / cores), whose threads come and go (tokio ends them after 10 s idle). Each pull went
through a new thread state too, and the first Python call of each pull mapped a new 16 KiB frame stack and unmapped it
after (measured, 100 paced streams: ~5,000 page faults and TLB-shootdown IPIs per 5,100 writes; kept, 23-87, and the
worker's CPU 0.72 -> 0.52-0.61 s). Those threads keep theirs through keep_pool_thread_state, known by a
threading.local (which lives in the thread state, so a new thread that reuses a dead one's ident is not mistaken for
it), at most POOL_MAX_KEPT in the worker's lifetime: the states of pool threads that have exited stay allocated
(measured: ~16 KiB each, the worker's RSS after four 1000-stream bursts 11 s apart 157, 161, 165, 166 MB, flat once
the cap is reached); past the cap, new pool threads' pulls cost what they did before. Freeing a state when its thread
exits needs a native thread-exit hook (rust/py), not ctypes: Python's own thread-state key may be cleared first.
"""

from __future__ import annotations

import ctypes
from threading import get_ident, local

MAX_KEPT = 64
POOL_MAX_KEPT = 512
_kept: set[int] = set()
_pool_thread = local()
_pool_kept = 0
_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.restype = ctypes.c_int
_ensure.argtypes = []


def keep_thread_state() -> None:
    ident = get_ident()
    if ident not in _kept and len(_kept) < MAX_KEPT:
        _kept.add(ident)
        _ensure()


def keep_pool_thread_state() -> None:
    """keep_thread_state for the threads of tokio's blocking pool (see above). Called with the GIL held."""
    global _pool_kept
    if getattr(_pool_thread, "kept", False) or _pool_kept >= POOL_MAX_KEPT:
        return
    _pool_kept += 1
    _ensure()
    _pool_thread.kept = True
