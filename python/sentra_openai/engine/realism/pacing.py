"""Turns a StreamPlan into events on absolute deadlines, so timing error never accumulates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence

from ..clock import Clock
from ..types import Piece, StreamPlan


def interleave(per_choice: list[list[Piece]], deadlines: Sequence[float]) -> list[Piece]:
    """Orders several choices' pieces round by round (choice 0's k-th piece, choice 1's k-th, ...), the k-th round due
    at the k-th deadline, as a server sampling n answers in parallel sends them."""
    ordered: list[Piece] = []
    last = len(deadlines) - 1
    for step in range(max((len(p) for p in per_choice), default=0)):
        for pieces in per_choice:
            if step < len(pieces):
                piece = pieces[step]
                piece.due = deadlines[min(step, last)]
                ordered.append(piece)
    return ordered


def _merge_due(pieces: list[Piece], start: int, elapsed: float, paced: bool) -> tuple[bytes, int]:
    """Frames piece `start` and, when paced, every following text piece of the same frame that is already due."""
    first = pieces[start]
    if first.raw is not None:
        return first.raw, start + 1
    end = start + 1
    if paced:
        while end < len(pieces):
            nxt = pieces[end]
            if nxt.raw is not None or nxt.frame is not first.frame or nxt.due > elapsed:
                break
            end += 1
    text = first.text if end == start + 1 else "".join(p.text or "" for p in pieces[start:end])
    assert first.frame is not None
    return first.frame(text or ""), end


def _schedule(plan: StreamPlan, now: Callable[[], float], origin: float, batch: bool) -> Iterator[float | bytes]:
    """The plan as a sequence of steps: a float is a wait (seconds) the driver must take before resuming, bytes an
    event (or, with `batch`, several already-due events) to write. One schedule for both drivers below, so the
    blocking one sends exactly the bytes, at exactly the deadlines, of the async one."""
    pieces = plan.pieces
    limit = len(pieces) if plan.cut_after is None else plan.cut_after
    index = sent = 0
    while index < len(pieces) and sent < limit:
        elapsed = now() - origin
        wait = pieces[index].due - elapsed
        if wait > 0:
            yield float(wait)
            elapsed = now() - origin
        if plan.interrupt is not None and plan.interrupt():
            return
        event, index = _merge_due(pieces, index, elapsed, plan.paced)
        sent += 1
        if batch:
            events = [event]
            while index < len(pieces) and sent < limit and pieces[index].due <= elapsed:
                event, index = _merge_due(pieces, index, elapsed, plan.paced)
                events.append(event)
                sent += 1
            event = b"".join(events)
        yield event


async def paced_events(plan: StreamPlan, clock: Clock, started: float | None = None, *, batch: bool = False
                       ) -> AsyncIterator[bytes]:
    """Yields the plan's events, each no earlier than its deadline measured from `started`.

    With `batch`, events that are already due when one is sent go out in the same write (still separate SSE
    events): a late stream catches up in one write instead of one per event, which is what keeps many concurrent
    streams on time when every write costs the web server a thread hop.
    """
    origin = clock.now() if started is None else started
    for step in _schedule(plan, clock.now, origin, batch):
        if step.__class__ is float:
            await clock.sleep(step)  # type: ignore[arg-type]
        else:
            yield step  # type: ignore[misc]


def paced_events_blocking(plan: StreamPlan, now: Callable[[], float], sleep: Callable[[float], object],
                          started: float, *, batch: bool = False) -> Iterator[bytes]:
    """paced_events for a caller that may block between events (a web server's worker thread): the same events at
    the same deadlines, waiting with `sleep` instead of an event loop."""
    for step in _schedule(plan, now, started, batch):
        if step.__class__ is float:
            sleep(step)  # type: ignore[arg-type]
        else:
            yield step  # type: ignore[misc]


def immediate_events(plan: StreamPlan, *, batch: int = 1) -> Iterator[bytes]:
    """The events of an unpaced plan, without any clock: one event per piece, `batch` events per write."""
    pieces = plan.pieces if plan.cut_after is None else plan.pieces[: plan.cut_after]
    events = (piece.raw if piece.raw is not None else piece.frame(piece.text or "") for piece in pieces  # type: ignore[misc]
              if plan.interrupt is None or not plan.interrupt())
    if batch <= 1:
        yield from events
        return
    pending: list[bytes] = []
    for event in events:
        pending.append(event)
        if len(pending) >= batch:
            yield b"".join(pending)
            pending = []
    if pending:
        yield b"".join(pending)
