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

A stored answer (a Responses create with store: true whose one write is its own row, `call.stored_row`) is replayed
too when the store is this host's SQLite file: the note adds `store=` and `doc=` (rust/core/src/front/replay.rs) and
`x-sentra-replay-doc` carries the row's document, and the front writes each replay's row itself (front/store.rs)
before it sends the answer. Doc fills may also be `ans:OFF:LEN:FROM`: the bytes at FROM of the answer's body.

Only content seen before is noted, but for a generated chat answer of replay_shape.py's class: beside the note it gets
`x-sentra-replay-gen`, with which the front answers a request of the same shape with a new prompt itself.
"""

from __future__ import annotations

import base64
import re
import time
from itertools import pairwise
from typing import TYPE_CHECKING

import orjson

from . import replay_shape
from .clock import MonotonicClock
from .types import Outcome

if TYPE_CHECKING:
    from .core import Call, Record

REPLAY_HEADER = "x-sentra-replay"
TAG_HEADER = "x-sentra-replay-tag"
DOC_HEADER = "x-sentra-replay-doc"  # a stored answer's row document (base64), for the front to write
# The largest document sent: the front keeps templates of requests up to 64 KiB (rust/core/src/front/replay.rs
# MAX_BYTES) and refuses a worker's response head over 256 KiB (exchange.rs MAX_RESPONSE_HEAD).
MAX_DOC_BYTES = 96 * 1024
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
_MOMENT = re.compile(rb'"(created|[a-z_]*_at)": ?(-?\d+)')  # the answer is indented, the stored document compact
_COLLECTION = re.compile(r"[a-z_]+")  # the front's grammar for a row's collection (replay.rs store_note)
_DECIMAL = re.compile(r"\d+(\.\d+)?")  # a time to live in seconds, as the front parses one


def attach(call: Call, outcome: Outcome) -> None:
    """Adds the note to `outcome`'s headers when the answer may be replayed (after the engine set every header)."""
    if not call.replayable or not _eligible(call, outcome):
        return
    # Only content seen before: a request that is never repeated (a new prompt each time) pays nothing for a note, in
    # the engine or in the front (a repeated one costs one more worker answer); but an answer the front may compose
    # anew for a new prompt of the same shape (replay_shape.py) gets both notes.
    if call.made_content and call.shape is None:
        return
    ids = _made_ids(call)
    body = _fills(call, outcome.body, ids)
    header_fills = _header_fills(call, outcome.headers)
    if body is None or header_fills is None:
        return
    note = f"ttl={TTL_MS};body={','.join(body.fills)};headers={','.join(header_fills)}"
    if call.stored_row is not None:
        stored = _store_note(call, body, ids)
        if stored is None:
            return
        note += stored[0]
        outcome.headers[DOC_HEADER] = base64.b64encode(stored[1]).decode()
    if call.made_content:
        gen = replay_shape.note(call, outcome, body.spans)
        if gen is None:
            return
        outcome.headers[replay_shape.GEN_HEADER] = gen
    record = call.record
    outcome.headers[REPLAY_HEADER] = note
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


class _Located:
    """A text's fills (the answer body's, or the stored document's) and where it shows each id, for `ans` fills."""

    def __init__(self) -> None:
        self.fills: list[str] = []
        self.spans: list[tuple[int, int]] = []  # every filled byte range, which must not overlap
        self.at: dict[str, int] = {}  # id -> its offset
        self.prefix_at: int | None = None  # where the Responses prefix is drawn (the body's first prefixed id)

    def add(self, kind: str, offset: int, length: int, *source: int) -> None:
        self.fills.append(":".join([kind, str(offset), str(length), *map(str, source)]))
        self.spans.append((offset, offset + length))


def _made_ids(call: Call) -> list[tuple[str, str, bool]]:
    """(kind, id, drawn in base62) of every id the answer shows: `new_id`'s, and a Responses answer's (ids.py), whose
    call ids are base62 and all others carry the response's prefix and creation time."""
    made = [(prefix, id_, True) for prefix, id_ in call.issued_ids]
    if call.response_ids is not None:
        made += [(kind, id_, kind == "call_") for kind, id_ in call.response_ids.issued]
    return made


def _fills(call: Call, text: bytes, ids: list[tuple[str, str, bool]],
           answer: _Located | None = None) -> _Located | None:
    """The fills of the answer body `text`; or, given the body's fills (`answer`), of the stored document `text`,
    whose ids the body shows too are copied from it (`ans`) and whose own ids (input items') are drawn anew but for
    the response's prefix (the body's). None unless every byte that differs between two identical requests is
    located exactly: each id once, no other copy of the prefix, time stamp or creation time, nor the request id."""
    located = _Located()
    if not _id_fills(call, text, ids, answer, located) or not _moment_fills(call, text, located):
        return None
    spans = sorted(located.spans)
    if any(end > start for (_, end), (start, _) in pairwise(spans)):
        return None
    if call.request_id[4:].encode() in text:
        return None
    return located


def _id_fills(call: Call, text: bytes, ids, answer: _Located | None, located: _Located) -> bool:
    """A Responses id is kind + 16 hex shared by the response's ids + "00" + 8 hex of its creation time + 24 hex
    (responses/ids.py); `call_…` and `new_id`'s ids are base62. In the body the first prefixed id draws the prefix
    anew, the others copy it."""
    response_ids = call.response_ids
    shared = response_ids.prefix if response_ids is not None else None
    stamp = f"{response_ids.created_at & 0xFFFFFFFF:08x}" if response_ids is not None else None
    prefixed: list[tuple[int, int]] = []  # (where the id's prefix starts, the id's length after its kind)
    stamped = 0
    for kind, made, base62 in ids:
        where = _only(text, made.encode())
        if where is None:
            return False
        located.at[made] = where
        start, rest = where + len(kind), made[len(kind):]
        if not base62:
            if shared is None or not rest.startswith(shared) or rest[16:26] != "00" + stamp:
                return False  # not the response's, or made at another moment than it
            stamped += 1
        if answer is not None and made in answer.at:
            located.add("ans", start, len(rest), answer.at[made] + len(kind))
        elif base62:
            located.add("b62", start, len(rest))
        else:
            prefixed.append((start, len(rest)))
    prefixed.sort()
    for start, length in prefixed:
        if answer is not None:
            if answer.prefix_at is None:
                return False
            located.add("ans", start, 16, answer.prefix_at)
        elif located.prefix_at is None:
            located.prefix_at = start
            located.add("hex", start, 16)
        else:
            located.add("copy", start, 16, located.prefix_at)
        located.add("hexunix", start + 18, 8)
        located.add("hex", start + 26, length - 26)
    # Nothing else may show the prefix or the time stamp: it would keep the first answer's.
    return shared is None or (text.count(shared.encode()) == stamped and text.count(stamp.encode()) == stamped)


def _moment_fills(call: Call, text: bytes, located: _Located) -> bool:
    """The creation time wherever the text shows one; no other moment and no other copy of it."""
    created = str(call.created_at).encode()
    found = 0
    for match in _MOMENT.finditer(text):
        if match.group(2) != created:
            return False
        start, end = match.span(2)
        located.add("unix", start, end - start)
        found += 1
    return found > 0 and text.count(created) == found


def _store_note(call: Call, answer: _Located, ids: list[tuple[str, str, bool]]) -> tuple[str, bytes] | None:
    """The note's store and doc parts and the row's document, exactly as put_many would write it, for the front to
    write in the worker's place (`ids`: the answer's); its own ids are its input items' (normalize_input's, all of
    the response's prefix in the one-row case)."""
    collection, row_id, doc, parent = call.stored_row
    if parent is not None:  # the front writes rows without one
        return None
    text = orjson.dumps(doc)  # what SqliteStore.put_many writes: no options
    if 4 * ((len(text) + 2) // 3) > MAX_DOC_BYTES:  # its base64 length
        return None
    inputs = [(item["id"].partition("_")[0] + "_", item["id"], False) for item in doc.get("input_items") or []]
    located = _fills(call, text, [*ids, *inputs], answer)
    if located is None or not _COLLECTION.fullmatch(collection) or row_id not in located.at:
        return None
    ttl = call.services.state.default_ttl  # put_many's expires_at: created_at + the store's default TTL
    ttl_text = "none" if ttl is None else repr(ttl)
    if not (ttl_text == "none" or _DECIMAL.fullmatch(ttl_text)):
        return None
    store = f"{collection}:{located.at[row_id]}:{len(row_id)}:{ttl_text}"
    return f";store={store};doc={','.join(located.fills)}", text


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
