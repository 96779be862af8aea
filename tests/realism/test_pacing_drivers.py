"""The blocking stream driver (the server's, sleeping in Robyn's worker thread) sends exactly what the async one does:
the same bytes in the same writes at the same moments, on time, late, cut or interrupted."""

from __future__ import annotations

import asyncio

import pytest
from sentra_openai.engine import ManualClock, Piece, StreamPlan
from sentra_openai.engine.realism.pacing import paced_events, paced_events_blocking


def frame(text: str) -> bytes:
    return f"data: {text}\n\n".encode()


def other_frame(text: str) -> bytes:
    return f"data: other {text}\n\n".encode()


class LaggingClock(ManualClock):
    """Every sleep overshoots by `lag` seconds, like an overloaded worker; the blocking driver's sleep too."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag

    async def sleep(self, seconds: float) -> None:
        self.sleep_now(seconds)

    def sleep_now(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds + self.lag)


def mixed_plan() -> StreamPlan:
    pieces = [Piece(0.1, raw=frame("role"))]
    pieces += [Piece(0.1 + i * 0.02, text=f"t{i}", frame=frame) for i in range(12)]
    pieces += [Piece(0.1 + i * 0.02, text=f"u{i}", frame=other_frame) for i in range(12, 15)]
    pieces += [Piece(0.4, raw=frame("finish")), Piece(0.4, raw=frame("[DONE]"))]
    return StreamPlan(pieces, paced=True)


def writes_async(clock: LaggingClock, plan: StreamPlan, batch: bool) -> list[tuple[float, bytes]]:
    async def run():
        return [(round(clock.now(), 9), event) async for event in paced_events(plan, clock, 0.0, batch=batch)]

    return asyncio.run(run())


def writes_blocking(clock: LaggingClock, plan: StreamPlan, batch: bool) -> list[tuple[float, bytes]]:
    return [(round(clock.now(), 9), event)
            for event in paced_events_blocking(plan, clock.now, clock.sleep_now, 0.0, batch=batch)]


@pytest.mark.parametrize("lag", [0.0, 0.013, 0.05])
@pytest.mark.parametrize("batch", [False, True])
def test_blocking_driver_writes_what_the_async_one_writes(lag, batch):
    expected = writes_async(LaggingClock(lag), mixed_plan(), batch)
    assert writes_blocking(LaggingClock(lag), mixed_plan(), batch) == expected
    assert expected[-1][1].endswith(frame("[DONE]"))


def test_blocking_driver_keeps_the_deadlines_when_on_time():
    clock = LaggingClock(0.0)
    writes = writes_blocking(clock, mixed_plan(), batch=True)
    assert writes[0] == (0.1, frame("role") + frame("t0"))
    assert [moment for moment, _ in writes[1:4]] == [0.12, 0.14, 0.16]
    assert writes[-1][0] == 0.4


def test_blocking_driver_honours_cuts_and_interrupts():
    cut = mixed_plan()
    cut.cut_after = 4
    assert writes_blocking(LaggingClock(0.0), cut, True) == writes_async(LaggingClock(0.0), mixed_plan_cut(4), True)
    assert len(writes_blocking(LaggingClock(0.0), cut, False)) == 4

    clock = LaggingClock(0.0)
    stopped = mixed_plan()
    stopped.interrupt = lambda: clock.now() >= 0.2
    writes = writes_blocking(clock, stopped, batch=True)
    assert writes and all(moment < 0.2 for moment, _ in writes)
    assert not any(event.endswith(frame("[DONE]")) for _, event in writes)


def mixed_plan_cut(n: int) -> StreamPlan:
    plan = mixed_plan()
    plan.cut_after = n
    return plan
