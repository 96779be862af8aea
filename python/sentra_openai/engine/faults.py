"""Injected faults: forced per request by the X-Sentra-Error control header, or drawn from the request's RNG at a
configured rate per model that grows under burst load.

Bodies: 500 and 503 as OpenAI sends them (openai-wire.md §2.5); 502 and 504 as its Cloudflare edge sends them.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass

from ..config import ErrorInjectionSettings
from . import errors
from .errors import ApiError

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
        return ApiError(502, "Bad gateway.", type="cf_bad_gateway", code="502")
    if fault.status == 504:
        return ApiError(504, "Gateway timeout.", type="cf_gateway_timeout", code="504")
    raise ValueError(f"no generic body for fault {fault.status}")


class LoadWindow:
    """Counts requests over a sliding window in fixed slots, so it keeps up with thousands of requests a second."""

    def __init__(self, window_seconds: float, slots: int = 20) -> None:
        self.slot_seconds = window_seconds / slots
        self.window_seconds = window_seconds
        self.slots: deque[list[float]] = deque()  # [slot start, count]
        self.total = 0

    def add(self, now: float) -> float:
        """Records one request; returns the request rate (per second) over the window."""
        start = now - (now % self.slot_seconds)
        if self.slots and self.slots[-1][0] == start:
            self.slots[-1][1] += 1
        else:
            self.slots.append([start, 1])
        self.total += 1
        horizon = now - self.window_seconds
        while self.slots and self.slots[0][0] + self.slot_seconds <= horizon:
            self.total -= int(self.slots.popleft()[1])
        return self.total / self.window_seconds


class FaultInjector:
    def __init__(self, settings: ErrorInjectionSettings) -> None:
        self.settings = settings
        self.load = LoadWindow(settings.burst_window_seconds)

    def error_rate(self, model_id: str, rps: float) -> float:
        s = self.settings
        base = float(s.per_model.get(model_id, {}).get("rate", s.base_error_rate))
        if rps <= s.burst_threshold_rps or s.burst_threshold_rps <= 0:
            return base
        # Linear growth from 1x at the threshold to burst_multiplier x at twice the threshold, then flat.
        excess = min((rps - s.burst_threshold_rps) / s.burst_threshold_rps, 1.0)
        return min(1.0, base * (1.0 + (s.burst_multiplier - 1.0) * excess))

    def draw(self, model_id: str, rng: random.Random, now: float, streaming: bool) -> Fault | None:
        rps = self.load.add(now)
        if not self.settings.enable:
            return None
        if rng.random() < self.error_rate(model_id, rps):
            weights = self.settings.per_model.get(model_id, {}).get("weights", self.settings.weights)
            statuses = [int(k) for k in weights]
            return Fault(rng.choices(statuses, weights=[float(w) for w in weights.values()])[0])
        if streaming and self.settings.midstream_rate and rng.random() < self.settings.midstream_rate:
            return Fault(500, at_chunk=rng.randint(1, 20), as_event=rng.random() < 0.5)
        return None
