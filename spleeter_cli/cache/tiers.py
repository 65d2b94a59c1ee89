"""The three places a cache entry can live: process memory (L1), a local directory (L2), Redis (L3).

Tiers store opaque blobs under string keys (the stem cache's are hex digests); checking what is inside a blob is the
manager's job. L1 and L2 are always there; L3 is shared between machines and may
vanish at any time, so it (and L2, on a full or broken disk) switches itself off
after one warning instead of failing a separation or retrying on every file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import diskcache

from ..errors import CacheError, os_cause, path_error, shown

WRITABLE_DIR_HINT = "set cache.dir in the config, SPLEETER_CACHE_DIR or --cache-dir to a writable folder"

T = TypeVar("T")
Warn = Callable[[str], None]


@dataclass(frozen=True)
class TierStats:
    """What a tier holds right now."""

    entries: int
    bytes: int
    limit_bytes: int | None
    # Evictions the backend counts by itself (Redis's evicted_keys, server-wide). None when the
    # tier reports its evictions through set()'s return value, which the manager persists.
    evictions: int | None = None


class Tier(Protocol):
    """A key -> blob store with a size policy."""

    name: str
    available: bool

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, blob: bytes, ttl: float | None = None) -> int:
        """Store ``blob``; returns how many other entries were evicted to make room."""
        ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...

    def stats(self) -> TierStats: ...

    def prune(self, max_bytes: int | None = None, older_than: float | None = None) -> int:
        """Drop entries written more than ``older_than`` seconds ago, then least recently used
        ones until at most ``max_bytes`` remain; returns how many were removed."""
        ...


class FailsSoftly:
    """Turns a backend failure into one warning and a tier that answers "miss" from then on."""

    available: bool = True
    failure: str | None = None  # why it switched itself off
    _errors: tuple[type[BaseException], ...] = ()

    def __init__(self, description: str, on_warning: Warn) -> None:
        self.description = description
        self._on_warning = on_warning
        self._switch = threading.Lock()  # threads failing together still warn once

    def _guarded(self, operation: Callable[[], T], default: T) -> T:
        if not self.available:
            return default
        try:
            return operation()
        except self._errors as error:
            self._disable(error)
            return default

    def _disable(self, error: BaseException) -> None:
        with self._switch:
            if not self.available:
                return
            self.available = False
        self.failure = self._reason(error)
        self._on_warning(f"{self.description} is unavailable ({self.failure}); continuing without it for this run")

    def _reason(self, error: BaseException) -> str:
        if isinstance(error, OSError) and error.errno is not None:  # the words every other path failure uses
            cause = os_cause(error)[0]
            return f"{cause}: {shown(os.fsdecode(error.filename))}" if error.filename is not None else cause
        return str(error) or type(error).__name__


@dataclass
class _Item:
    blob: bytes
    written: float
    expires: float | None


class MemoryTier:
    """L1: a byte-bounded LRU inside this process; shared by the pipeline's threads."""

    name = "memory"
    available = True

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, _Item] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item.expires is not None and item.expires <= time.time():
                self._remove(key)
                return None
            self._items.move_to_end(key)
            return item.blob

    def set(self, key: str, blob: bytes, ttl: float | None = None) -> int:
        now = time.time()
        with self._lock:
            self._remove(key)
            if len(blob) > self.max_bytes:
                return 0  # would evict everything and still not fit
            self._items[key] = _Item(blob, now, None if ttl is None else now + ttl)
            self._bytes += len(blob)
            return self._shrink(self.max_bytes)

    def delete(self, key: str) -> None:
        with self._lock:
            self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def stats(self) -> TierStats:
        with self._lock:
            return TierStats(len(self._items), self._bytes, self.max_bytes)

    def prune(self, max_bytes: int | None = None, older_than: float | None = None) -> int:
        removed = 0
        with self._lock:
            if older_than is not None:
                cutoff = time.time() - older_than
                for key in [k for k, item in self._items.items() if item.written < cutoff]:
                    self._remove(key)
                    removed += 1
            if max_bytes is not None:
                removed += self._shrink(max_bytes)
        return removed

    def _remove(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._bytes -= len(item.blob)

    def _shrink(self, max_bytes: int) -> int:
        """Evict least recently used entries until at most ``max_bytes`` remain (lock held)."""
        evicted = 0
        while self._bytes > max_bytes and self._items:
            _, item = self._items.popitem(last=False)
            self._bytes -= len(item.blob)
            evicted += 1
        return evicted


class DiskTier(FailsSoftly):
    """L2: a diskcache directory; several processes may share it (SQLite locking, atomic files).

    Every entry is its own file (``disk_min_file_size=0``; our entries are megabytes of
    encoded audio anyway), so diskcache's index knows each entry's exact size. diskcache
    also records when each entry was stored and last read; the size limit, ``prune`` and
    ``stats`` read those columns instead of keeping a second index that would drift
    whenever another process writes. diskcache's own culling is off (``cull_limit=0``):
    it evicts ten entries at a time, far too many when one entry is a whole song, so
    ``set`` evicts least recently used entries one by one and counts them exactly.
    """

    name = "disk"
    _errors = (OSError, sqlite3.Error, diskcache.Timeout)

    def __init__(self, directory: Path, max_bytes: int, on_warning: Warn) -> None:
        super().__init__(f"the disk cache in {directory}", on_warning)
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        try:
            self._cache = diskcache.Cache(
                str(self.directory),
                size_limit=max_bytes,
                eviction_policy="least-recently-used",
                cull_limit=0,
                disk_min_file_size=0,
            )
        except OSError as error:
            raise path_error(
                CacheError, self.directory, error, "cannot open the disk cache", f"{WRITABLE_DIR_HINT}, or use --no-cache"
            ) from None
        except sqlite3.Error as error:
            raise CacheError(
                f"cannot open the disk cache in {shown(self.directory)}: {error}", hint=f"{WRITABLE_DIR_HINT}, or use --no-cache"
            ) from None

    def get(self, key: str) -> bytes | None:
        return self._guarded(lambda: self._cache.get(key), None)

    def set(self, key: str, blob: bytes, ttl: float | None = None) -> int:
        def store() -> int:
            self._cache.set(key, blob, expire=ttl)
            return int(self._cache.expire()) + self._shrink(self.max_bytes)

        return self._guarded(store, 0)

    def delete(self, key: str) -> None:
        self._guarded(lambda: self._cache.delete(key), False)

    def clear(self) -> None:
        self._guarded(self._cache.clear, 0)

    def stats(self) -> TierStats:
        rows = self._guarded(lambda: list(self._index("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM Cache")), [(0, 0)])
        entries, size = rows[0]
        return TierStats(int(entries), int(size), self.max_bytes)

    def prune(self, max_bytes: int | None = None, older_than: float | None = None) -> int:
        def run() -> int:
            removed = 0
            if older_than is not None:
                cutoff = time.time() - older_than
                removed += self._remove([key for (key,) in self._index("SELECT key FROM Cache WHERE store_time < ?", (cutoff,))])
            if max_bytes is not None:
                removed += self._shrink(max_bytes)
            return removed

        return self._guarded(run, 0)

    def _shrink(self, max_bytes: int) -> int:
        """Delete least recently used entries until the entries total at most ``max_bytes``."""
        rows = list(self._index("SELECT key, size FROM Cache ORDER BY access_time"))
        excess = sum(size for _, size in rows) - max_bytes
        doomed = []
        for key, size in rows:
            if excess <= 0:
                break
            doomed.append(key)
            excess -= size
        return self._remove(doomed)

    def _remove(self, keys: list[str]) -> int:
        """Delete ``keys``; counts only those this process removed (another may have been first)."""
        return sum(bool(self._cache.delete(key)) for key in keys)

    def _index(self, query: str, parameters: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of diskcache's own index (table ``Cache``), read-only, on a private connection."""
        uri = (self.directory / diskcache.core.DBNAME).resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as connection:
            yield from connection.execute(query, parameters)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``****`` (user:****@host, and ?password=).

    Edits the string in place rather than re-joining parsed parts, which would turn
    ``unix:///path`` into ``unix:/path``.
    """
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    if ":" in userinfo:
        url = url.replace(parts.netloc, f"{userinfo.partition(':')[0]}:****@{host}", 1)
    base, question, rest = url.partition("?")
    query, hashmark, fragment = rest.partition("#")
    pairs = ["password=****" if unquote(pair.partition("=")[0]) == "password" else pair for pair in query.split("&")]
    return base + question + "&".join(pairs) + hashmark + fragment


def _secrets(url: str) -> list[str]:
    """The password spellings that must never reach a message (as typed and URL-decoded)."""
    parts = urlsplit(url)
    found = [parts.password or ""] + [value for name, value in parse_qsl(parts.query) if name == "password"]
    raw_userinfo = parts.netloc.rpartition("@")[0]
    found.append(raw_userinfo.partition(":")[2])
    return [secret for secret in found if secret]


class RedisTier(FailsSoftly):
    """L3: a Redis server shared by machines; keys ``spl:<key>``, expiry by TTL.

    A sorted set ``spl:written`` scores each key by its write time, so ``prune`` can
    drop entries by age (Redis keeps no creation time) and ``stats`` can count ours
    without scanning the whole server. ``prune --max-size`` drops the oldest written
    first (Redis has no portable last-access time); members whose key has expired are
    dropped by ``prune`` too. No retries: a dead server costs one connect timeout, then
    the tier is off.
    """

    name = "redis"
    PREFIX = "spl:"
    INDEX = "spl:written"

    def __init__(self, url: str, default_ttl: float | None, on_warning: Warn) -> None:
        import redis  # 0.2 s of imports: only when a Redis URL is configured
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        super().__init__(f"the Redis cache at {redact(url)}", on_warning)
        self.url = url
        self.default_ttl = default_ttl
        self._errors = (redis.RedisError, OSError)
        self._client: Any  # redis-py types each reply as a union of every RESP type
        try:
            self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0))
        except ValueError as error:  # not a redis://, rediss:// or unix:// URL
            self._disable(error)

    def ping(self) -> bool:
        return bool(self._guarded(lambda: self._client.ping(), False))

    def get(self, key: str) -> bytes | None:
        return self._guarded(lambda: self._client.get(self.PREFIX + key), None)

    def set(self, key: str, blob: bytes, ttl: float | None = None) -> int:
        ttl = self.default_ttl if ttl is None else ttl

        def store() -> int:
            pipe = self._client.pipeline(transaction=False)
            pipe.set(self.PREFIX + key, blob, px=None if ttl is None else max(1, int(ttl * 1000)))
            pipe.zadd(self.INDEX, {key: time.time()})
            pipe.execute()
            return 0  # Redis evicts under its own maxmemory policy; stats() reports its count

        return self._guarded(store, 0)

    def delete(self, key: str) -> None:
        self._guarded(lambda: self._remove([key]), 0)

    def clear(self) -> None:
        def run() -> None:
            batch: list[bytes] = []
            for name in self._client.scan_iter(match=self.PREFIX + "*", count=1000):
                batch.append(name)
                if len(batch) >= 500:
                    self._client.delete(*batch)
                    batch.clear()
            if batch:
                self._client.delete(*batch)

        self._guarded(run, None)

    def stats(self) -> TierStats:
        def read() -> TierStats:
            sizes = [size for _, _, size in self._entries() if size]
            memory, counters = self._client.info("memory"), self._client.info("stats")
            return TierStats(len(sizes), sum(sizes), int(memory.get("maxmemory", 0)) or None, int(counters.get("evicted_keys", 0)))

        return self._guarded(read, TierStats(0, 0, None))

    def prune(self, max_bytes: int | None = None, older_than: float | None = None) -> int:
        def run() -> int:
            entries = self._entries()
            live = [(key, written, size) for key, written, size in entries if size]
            stale = [key for key, _, size in entries if not size]
            if stale:
                self._client.zrem(self.INDEX, *stale)
            doomed: set[str] = set()
            if older_than is not None:
                cutoff = time.time() - older_than
                doomed.update(key for key, written, _ in live if written < cutoff)
            if max_bytes is not None:
                total = sum(size for key, _, size in live if key not in doomed)
                for key, _, size in live:  # oldest first
                    if total <= max_bytes:
                        break
                    if key not in doomed:
                        doomed.add(key)
                        total -= size
            return self._remove(sorted(doomed)) if doomed else 0

        return self._guarded(run, 0)

    def _entries(self) -> list[tuple[str, float, int]]:
        """(key, write time, size) of every indexed key, oldest first; size 0 once expired."""
        members = self._client.zrange(self.INDEX, 0, -1, withscores=True)
        pipe = self._client.pipeline(transaction=False)
        for member, _ in members:
            pipe.strlen(self.PREFIX + member.decode())
        sizes = pipe.execute()
        return [(member.decode(), float(score), int(size)) for (member, score), size in zip(members, sizes, strict=True)]

    def _remove(self, keys: list[str]) -> int:
        pipe = self._client.pipeline(transaction=False)
        pipe.delete(*[self.PREFIX + key for key in keys])
        pipe.zrem(self.INDEX, *keys)
        removed, _ = pipe.execute()
        return int(removed)

    def _reason(self, error: BaseException) -> str:
        text = super()._reason(error)
        for secret in _secrets(self.url):
            text = text.replace(secret, "****")
        return text
