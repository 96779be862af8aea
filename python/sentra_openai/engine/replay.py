"""Front replay (issue 12): the note that lets the front (rust/core/src/front) answer a repeat of a request itself.

When an answer is a pure function of the request bytes and the config, so that two identical requests differ only in
ids, timestamps and elapsed time, the worker adds two headers the front removes before the client sees them:

    x-sentra-replay: ttl=1000;body=b62:OFF:LEN,unix:OFF:LEN,...;headers=x-request-id:hex:4:32,openai-processing-ms:ms
    x-sentra-replay-tag: <compact JSON: what metrics.Metrics.observe needs of a replayed answer>

and the front answers the same forwarded bytes for `ttl` ms from the stored answer with those positions filled anew.
A replayed answer must be byte-identical to what the engine would have sent, bar the fills: so every condition here
is exact, and anything that cannot be located exactly means no note (the request is simply answered by a worker).

Body fills: `b62`/`hex` LEN random characters at byte OFF, `unix` the current Unix time as LEN decimal digits,
`hexunix` that same time as LEN lowercase hex digits (a Responses id embeds it), `copy:OFF:LEN:FROM` the LEN bytes at
FROM once the fills before it are applied (a Responses id shares its response's 16-hex prefix).
"""

from __future__ import annotations

import re
import time
from itertools import pairwise
from typing import TYPE_CHECKING

import orjson

from .clock import MonotonicClock
from .types import Outcome

if TYPE_CHECKING:
    from .core import Call, Record

REPLAY_HEADER = "x-sentra-replay"
TAG_HEADER = "x-sentra-replay-tag"
# How long a stored answer may be replayed. Control changes made through this host's front drop every stored answer
# at once; what else can change an answer with no request passing (a model's shutdown day under models.as_of: today,
# fixture files edited on disk) is then at most this stale.
TTL_MS = 1000
REPLAYABLE_ENDPOINTS = frozenset({"chat.completions", "responses"})
# The headers an eligible answer carries (engine/core.py common_headers, its cost and time): any other header might
# carry something the note does not renew, so its answer gets no note.
KNOWN_HEADERS = frozenset({"x-request-id", "openai-organization", "openai-processing-ms", "openai-project",
                           "openai-version", "access-control-expose-headers", "content-type", "x-sentra-cost-usd",
                           "x-response-time-ms"})
ELAPSED_HEADERS = ("openai-processing-ms", "x-response-time-ms")
_REQUEST_ID = re.compile(r"req_[0-9a-f]{32}\Z")
# A JSON integer under a key that names a moment (`created`, `created_at`, `completed_at`, `expires_at` ...): each one
# must be the request's own creation time, which the front renews; any other would be served stale.
_MOMENT = re.compile(rb'"(created|[a-z_]*_at)": (-?\d+)')


def attach(call: Call, outcome: Outcome) -> None:
    """Adds the note to `outcome`'s headers when the answer may be replayed (after the engine set every header)."""
    if not call.replayable or not _eligible(call, outcome):
        return
    body_fills = _body_fills(call, outcome.body)
    header_fills = _header_fills(call, outcome.headers)
    if body_fills is None or header_fills is None:
        return
    record = call.record
    outcome.headers[REPLAY_HEADER] = f"ttl={TTL_MS};body={','.join(body_fills)};headers={','.join(header_fills)}"
    outcome.headers[TAG_HEADER] = orjson.dumps([record.model, record.endpoint, record.status, record.input_tokens,
                                                record.cached_tokens, record.output_tokens,
                                                record.cost_picodollars]).decode()


def replayed_record(tag: bytes, elapsed_ms: int) -> Record:
    """The metrics record of an answer the front replayed (`tag` is `attach`'s); its latency follows fast mode's
    rule for the engine's own answers (core.py _finish): the elapsed whole milliseconds."""
    from .core import Record  # core imports this module

    model, endpoint, status, input_tokens, cached_tokens, output_tokens, cost = orjson.loads(tag)
    return Record("", "POST", "", endpoint, status=status, model=model, input_tokens=input_tokens,
                  cached_tokens=cached_tokens, output_tokens=output_tokens, cost_picodollars=cost,
                  latency_s=max(elapsed_ms, 0) / 1000)


def _eligible(call: Call, outcome: Outcome) -> bool:
    services, settings, record = call.services, call.settings, call.record
    control = services.control
    return (call.via_front  # only the front reads the note (and stamps the arrival the `ms` fills count from)
            # Only content seen before: a request that is never repeated (a new prompt each time) pays nothing for
            # a note, in the engine or in the front; a repeated one costs one more worker answer.
            and not call.made_content
            and settings.server.front_replay
            and settings.state.store != "redis"  # another host's control changes reach this one only by polling
            and type(services.clock) is MonotonicClock  # a clock a test drives decides times the front cannot know
            and services.wall_clock is time.time
            and call.request.method == "POST" and record.endpoint in REPLAYABLE_ENDPOINTS
            and not call.sequence_used  # a fixture's reply sequence answers the next identical call differently
            and outcome.status == 200 and outcome.stream is None and outcome.delay == 0
            and record.error_type is None and record.rate_limited is None
            and not settings.rate_limiting.enable and not settings.error_injection.enable
            and not settings.logging.request_log and not settings.logging.log_bodies  # a replay is logged nowhere
            and (control is None or (not control.snapshot.armed and not control.snapshot.faults))
            # Forced faults, pinned seeds, time scales; and x-sentra-internal-path: the Azure layer (endpoints/azure.py)
            # rewrites the answer after this note would be written, so its positions would be wrong.
            and not any(name.startswith("x-sentra-") for name in call.headers_in)
            and KNOWN_HEADERS.issuperset(outcome.headers))


def _body_fills(call: Call, body: bytes) -> list[str] | None:
    fills: list[str] = []
    spans: list[tuple[int, int]] = []  # every filled byte range, which must not overlap
    for prefix, made in call.issued_ids:
        where = _only(body, made.encode())
        if where is None:
            return None
        fills.append(f"b62:{where + len(prefix)}:{len(made) - len(prefix)}")
        spans.append((where, where + len(made)))
    if call.response_ids is not None:
        found = _response_id_fills(body, call.response_ids, fills, spans)
        if not found:
            return None
    moments = _moment_fills(call, body, fills, spans)
    if not moments:
        return None
    spans.sort()
    if any(end > start for (_, end), (start, _) in pairwise(spans)):
        return None
    if call.request_id[4:].encode() in body:
        return None
    return fills


def _response_id_fills(body: bytes, response_ids, fills: list[str], spans: list[tuple[int, int]]) -> bool:
    """A Responses id is kind + 16 hex shared by the response's ids + "00" + 8 hex of its creation time + 24 hex
    (responses/ids.py); `call_…` ids are base62. The first id in the body draws the prefix anew, the others copy it."""
    shared = response_ids.prefix
    stamp = f"{response_ids.created_at & 0xFFFFFFFF:08x}"
    stamped: list[tuple[int, int]] = []  # (where the id's prefix starts, the id's length after its kind)
    for kind, made in response_ids.issued:
        where = _only(body, made.encode())
        if where is None:
            return False
        spans.append((where, where + len(made)))
        rest = made[len(kind):]
        if rest.startswith(shared):
            if rest[16:26] != "00" + stamp:  # made at another moment than its response
                return False
            stamped.append((where + len(kind), len(rest)))
        elif kind == "call_":
            fills.append(f"b62:{where + len(kind)}:{len(rest)}")
        else:
            return False
    stamped.sort()
    for index, (start, length) in enumerate(stamped):
        fills.append(f"hex:{start}:16" if index == 0 else f"copy:{start}:16:{stamped[0][0]}")
        fills.append(f"hexunix:{start + 18}:8")
        fills.append(f"hex:{start + 26}:{length - 26}")
    # Nothing else may show the prefix or the time stamp: it would keep the first answer's.
    return body.count(shared.encode()) == len(stamped) and body.count(stamp.encode()) == len(stamped)


def _moment_fills(call: Call, body: bytes, fills: list[str], spans: list[tuple[int, int]]) -> bool:
    """The creation time wherever the body shows one; no other moment and no other copy of it."""
    created = str(call.created_at).encode()
    found = 0
    for match in _MOMENT.finditer(body):
        if match.group(2) != created:
            return False
        start, end = match.span(2)
        fills.append(f"unix:{start}:{end - start}")
        spans.append((start, end))
        found += 1
    return found > 0 and body.count(created) == found


def _header_fills(call: Call, headers: dict[str, str]) -> list[str] | None:
    if not _REQUEST_ID.match(headers.get("x-request-id", "")) or headers["x-request-id"] != call.request_id:
        return None
    elapsed = {headers.get(name, "") for name in ELAPSED_HEADERS}
    if len(elapsed) != 1 or not elapsed.pop().isdigit():  # both present, the same whole milliseconds
        return None
    return ["x-request-id:hex:4:32", *(f"{name}:ms" for name in ELAPSED_HEADERS)]


def _only(body: bytes, needle: bytes) -> int | None:
    """Where `needle` occurs in `body`, if exactly once."""
    where = body.find(needle)
    if where < 0 or body.find(needle, where + 1) >= 0:
        return None
    return where
