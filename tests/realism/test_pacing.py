"""Stream pacing on a clock the test drives: absolute deadlines, catching up when late, batching of due events."""

from __future__ import annotations

import asyncio

from sentra_openai.engine import ManualClock, Piece, StreamPlan
from sentra_openai.engine.realism.pacing import immediate_events, paced_events


def frame(text: str) -> bytes:
    return f"data: {text}\n\n".encode()


def plan(n: int, gap: float, paced: bool = True) -> StreamPlan:
    return StreamPlan([Piece(i * gap, text=f"t{i}", frame=frame) for i in range(n)], paced=paced)


class LateClock(ManualClock):
    """Every sleep overshoots by `lag` seconds, like an overloaded event loop."""

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + self.lag)


def collect(clock, stream_plan, **kwargs) -> list[tuple[float, bytes]]:
    async def run():
        return [(clock.now(), event) async for event in paced_events(stream_plan, clock, 0.0, **kwargs)]

    return asyncio.run(run())


def test_on_time_events_go_out_at_their_deadlines_one_per_write():
    clock = ManualClock()
    writes = collect(clock, plan(5, 0.02), batch=True)
    assert [event for _, event in writes] == [frame(f"t{i}") for i in range(5)]
    assert [round(t, 9) for t, _ in writes] == [0.0, 0.02, 0.04, 0.06, 0.08]


def test_late_stream_catches_up_without_drifting():
    clock = LateClock(lag=0.05)
    writes = collect(clock, plan(20, 0.02))
    text = b"".join(event for _, event in writes)
    assert text.replace(b"data: ", b"").replace(b"\n\n", b"") == "".join(f"t{i}" for i in range(20)).encode()
    # Late tokens are merged into fewer events, so the stream ends about when it was due plus one lag, not 20 lags.
    assert writes[-1][0] < 0.38 + 0.05 + 1e-9
    assert len(writes) < 20


def test_batched_writes_keep_every_event_separate():
    stream = StreamPlan([Piece(0.0, raw=frame("role"))] + [Piece(0.0, raw=frame(f"r{i}")) for i in range(5)], paced=True)
    writes = collect(ManualClock(), stream, batch=True)
    assert len(writes) == 1
    assert writes[0][1].split(b"\n\n")[:-1] == [frame("role").strip()] + [frame(f"r{i}").strip() for i in range(5)]


def test_cut_after_limits_events_even_when_batched():
    stream = plan(10, 0.0, paced=False)  # unpaced: no merging, so the cut counts tokens
    stream.cut_after = 3
    writes = collect(ManualClock(), stream, batch=True)
    assert b"".join(e for _, e in writes) == b"".join(frame(f"t{i}") for i in range(3))
    assert list(immediate_events(stream, batch=2)) == [frame("t0") + frame("t1"), frame("t2")]


def test_unpaced_plans_send_one_event_per_token():
    assert list(immediate_events(plan(4, 0.0, paced=False))) == [frame(f"t{i}") for i in range(4)]
