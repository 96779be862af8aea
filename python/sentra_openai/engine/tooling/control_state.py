"""What the control API (/sentra/v1/) sets at run time: count-based faults, config overrides, the request log and
resets. Kept in the state store (collection `control`), so every worker of a `--processes N` server sees the same.

Cost per request when nothing is set: one read of a shared-memory counter. Each change to the control document
stores its new version there (an anonymous shared mapping made before the workers fork); a worker whose last seen
version differs re-reads the document once.
"""

from __future__ import annotations

import mmap
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ...config import Settings, with_overlay
from ..realism.faults import Fault, parse_fault_header

if TYPE_CHECKING:
    from ...state import StateStore
    from ..core import Call, Record

COLLECTION = "control"
STATE_ID = "state"  # {version, armed, epoch, faults: [...], config: {...}}
LOG_PARENT = "requests"  # the request log: one document per request, parent "requests"
FIXTURE_CALLS_ID = "fixture_calls"  # {fixture name: calls answered so far}, for fixtures with a reply sequence
PATCHABLE_SECTIONS = ("error_injection", "rate_limiting", "latency", "fixtures")
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-sentra-control-token", "cookie", "openai-api-key"})
POLL_SECONDS = 1.0  # how stale another host's view of a control change may be (Redis store only)
TRIM_EVERY = 256  # fewest log writes (per process) between two trims to control.max_logged_requests


@dataclass(frozen=True)
class ControlFault:
    id: str
    fault: Fault
    remaining: int
    model: str | None
    endpoint: str | None

    def matches(self, model_id: str, endpoint: str) -> bool:
        return (self.model is None or self.model == model_id) and (self.endpoint is None or self.endpoint == endpoint)


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    armed: bool = False
    epoch: int = 0
    faults: tuple[ControlFault, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)


def fault_from_spec(status: Any, at_chunk: Any) -> Fault:
    """The Fault X-Sentra-Error would force: `status` 429/500/502/503/504 or "error-event", optionally at a chunk
    (the header's own parser, so both accept and refuse exactly the same)."""
    header = str(status) + (f"@chunk={at_chunk}" if at_chunk is not None else "")
    return parse_fault_header(header)


def _fault_doc_to_fault(doc: dict[str, Any]) -> ControlFault:
    return ControlFault(doc["id"], fault_from_spec(doc["status"], doc.get("at_chunk")), int(doc["remaining"]),
                        doc.get("model"), doc.get("endpoint"))


class ControlState:
    def __init__(self, store: StateStore, settings: Settings, wall_clock: Callable[[], float]) -> None:
        self.store = store
        self.base_settings = settings
        self.wall_clock = wall_clock
        # MAP_SHARED and anonymous: the workers forked after this keep seeing the same 8 bytes.
        self._shared = mmap.mmap(-1, 8)
        self._counter = memoryview(self._shared).cast("Q")
        self._seen = 0
        self._lock = threading.Lock()
        self._writes = 0
        self.snapshot = Snapshot(armed=settings.control.request_log)
        # Several hosts share a Redis store: the counter is per host, so each process also polls the document.
        self._poll_seconds = POLL_SECONDS if settings.state.store == "redis" else None
        self._next_poll = 0.0
        if self._poll_seconds is None:
            # The sqlite file outlives a restart: what an earlier run set must not leak into this one. (A Redis store
            # is shared with hosts still running: their faults and config stay.)
            for doc_id in (STATE_ID, FIXTURE_CALLS_ID):
                store.delete(COLLECTION, doc_id)
            store.delete_children(COLLECTION, LOG_PARENT)

    # -- seeing changes ---------------------------------------------------------------------------------------------

    def changed(self) -> bool:
        if self._counter[0] != self._seen:
            return True
        if self._poll_seconds is not None and (now := time.monotonic()) >= self._next_poll:
            self._next_poll = now + self._poll_seconds
            doc = self.store.get(COLLECTION, STATE_ID) or {}
            return int(doc.get("version", 0)) != self.snapshot.version
        return False

    def refresh(self) -> Snapshot:
        with self._lock:
            seen = self._counter[0]
            doc = self.store.get(COLLECTION, STATE_ID) or {}
            self._seen = seen
            self.snapshot = Snapshot(
                version=int(doc.get("version", 0)),
                armed=bool(doc.get("armed", self.base_settings.control.request_log)),
                epoch=int(doc.get("epoch", 0)),
                faults=tuple(_fault_doc_to_fault(f) for f in doc.get("faults", ())),
                config=doc.get("config", {}),
            )
            return self.snapshot

    def _publish(self, version: int) -> None:
        self._counter[0] = version

    def _change(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        """Applies `change` to the control document atomically (creating it), bumping its version."""
        def step(doc: dict[str, Any]) -> dict[str, Any] | None:
            new = change(dict(doc))
            if new is None:
                return None
            new["version"] = int(doc.get("version", 0)) + 1
            return new

        now = self.wall_clock()
        doc = self.store.update(COLLECTION, STATE_ID, step)
        if doc is None:  # absent: create it, then apply (a concurrent creator is fine: update is atomic)
            self.store.put(COLLECTION, STATE_ID, {"version": 0, "armed": self.snapshot.armed, "epoch": 0,
                                                  "faults": [], "config": {}}, created_at=now, ttl_seconds=0)
            doc = self.store.update(COLLECTION, STATE_ID, step) or {}
        self._publish(int(doc.get("version", 0)))
        return doc

    # -- faults -----------------------------------------------------------------------------------------------------

    def add_fault(self, fault_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        entry = {"id": fault_id, "status": spec["status"], "count": spec["count"], "remaining": spec["count"],
                 "model": spec.get("model"), "endpoint": spec.get("endpoint"), "at_chunk": spec.get("at_chunk")}

        def add(doc: dict[str, Any]) -> dict[str, Any]:
            doc["faults"] = [*doc.get("faults", []), entry]
            return doc

        self._change(add)
        return entry

    def list_faults(self) -> list[dict[str, Any]]:
        return list((self.store.get(COLLECTION, STATE_ID) or {}).get("faults", []))

    def clear_faults(self) -> None:
        self._change(lambda doc: {**doc, "faults": []})

    def take_fault(self, model_id: str, endpoint: str) -> Fault | None:
        """Consumes one use of the first fault matching this request, if any (atomically: with N workers, a fault of
        count 2 fails exactly two requests)."""
        if not any(f.matches(model_id, endpoint) for f in self.snapshot.faults):
            return None
        taken: list[dict[str, Any]] = []

        def take(doc: dict[str, Any]) -> dict[str, Any] | None:
            faults = doc.get("faults", [])
            for index, entry in enumerate(faults):
                if ((entry.get("model") in (None, model_id)) and (entry.get("endpoint") in (None, endpoint))
                        and entry["remaining"] > 0):
                    taken.append(entry)
                    left = {**entry, "remaining": entry["remaining"] - 1}
                    rest = faults[:index] + ([left] if left["remaining"] > 0 else []) + faults[index + 1:]
                    return {**doc, "faults": rest}
            return None

        self._change(take)
        if not taken:
            self.refresh()  # another worker used it up
            return None
        return fault_from_spec(taken[0]["status"], taken[0].get("at_chunk"))

    # -- config -----------------------------------------------------------------------------------------------------

    def patch_config(self, patch: Mapping[str, Any]) -> Settings:
        """Lays `patch` over the overrides so far; raises ConfigError (naming the key) when the result is invalid."""
        current = (self.store.get(COLLECTION, STATE_ID) or {}).get("config", {})
        merged = _deep_merge(current, patch)
        settings = with_overlay(self.base_settings, merged, "PATCH /sentra/v1/config")
        self._change(lambda doc: {**doc, "config": merged})
        return settings

    def clear_config(self) -> None:
        self._change(lambda doc: {**doc, "config": {}})

    def settings_for(self, config: Mapping[str, Any]) -> Settings:
        return with_overlay(self.base_settings, config, "PATCH /sentra/v1/config") if config else self.base_settings

    # -- the request log --------------------------------------------------------------------------------------------

    def arm(self) -> None:
        """Starts the request log (a server that never asks for it never writes it)."""
        if not self.snapshot.armed:
            self._change(lambda doc: {**doc, "armed": True})
            self.refresh()

    def log(self, call: Call, record: Record) -> None:
        request = call.request
        if request.path.startswith("/sentra/"):
            return
        try:
            body: Any = orjson.loads(request.body) if request.body else None
        except orjson.JSONDecodeError:
            body = request.body.decode("utf-8", "replace")
        doc = {
            "id": record.request_id, "ts": call.wall_started, "method": record.method,
            "path": request.headers.get("x-sentra-internal-path", record.path),  # Azure's, when it translated
            "endpoint": record.endpoint, "model": record.model, "status": record.status,
            "headers": {k: v for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS
                        and not k.lower().startswith("x-sentra-internal")},
            "body": body,
        }
        self.store.put(COLLECTION, record.request_id, doc, parent=LOG_PARENT, created_at=self.wall_clock(),
                       ttl_seconds=0)
        self._writes += 1
        # Trimming reads the whole kept log: often enough to stay near the cap, rarely enough to cost little.
        if self._writes % max(TRIM_EVERY, self.base_settings.control.max_logged_requests // 4) == 0:
            self._trim()

    def _trim(self) -> None:
        keep = self.base_settings.control.max_logged_requests
        newest, more = self.store.list(COLLECTION, parent=LOG_PARENT, order="desc", limit=keep)
        while more and newest:
            older, more = self.store.list(COLLECTION, parent=LOG_PARENT, order="desc", after=newest[-1]["id"],
                                          limit=1000)
            for doc in older:
                self.store.delete(COLLECTION, doc["id"])

    def requests(self) -> list[dict[str, Any]]:
        docs, _ = self.store.list(COLLECTION, parent=LOG_PARENT, order="asc", limit=10**9)
        return docs

    def clear_requests(self) -> None:
        self.store.delete_children(COLLECTION, LOG_PARENT)

    # -- fixtures with a sequence of replies --------------------------------------------------------------------------

    def next_fixture_call(self, name: str) -> int:
        """How many calls this fixture answered before this one (0 for the first), counted across workers."""
        seen: list[int] = []

        def count(doc: dict[str, Any]) -> dict[str, Any]:
            seen.append(int(doc.get(name, 0)))
            return {**doc, name: seen[-1] + 1}

        if self.store.update(COLLECTION, FIXTURE_CALLS_ID, count) is None:
            self.store.put(COLLECTION, FIXTURE_CALLS_ID, {}, created_at=self.wall_clock(), ttl_seconds=0)
            seen.clear()
            self.store.update(COLLECTION, FIXTURE_CALLS_ID, count)
        return seen[-1] if seen else 0

    # -- reset ------------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Faults, the request log, every stored object and fixture counters go; buckets and the prompt cache follow
        when each worker sees the new epoch. Config overrides stay (DELETE /sentra/v1/config drops them)."""
        previous = self.store.get(COLLECTION, STATE_ID) or {}
        self.store.clear()
        version = int(previous.get("version", 0)) + 1
        doc = {"version": version, "armed": True, "epoch": int(previous.get("epoch", 0)) + 1, "faults": [],
               "config": previous.get("config", {})}
        self.store.put(COLLECTION, STATE_ID, doc, created_at=self.wall_clock(), ttl_seconds=0)
        self._publish(version)


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


RUNTIME_FIXED = frozenset({"rate_limiting.store", "rate_limiting.redis_url", "rate_limiting.shm_path"})


def fixed_keys_in(patch: Mapping[str, Any]) -> list[str]:
    """Keys of a PATCH that only a restart can change (they choose the limiter's store)."""
    return sorted(f"{section}.{key}" for section, values in patch.items() if isinstance(values, Mapping)
                  for key in values if f"{section}.{key}" in RUNTIME_FIXED)


def apply_changes(engine: Any, control: ControlState) -> None:
    """Brings this worker's engine up to the control document: settings overrides, and after a reset fresh
    buckets, an empty prompt cache and no cached content."""
    from ..content.fixtures import FixtureSet
    from ..realism.faults import LoadWindow
    from ..realism.prompt_cache import PromptCache
    from ..realism.rate_limits import window_scale_for

    old = control.snapshot
    new = control.refresh()
    services = engine.services
    if new.epoch != old.epoch:
        services.prompt_cache = PromptCache(services.settings.prompt_caching)
        services.content_cache.clear()
        services.rate_limits.epoch = f"\x1f{new.epoch}" if new.epoch else ""
    if new.config == old.config:
        return
    settings = control.settings_for(new.config)
    previous = services.settings
    if settings == previous:
        return
    if settings.fixtures != previous.fixtures:
        services.fixtures = FixtureSet.load(settings.fixture_paths())
        services.fixtures.counter = control.next_fixture_call
    services.content_cache.clear()  # fixtures or injected faults change what a request gets
    if settings.error_injection.burst_window_seconds != previous.error_injection.burst_window_seconds:
        services.faults.load = LoadWindow(settings.error_injection.burst_window_seconds)
    services.faults.settings = settings.error_injection
    services.rate_limits.settings = settings.rate_limiting
    services.rate_limits.window_scale = window_scale_for(settings)
    services.settings = settings
    engine.settings = settings
