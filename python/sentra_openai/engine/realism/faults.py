"""Injected faults: forced per request by the X-Sentra-Error control header, or drawn from a seeded RNG at a
configured rate and status mix per model, a rate that grows under burst load.

Bodies: 500 and 503 as OpenAI sends them (openai-wire.md §2.5); 502 and 504 as its Cloudflare edge sends them.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass

from ...config import ErrorInjectionSettings
from .. import errors
from ..errors import ApiError

FAULT_STATUSES = (429, 500, 502, 503, 504)
_HEADER = re.compile(r"^\s*(?P<what>\d{3}|error-event)\s*(?:@\s*chunk\s*=\s*(?P<chunk>\d+))?\s*$")


@dataclass(frozen=True)
class Fault:
    status: int
    at_chunk: int | None = None  # for streams: fail after this many events
    as_event: bool = False  # mid-stream: an error event instead of a cut connection


def parse_fault_header(value: str) -> Fault:
    """`429`, `500`, `503`, ... fail the request; `500@chunk=3` cuts a stream after 3 events; `error-event@chunk=3`
    sends OpenAI's mid-stream error event after 3 events."""
    match = _HEADER.match(value)
    status = int(match["what"]) if match and match["what"].isdigit() else 500
    if not match or (match["what"] != "error-event" and status not in FAULT_STATUSES):
        raise ApiError(
            400,
            f"Invalid X-Sentra-Error header: {value!r}. Expected one of {', '.join(map(str, FAULT_STATUSES))}, "
            "optionally followed by @chunk=N (cut a stream after N events), or error-event@chunk=N.",
            param="X-Sentra-Error",
        )
    chunk = int(match["chunk"]) if match["chunk"] is not None else None
    if match["what"] == "error-event":
        return Fault(500, chunk if chunk is not None else 0, as_event=True)
    return Fault(status, chunk)


def fault_error(fault: Fault, request_id: str) -> ApiError:
    if fault.status == 500:
        return errors.server_error()
    if fault.status == 503:
        return errors.overloaded(request_id)
    if fault.status == 502:
        return ApiError(502, "Bad gateway.", type="cf_bad_gateway", code=502)  # Cloudflare's edge puts the status number here
    if fault.status == 504:
        return ApiError(504, "Gateway timeout.", type="cf_gateway_timeout", code=504)
    raise ValueError(f"no generic body for fault {fault.status}")


class LoadWindow:
    """The request rate over a sliding window, counted in fixed slots (integer slot numbers, so float rounding never
    splits a slot): O(1) per request, so it keeps up with thousands of requests a second."""

    def __init__(self, window_seconds: float, slots: int = 20) -> None:
        self.window_seconds = max(window_seconds, 1e-3)
        self.slots_per_window = slots
        self.slot_seconds = self.window_seconds / slots
        self.slots: deque[list[int]] = deque()  # [slot number, count], oldest first
        self.total = 0

    def add(self, now: float) -> float:
        """Records one request at `now`; returns the request rate (per second) over the last window."""
        slot = int(now // self.slot_seconds)
        if self.slots and self.slots[-1][0] == slot:
            self.slots[-1][1] += 1
        else:
            self.slots.append([slot, 1])
        self.total += 1
        oldest = slot - self.slots_per_window + 1  # the window is this slot and the ones before it
        while self.slots[0][0] < oldest:
            self.total -= self.slots.popleft()[1]
        return self.total / self.window_seconds


class FaultInjector:
    """Draws the injected fault of each request.

    Unpinned draws come from a stream of their own, `Random(f"{seed}:fault:{n}")` for the n-th request that reaches
    fault injection: requests that never could fail (health checks, model listings, validation errors) do not shift
    it, so the same seed and the same sequence of API requests give the same faults in every run.
    """

    def __init__(self, settings: ErrorInjectionSettings, seed: int = 0) -> None:
        self.settings = settings
        self.seed = seed
        self.load = LoadWindow(settings.burst_window_seconds)
        self._draws = 0

    def error_rate(self, model_id: str, rps: float) -> float:
        s = self.settings
        base = float(s.per_model.get(model_id, {}).get("rate", s.base_error_rate))
        if rps <= s.burst_threshold_rps or s.burst_threshold_rps <= 0:
            return base
        # Linear growth from 1x at the threshold to burst_multiplier x at twice the threshold, then flat.
        excess = min((rps - s.burst_threshold_rps) / s.burst_threshold_rps, 1.0)
        return min(1.0, base * (1.0 + (s.burst_multiplier - 1.0) * excess))

    def draw(self, model_id: str, rng: random.Random | None, now: float, streaming: bool) -> Fault | None:
        """The fault this request suffers, if any. `rng` is the request's own RNG when its seed is pinned
        (X-Sentra-Seed); None draws from the injector's request-ordered stream."""
        rps = self.load.add(now)
        if not self.settings.enable:
            return None
        self._draws += 1
        if rng is None:
            rng = random.Random(f"{self.seed}:fault:{self._draws}")
        if rng.random() < self.error_rate(model_id, rps):
            weights = self.settings.per_model.get(model_id, {}).get("weights", self.settings.weights)
            statuses = [int(k) for k in weights]
            return Fault(rng.choices(statuses, weights=[float(w) for w in weights.values()])[0])
        if streaming and self.settings.midstream_rate and rng.random() < self.settings.midstream_rate:
            # Somewhere in the first 20 events; half of the failures announce themselves with an error event.
            return Fault(500, at_chunk=rng.randint(1, 20), as_event=rng.random() < 0.5)
        return None
