"""The Redis store: several hosts share one Redis (the limiter's, typically).

Layout under a key prefix (default "sentra:state:"):
  doc:<collection>:<id>                  a hash: body (JSON), seq, parent, has_parent, created_at, expires_at
  order:<collection>                     a sorted set of ids by insertion sequence (the order `list` uses)
  children:<collection>:<parent>         the same, per parent
  ids:<collection>                       the ids, all with score 0 (so in byte order: with_id_prefix's range)
  ids-complete:<collection>              set once ids:<collection> holds the ids written before it existed too
  seq                                    the insertion counter (INCR)
  expiry                                 members "<collection>\n<id>\n<has_parent><parent>" by expires_at: the
                                         sweep (every SWEEP_EVERY puts of a process, or purge_expired()) removes
                                         expired documents and their places in the sorted sets
Writes that touch several keys run as Lua scripts (atomic); `update` is a WATCH/MULTI optimistic transaction,
retried on conflict. Expired documents leave Redis's memory through the sweep; as a safety net each hash also carries
a Redis TTL a little past its `expires_at` (ids whose hash vanished that way are dropped when `list` meets them). Expiry itself
is decided by the store's clock (like the other stores), so a test's clock drives it. Durability across a Redis
restart is Redis's own setting (appendonly); a write is acknowledged once Redis has applied it.
The scripts build key names from the prefix, so all keys must live on one Redis node (no Cluster).
"""

from __future__ import annotations

from typing import Any

import orjson

from .base import Change, Doc, StateStore, Where, check_order, prefix_end

DEFAULT_PREFIX = "sentra:state:"
LIST_BATCH = 64
# Redis drops a document's hash this long after it expired by the store's clock (which decides visibility).
EXPIRY_GRACE_S = 60.0

_PUT = """
local prefix, coll, id, has_parent, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local body, created, expires, now, ttl_ms = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
local doc = prefix .. 'doc:' .. coll .. ':' .. id
local old = redis.call('HMGET', doc, 'seq', 'parent', 'has_parent', 'expires_at')
local seq = old[1]
if seq and old[4] ~= '' and tonumber(old[4]) <= now then
  seq = false  -- expired: gone, so this put is an insert with a new place in the order
end
if old[1] then
  redis.call('ZREM', prefix .. 'expiry', coll .. '\\n' .. id .. '\\n' .. old[3] .. old[2])
  if old[3] == '1' and (not seq or has_parent ~= '1' or old[2] ~= parent) then
    redis.call('ZREM', prefix .. 'children:' .. coll .. ':' .. old[2], id)
  end
  if not seq then redis.call('ZREM', prefix .. 'order:' .. coll, id) end
end
if not seq then seq = redis.call('INCR', prefix .. 'seq') end
redis.call('DEL', doc)
redis.call('HSET', doc, 'seq', seq, 'parent', parent, 'has_parent', has_parent, 'created_at', created,
           'expires_at', expires, 'body', body)
redis.call('ZADD', prefix .. 'order:' .. coll, seq, id)
redis.call('ZADD', prefix .. 'ids:' .. coll, 0, id)
if has_parent == '1' then redis.call('ZADD', prefix .. 'children:' .. coll .. ':' .. parent, seq, id) end
if ttl_ms ~= '' then redis.call('PEXPIRE', doc, ttl_ms) end
if expires ~= '' then
  redis.call('ZADD', prefix .. 'expiry', expires, coll .. '\\n' .. id .. '\\n' .. has_parent .. parent)
end
return seq
"""

_DELETE = """
local prefix, coll, id, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local doc = prefix .. 'doc:' .. coll .. ':' .. id
local old = redis.call('HMGET', doc, 'seq', 'parent', 'has_parent', 'expires_at')
redis.call('ZREM', prefix .. 'order:' .. coll, id)
redis.call('ZREM', prefix .. 'ids:' .. coll, id)
if not old[1] then return 0 end
if old[3] == '1' then redis.call('ZREM', prefix .. 'children:' .. coll .. ':' .. old[2], id) end
redis.call('ZREM', prefix .. 'expiry', coll .. '\\n' .. id .. '\\n' .. old[3] .. old[2])
redis.call('DEL', doc)
if old[4] ~= '' and tonumber(old[4]) <= now then return 0 end
return 1
"""

_DELETE_CHILDREN = """
local prefix, coll, parent, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local children = prefix .. 'children:' .. coll .. ':' .. parent
local live = 0
for _, id in ipairs(redis.call('ZRANGE', children, 0, -1)) do
  local doc = prefix .. 'doc:' .. coll .. ':' .. id
  local expires = redis.call('HGET', doc, 'expires_at')
  if expires then
    if expires == '' or tonumber(expires) > now then live = live + 1 end
    redis.call('DEL', doc)
  end
  redis.call('ZREM', prefix .. 'expiry', coll .. '\\n' .. id .. '\\n1' .. parent)
  redis.call('ZREM', prefix .. 'order:' .. coll, id)
  redis.call('ZREM', prefix .. 'ids:' .. coll, id)
end
redis.call('DEL', children)
return live
"""

_SWEEP = """
local prefix, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', prefix .. 'expiry', '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(due) do
  local first = string.find(member, '\\n', 1, true)
  local second = string.find(member, '\\n', first + 1, true)
  local coll, id = string.sub(member, 1, first - 1), string.sub(member, first + 1, second - 1)
  local has_parent, parent = string.sub(member, second + 1, second + 1), string.sub(member, second + 2)
  if has_parent == '1' then redis.call('ZREM', prefix .. 'children:' .. coll .. ':' .. parent, id) end
  redis.call('ZREM', prefix .. 'order:' .. coll, id)
  redis.call('ZREM', prefix .. 'ids:' .. coll, id)
  redis.call('DEL', prefix .. 'doc:' .. coll .. ':' .. id)
  redis.call('ZREM', prefix .. 'expiry', member)
end
return #due
"""
SWEEP_EVERY = 200  # puts of one process between sweeps
SWEEP_BATCH = 500  # expired documents one sweep removes at most (a bounded script: Redis runs one at a time)


class RedisStore(StateStore):
    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, **kwargs) -> None:
        super().__init__(**kwargs)
        import redis  # the optional dependency (pip install 'sentra-openai[redis]')

        self._redis_module = redis
        # redis-py's pool notices a fork and opens fresh connections in the child.
        # Typed Any: redis-py's stubs type every reply as a union of all replies.
        self.client: Any = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        self.prefix = prefix
        self._put = self.client.register_script(_PUT)
        self._delete = self.client.register_script(_DELETE)
        self._delete_children = self.client.register_script(_DELETE_CHILDREN)
        self._sweep = self.client.register_script(_SWEEP)
        self._puts = 0
        self._ids_complete: set[str] = set()  # collections whose ids:<collection> this process knows to be whole

    def _doc_key(self, collection: str, id: str) -> str:
        return f"{self.prefix}doc:{collection}:{id}"

    def _bodies(self, collection: str, ids: list[bytes]) -> list[list[bytes | None]]:
        """[body, expires_at] of each id's hash (None, None when Redis dropped it), in one round trip."""
        with self.client.pipeline(transaction=False) as pipe:
            for raw_id in ids:
                pipe.hmget(self._doc_key(collection, raw_id.decode()), "body", "expires_at")
            return pipe.execute()

    def _alive(self, expires: bytes | None) -> bool:
        return not expires or float(expires) > self.clock()

    def put(self, collection: str, id: str, doc: Doc, *, parent: str | None = None,
            created_at: float, ttl_seconds: float | None = None) -> None:
        self.put_many([(collection, id, doc, parent)], created_at=created_at, ttl_seconds=ttl_seconds)

    def put_many(self, entries, *, created_at: float, ttl_seconds: float | None = None) -> None:
        expires_at = self._expires_at(created_at, ttl_seconds)
        now = self.clock()
        ttl_ms = "" if expires_at is None else str(max(1, int((expires_at - now + EXPIRY_GRACE_S) * 1000)))
        entries = list(entries)
        client = self.client.pipeline(transaction=True) if len(entries) > 1 else None  # MULTI: applied together
        for collection, id, doc, parent in entries:
            self._put(args=[self.prefix, collection, id, "0" if parent is None else "1", parent or "",
                            orjson.dumps(doc), repr(float(created_at)), "" if expires_at is None else repr(expires_at),
                            repr(now), ttl_ms], client=client)
        if client is not None:
            client.execute()
            client.reset()
        self._puts += len(entries)
        if self._puts >= SWEEP_EVERY:
            self._puts = 0
            self.purge_expired()

    def purge_expired(self) -> int:
        """Removes expired documents (already invisible) and their places in the sorted sets; returns how many."""
        removed = total = int(self._sweep(args=[self.prefix, repr(self.clock()), SWEEP_BATCH]))
        while removed == SWEEP_BATCH:
            removed = int(self._sweep(args=[self.prefix, repr(self.clock()), SWEEP_BATCH]))
            total += removed
        return total

    def get(self, collection: str, id: str) -> Doc | None:
        body, expires = self.client.hmget(self._doc_key(collection, id), "body", "expires_at")
        if body is None or not self._alive(expires):
            return None
        return orjson.loads(body)

    def delete(self, collection: str, id: str) -> bool:
        return bool(self._delete(args=[self.prefix, collection, id, repr(self.clock())]))

    def update(self, collection: str, id: str, change: Change) -> Doc | None:
        key = self._doc_key(collection, id)
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    body, expires = pipe.hmget(key, "body", "expires_at")
                    if body is None or not self._alive(expires):
                        pipe.unwatch()
                        return None
                    new = change(orjson.loads(body))
                    if new is None:
                        pipe.unwatch()
                        return orjson.loads(body)
                    encoded = orjson.dumps(new)
                    pipe.multi()
                    pipe.hset(key, "body", encoded)
                    pipe.execute()
                    return orjson.loads(encoded)
                except self._redis_module.WatchError:
                    continue  # another writer changed it between our read and write: read again

    def list(self, collection: str, *, parent: str | None = None, order: str = "desc", after: str | None = None,
             limit: int = 20, where: Where | None = None) -> tuple[list[Doc], bool]:
        check_order(order)
        zset = (f"{self.prefix}order:{collection}" if parent is None
                else f"{self.prefix}children:{collection}:{parent}")
        start = 0
        if after is not None:
            rank = (self.client.zrank if order == "asc" else self.client.zrevrank)(zset, after)
            if rank is None or self.get(collection, after) is None:
                return [], False
            start = rank + 1
        fetch = self.client.zrange if order == "asc" else self.client.zrevrange
        batch = LIST_BATCH if where is not None else min(LIST_BATCH, limit + 1)  # unfiltered: one round trip
        found: list[Doc] = []
        while True:
            ids = fetch(zset, start, start + batch - 1)
            if not ids:
                return found, False
            start += len(ids)
            rows = self._bodies(collection, ids)
            stale = []
            for raw_id, (body, expires) in zip(ids, rows):
                if body is None:
                    stale.append(raw_id)
                    continue
                if not self._alive(expires):
                    continue
                doc = orjson.loads(body)
                if where is None or where(doc):
                    if len(found) == limit:
                        return found, True
                    found.append(doc)
            if stale:  # ids whose hash Redis expired: drop them from the order (they were invisible already)
                self.client.zrem(zset, *stale)
                start -= len(stale)

    def with_id_prefix(self, collection: str, prefix: str, *, limit: int = 20) -> list[Doc]:
        zset = f"{self.prefix}ids:{collection}"
        if collection not in self._ids_complete:
            self._complete_ids(collection, zset)
        end = prefix_end(prefix)
        low, high = ("[" + prefix) if prefix else "-", "+" if end is None else "(" + end
        found: list[Doc] = []
        offset = 0
        while True:
            ids = self.client.zrangebylex(zset, low, high, start=offset, num=LIST_BATCH)
            if not ids:
                return found
            offset += len(ids)
            rows = self._bodies(collection, ids)
            stale = [raw_id for raw_id, (body, _) in zip(ids, rows) if body is None]
            for body, expires in rows:
                if body is not None and self._alive(expires):
                    found.append(orjson.loads(body))
                    if len(found) == limit:
                        return found
            if stale:  # ids whose hash Redis expired (see list)
                self.client.zrem(zset, *stale)
                offset -= len(stale)

    def _complete_ids(self, collection: str, zset: str) -> None:
        """Adds the ids of documents written by a version without ids:<collection> (their order still lists them).
        Racing processes add the same ids; one deleted meanwhile is dropped as stale when a lookup meets it."""
        marker = f"{self.prefix}ids-complete:{collection}"
        if not self.client.exists(marker):
            start = 0
            while ids := self.client.zrange(f"{self.prefix}order:{collection}", start, start + 999):
                self.client.zadd(zset, dict.fromkeys(ids, 0))
                start += len(ids)
            self.client.set(marker, 1)
        self._ids_complete.add(collection)

    def delete_children(self, collection: str, parent: str) -> int:
        return int(self._delete_children(args=[self.prefix, collection, parent, repr(self.clock())]))

    def clear(self) -> None:
        batch = []
        for key in self.client.scan_iter(match=self.prefix + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                self.client.delete(*batch)
                batch = []
        if batch:
            self.client.delete(*batch)

    def close(self) -> None:
        self.client.close()
