"""The engine's plain-data boundary: a Request in, an Outcome out. No web framework types cross it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    query: tuple[tuple[str, str], ...] = ()  # the query string's (name, value) pairs, in order, repeats kept

    def query_values(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]


@dataclass(slots=True)
class Piece:
    """One event of a stream, due `due` seconds after the request arrived.

    Either `raw` (an already framed SSE event) or `text` framed by `frame` at emission time. Consecutive late text
    pieces with the same `frame` are merged into one event, as a real server catching up would send them.
    """

    due: float
    raw: bytes | None = None
    text: str | None = None
    frame: Callable[[str], bytes] | None = None


@dataclass(slots=True)
class StreamPlan:
    pieces: list[Piece]
    paced: bool  # False when there is no delay at all: then every piece stays its own event
    cut_after: int | None = None  # end the stream abruptly after this many events (an injected fault)
    # With cut_after: the connection is lost there, so the client sees a broken body rather than one that just
    # stops (how the server breaks it is the server's business).
    connection_lost: bool = False
    # Asked before each write: True ends the stream there, cleanly (a background response cancelled meanwhile).
    interrupt: Callable[[], bool] | None = None


@dataclass(slots=True)
class Outcome:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering (simulated latency, already time-scaled)
    stream: StreamPlan | None = None
