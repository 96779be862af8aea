"""Turns a StreamPlan into events on absolute deadlines, so timing error never accumulates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence

from .clock import Clock
from .types import Piece, StreamPlan


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


async def paced_events(plan: StreamPlan, clock: Clock, started: float | None = None) -> AsyncIterator[bytes]:
    """Yields the plan's events, each no earlier than its deadline measured from `started`."""
    origin = clock.now() if started is None else started
    pieces = plan.pieces
    index = sent = 0
    while index < len(pieces):
        if plan.cut_after is not None and sent >= plan.cut_after:
            return
        elapsed = clock.now() - origin
        wait = pieces[index].due - elapsed
        if wait > 0:
            await clock.sleep(wait)
            elapsed = clock.now() - origin
        event, index = _merge_due(pieces, index, elapsed, plan.paced)
        sent += 1
        yield event


def immediate_events(plan: StreamPlan) -> Iterator[bytes]:
    """The events of an unpaced plan, without any clock: one event per piece."""
    for sent, piece in enumerate(plan.pieces):
        if plan.cut_after is not None and sent >= plan.cut_after:
            return
        if piece.raw is not None:
            yield piece.raw
        else:
            assert piece.frame is not None
            yield piece.frame(piece.text or "")
