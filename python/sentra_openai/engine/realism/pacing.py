"""Turns a StreamPlan into events on absolute deadlines, so timing error never accumulates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence

from ..clock import Clock
from ..types import Piece, StreamPlan


def deadlines_for(deadlines: Sequence[float], count: int) -> Sequence[float]:
    """The deadline of each of `count` pieces in order: the k-th at the k-th deadline, any beyond them at the last."""
    if count <= len(deadlines):
        return deadlines
    return (*deadlines, *(deadlines[-1],) * (count - len(deadlines)))


def interleave(per_choice: list[list[Piece]], deadlines: Sequence[float]) -> list[Piece]:
    """Orders several choices' pieces round by round (choice 0's k-th piece, choice 1's k-th, ...), the k-th round due
    at the k-th deadline (deadlines_for), as a server sampling n answers in parallel sends them."""
    if len(per_choice) == 1 and deadlines:  # one answer: its pieces in order, no rounds to weave
        pieces = per_choice[0]
        for piece, due in zip(pieces, deadlines_for(deadlines, len(pieces))):
            piece.due = due
        return list(pieces)
    ordered: list[Piece] = []
    last = len(deadlines) - 1
    for step in range(max((len(p) for p in per_choice), default=0)):
        for pieces in per_choice:
            if step < len(pieces):
                piece = pieces[step]
                piece.due = deadlines[min(step, last)]
                ordered.append(piece)
    return ordered


def _schedule(plan: StreamPlan, now: Callable[[], float], origin: float, batch: bool,
              sleep: Callable[[float], object] | None = None) -> Iterator[float | bytes]:
    """The plan as a sequence of steps: a float is a wait (seconds) the driver must take before resuming, bytes an
    event (or, with `batch`, several already-due events) to write. One schedule for both drivers below, so the
    blocking one sends exactly the bytes, at exactly the deadlines, of the async one. A blocking driver passes its
    `sleep`, taken here instead of yielded: then only bytes come out.

    An event is piece `index` framed, merged (when paced) with every following text piece of the same frame that is
    already due. This loop runs once per piece of every stream the worker serves, so it is written flat: no call
    per piece but the frame itself (issue 12)."""
    pieces = plan.pieces
    count = len(pieces)
    limit = count if plan.cut_after is None else plan.cut_after
    interrupt = plan.interrupt
    paced = plan.paced
    index = sent = 0
    events: list[bytes] = []  # the write being gathered (batch)
    elapsed = 0.0
    while index < count and sent < limit:
        piece = pieces[index]
        if not events:  # a new write: wait for its first event
            elapsed = now() - origin
            wait = piece.due - elapsed
            if wait > 0:
                if sleep is None:
                    yield float(wait)
                else:
                    sleep(float(wait))
                elapsed = now() - origin
            if interrupt is not None and interrupt():
                return
        elif piece.due > elapsed:  # the rest is not due yet: this write is complete
            yield events[0] if len(events) == 1 else b"".join(events)
            events = []
            continue
        raw = piece.raw
        if raw is not None:
            event = raw
            index += 1
        else:
            frame = piece.frame
            end = index + 1
            if paced:
                while end < count:
                    nxt = pieces[end]
                    if nxt.raw is not None or nxt.frame is not frame or nxt.due > elapsed:
                        break
                    end += 1
            text = piece.text if end == index + 1 else "".join([p.text or "" for p in pieces[index:end]])
            assert frame is not None
            event = frame(text or "")
            index = end
        sent += 1
        if batch:
            events.append(event)
        else:
            yield event
    if events:
        yield events[0] if len(events) == 1 else b"".join(events)


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
    return _schedule(plan, now, started, batch, sleep)  # type: ignore[return-value]  # bytes only, given `sleep`


def dated_events(plan: StreamPlan) -> Iterator[tuple[float, bytes]]:
    """Every event of the plan with the moment it is due (seconds from the request's arrival), for a writer that
    sends each at its moment itself (the front: rust/core/src/front/pacing.rs). One event per piece: events are
    never merged, since none is late when it is planned."""
    for piece in _to_send(plan):
        yield piece.due, piece.raw if piece.raw is not None else piece.frame(piece.text or "")  # type: ignore[misc]


def immediate_events(plan: StreamPlan, *, batch: int = 1) -> Iterator[bytes]:
    """The events of an unpaced plan, without any clock: one event per piece, `batch` events per write."""
    events = (piece.raw if piece.raw is not None else piece.frame(piece.text or "") for piece in _to_send(plan)  # type: ignore[misc]
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


def _to_send(plan: StreamPlan) -> list[Piece]:
    """The pieces sent, one event each, when none is merged: all of them, or those before a cut."""
    return plan.pieces if plan.cut_after is None else plan.pieces[: plan.cut_after]
