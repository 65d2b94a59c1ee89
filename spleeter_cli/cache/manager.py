"""CacheManager: one lookup over memory (L1), disk (L2) and Redis (L3), with checked entries.

Underneath is a key/value layer of bytes (``get_bytes``/``set_bytes``, and the coroutines
``get``/``set`` of the Python API) that stores any value in every tier or in one
(``cache_level``). The stem cache is built on it: a stem entry is the encoded stem files of
one separation plus a little metadata,
packed into one self-checking blob (see ``pack``), so every tier stores opaque
bytes and a damaged entry is caught on read wherever it sits: it is deleted from
that tier, counted as ``corrupt`` and the lookup goes on to the next tier.

Hit, miss, corrupt and eviction counts live in a small SQLite file next to the
L2 entries, so ``spl cache stats`` adds up every process that used the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import sqlite3
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .. import __version__
from ..config import BY_KEY, Settings, default_cache_dir, load_config
from ..errors import CacheError, ValidationError, path_error
from ..sqlite_wal import connect_wal
from .tiers import WRITABLE_DIR_HINT, DiskTier, FailsSoftly, MemoryTier, RedisTier, Tier, redact

ENTRY_FORMAT = 1
TIER_NAMES = ("memory", "disk", "redis")
CACHE_LEVELS = ("auto", *TIER_NAMES)  # where the key/value API keeps a value: every tier, or one
T = TypeVar("T")

# magic, format, sha256 of everything after it, header length; then the JSON header, then the files
_PREFIX = struct.Struct(">4sB32sI")
_MAGIC = b"SPLC"


class CorruptEntry(ValueError):
    """A blob that is not an intact entry: truncated, bit-flipped or of another format."""


def pack(files: Mapping[str, bytes], meta: Mapping[str, Any]) -> bytes:
    """One blob: a fixed prefix, a JSON header (metadata, file names and lengths), the raw files.

    The checksum covers the header and the files, so any flipped bit or lost tail is
    detected before a byte of it is written out as a stem.
    """
    header = json.dumps({"meta": dict(meta), "files": [[name, len(data)] for name, data in files.items()]}, separators=(",", ":")).encode()
    digest = hashlib.sha256(header)
    for data in files.values():
        digest.update(data)
    return b"".join([_PREFIX.pack(_MAGIC, ENTRY_FORMAT, digest.digest(), len(header)), header, *files.values()])


def unpack(blob: bytes) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files and metadata of a blob made by ``pack``; raises CorruptEntry if it is damaged."""
    view = memoryview(blob)
    if len(view) < _PREFIX.size:
        raise CorruptEntry("shorter than its header")
    magic, version, checksum, header_size = _PREFIX.unpack_from(view)
    if magic != _MAGIC or version != ENTRY_FORMAT:
        raise CorruptEntry("not a cache entry of this format")
    if hashlib.sha256(view[_PREFIX.size :]).digest() != checksum:
        raise CorruptEntry("checksum mismatch")
    start = _PREFIX.size + header_size
    try:  # the checksum held, so a failure below is a foreign or buggy writer, not damage
        header = json.loads(bytes(view[_PREFIX.size : start]))
        files = {}
        for name, size in header["files"]:
            files[name] = bytes(view[start : start + size])
            start += size
        meta = header["meta"]
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptEntry(f"unreadable header: {error}") from None
    if start != len(view):
        raise CorruptEntry("file lengths do not add up")
    return files, meta


@dataclass(frozen=True)
class CacheHit:
    """A found entry, and the tier that answered (``memory``, ``disk`` or ``redis``)."""

    files: dict[str, bytes]
    meta: dict[str, Any]
    tier: str


class Counters(FailsSoftly):
    """Persistent counters shared by processes: one SQLite row per (tier, counter).

    Each lookup adds its few increments in one short write transaction (WAL mode),
    which SQLite serializes across processes; a broken file costs a warning, not a run.
    """

    _errors = (sqlite3.Error,)

    def __init__(self, path: Path, on_warning: Callable[[str], None]) -> None:
        super().__init__(f"the cache statistics file {path}", on_warning)
        self._lock = threading.Lock()
        try:
            self._db = connect_wal(path, timeout=30, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS counters (tier TEXT, name TEXT, value INTEGER NOT NULL, PRIMARY KEY (tier, name)) WITHOUT ROWID"
            )
        except sqlite3.Error as error:
            raise CacheError(f"cannot open {path}: {error}", hint=WRITABLE_DIR_HINT) from None

    def add(self, increments: Mapping[tuple[str, str], int]) -> None:
        rows = [(tier, name, value) for (tier, name), value in increments.items() if value]
        if rows:
            self._guarded(lambda: self._write(rows), None)

    def read(self) -> dict[str, dict[str, int]]:
        def query() -> dict[str, dict[str, int]]:
            table: dict[str, dict[str, int]] = {}
            with self._lock:
                for tier, name, value in self._db.execute("SELECT tier, name, value FROM counters"):
                    table.setdefault(tier, {})[name] = value
            return table

        return self._guarded(query, {})

    def _write(self, rows: list[tuple[str, str, int]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT (tier, name) DO UPDATE SET value = value + excluded.value", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


ENTRIES = "entries"  # the disk tier's folder inside the cache directory


def _log_warning(message: str) -> None:
    logging.getLogger(__name__).warning(message)


class CacheManager:
    """Looks entries up in L1, L2, L3 in order, promotes what lower tiers find, writes through.

    Stem entries are named by content (see keys.py) and never go stale, so their TTL is only a
    space policy: Redis entries get ``redis_ttl`` unless ``set`` gives one, and promoted
    copies in L1/L2 keep no TTL. ``memory_mb=0`` or ``disk_mb=0`` leaves that tier out.
    ``directory`` holds the L2 entries (``entries/``) and the counters (``stats.db``).
    The keyword defaults are the settings' built-in ones; ``from_settings`` builds the
    cache the configuration (file, environment, flags) describes.
    """

    def __init__(
        self,
        directory: Path | None = None,
        memory_mb: int = BY_KEY["cache.memory_mb"].default,
        disk_mb: int = BY_KEY["cache.disk_mb"].default,
        redis_url: str | None = None,
        redis_ttl: float | None = BY_KEY["cache.redis_ttl_seconds"].default,
        enabled: bool = True,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.enabled = enabled
        self.directory = Path(directory) if directory else default_cache_dir()
        self.redis_url = redis_url or None
        self.redis_ttl = redis_ttl
        self.tiers: list[Tier] = []
        if not enabled:
            return
        warn = on_warning if on_warning is not None else _log_warning
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise path_error(CacheError, self.directory, error, "cannot create the cache directory", WRITABLE_DIR_HINT) from None
        if memory_mb > 0:
            self.tiers.append(MemoryTier(memory_mb * 2**20))
        if disk_mb > 0:
            self.tiers.append(DiskTier(self.directory / ENTRIES, disk_mb * 2**20, warn))
        if self.redis_url:
            self.tiers.append(RedisTier(self.redis_url, redis_ttl, warn))
        self._counters = Counters(self.directory / "stats.db", warn)

    @staticmethod
    def remove_disk_tier(directory: Path | None) -> Path:
        """Delete the disk tier's folder without opening its index; returns the folder.

        What `spl cache clear` can still do when the index cannot be opened: on a full
        disk (when clearing matters most) or a damaged database. Counters stay.
        """
        folder = (Path(directory) if directory else default_cache_dir()) / ENTRIES
        try:
            shutil.rmtree(folder, ignore_errors=False)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise CacheError(
                f"cannot remove the disk cache {folder}: {error.strerror or error}", hint="remove the folder by hand"
            ) from None
        return folder

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, on_warning: Callable[[str], None] | None = None, disk: bool = True
    ) -> CacheManager:
        """The cache ``settings`` describe (default: ``config.load_config()``), whether or not runs use it; raises CacheError.

        The one factory for the CLI, Dask workers and the Python API, so they all open the same
        folders and Redis. ``disk=False`` leaves the disk tier out (for `spl cache clear` when
        its index cannot be opened).
        """
        cache = (settings or load_config()).cache
        return cls(
            cache.dir, cache.memory_mb, cache.disk_mb if disk else 0, cache.redis_url, cache.redis_ttl_seconds, on_warning=on_warning
        )

    @classmethod
    def for_run(cls, settings: Settings, on_warning: Callable[[str], None]) -> CacheManager | None:
        """A run's cache: None when ``cache.enabled`` is off, or (after a warning) when it cannot be opened,
        because a separation goes on without its cache."""
        if not settings.cache.enabled:
            return None
        try:
            return cls.from_settings(settings, on_warning)
        except CacheError as error:
            on_warning(f"{error}; continuing without the cache")
            return None

    # The key/value layer: any bytes under any key, in every tier ("auto") or in one.

    def get_bytes(self, key: str, cache_level: str = "auto") -> bytes | None:
        """The bytes stored under ``key``, or None; ``auto`` looks in memory, disk, Redis and promotes a find."""
        found = self._lookup(key, cache_level, bytes)
        return None if found is None else found[0]

    def set_bytes(self, key: str, data: bytes, ttl: float | None = None, cache_level: str = "auto") -> None:
        """Store ``data`` under ``key`` in every tier (``auto``) or the one named; ``ttl`` seconds (None: the tier's policy)."""
        _check_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValidationError(
                f"cache values are bytes, not {type(data).__name__}", hint="encode it first, e.g. json.dumps(value).encode()", key=key
            )
        if ttl is not None and not (isinstance(ttl, (int, float)) and ttl > 0):
            raise ValidationError(f"must be a positive number of seconds or None, not {ttl!r}", key=key, setting="ttl")
        tiers = self._level(cache_level)
        counts: Counter[tuple[str, str]] = Counter()
        for tier in tiers:
            if tier.available:
                counts[tier.name, "evictions"] += tier.set(key, bytes(data), ttl)
        if tiers:
            self._counters.add(counts)

    async def get(self, key: str, cache_level: str = "auto") -> bytes | None:
        """``get_bytes`` on a worker thread, so an event loop never waits on disk or Redis."""
        return await asyncio.to_thread(self.get_bytes, key, cache_level)

    async def set(self, key: str, data: bytes, ttl: float | None = 3600, cache_level: str = "auto") -> None:
        """``set_bytes`` on a worker thread; entries last an hour unless ``ttl`` says otherwise (None: no expiry)."""
        await asyncio.to_thread(self.set_bytes, key, data, ttl, cache_level)

    # The stem cache: one separation's files and metadata, packed into one checked blob under the key/value layer.

    def get_stems(self, key: str) -> CacheHit | None:
        """The stems stored under ``key``; a damaged copy is deleted from its tier and the lookup goes on."""
        found = self._lookup(key, "auto", unpack)
        if found is None:
            return None
        (files, meta), tier = found
        return CacheHit(files, meta, tier)

    def set_stems(self, key: str, files: Mapping[str, bytes], meta: Mapping[str, Any], ttl: float | None = None) -> None:
        self.set_bytes(key, pack(files, meta), ttl)

    def _lookup(self, key: str, cache_level: str, decode: Callable[[bytes], T]) -> tuple[T, str] | None:
        """The first intact value among the level's tiers and the tier that held it; copied into the faster ones.

        ``decode`` turns a blob into the value and raises CorruptEntry for a damaged one.
        """
        _check_key(key)
        tiers = self._level(cache_level)
        if not tiers:
            return None
        counts: Counter[tuple[str, str]] = Counter()
        try:
            for index, tier in enumerate(tiers):
                found = self._read(tier, key, counts, decode)
                if found is not None:
                    blob, value = found
                    for faster in tiers[:index]:
                        if faster.available:
                            counts[faster.name, "evictions"] += faster.set(key, blob)
                    counts["total", "hits"] += 1
                    return value, tier.name
            counts["total", "misses"] += 1
            return None
        finally:
            self._counters.add(counts)

    def _read(self, tier: Tier, key: str, counts: Counter[tuple[str, str]], decode: Callable[[bytes], T]) -> tuple[bytes, T] | None:
        """One tier's intact copy, counting the outcome; a damaged copy is deleted there."""
        if not tier.available:
            return None
        blob = tier.get(key)
        if blob is not None:
            try:
                value = decode(blob)
            except CorruptEntry:
                tier.delete(key)
                counts[tier.name, "corrupt"] += 1
            else:
                counts[tier.name, "hits"] += 1
                return blob, value
        counts[tier.name, "misses"] += 1
        return None

    def _level(self, cache_level: str) -> list[Tier]:
        """The tiers a ``cache_level`` names: ``auto`` every configured one, else that tier (which must be configured)."""
        if cache_level not in CACHE_LEVELS:
            raise ValidationError(f"must be one of {', '.join(CACHE_LEVELS)}, not {cache_level!r}", setting="cache_level")
        if not self.enabled:
            return []
        if cache_level == "auto":
            return list(self.tiers)
        return self._select([cache_level])

    def get_cache_stats(self) -> dict[str, Any]:
        """Per tier: entries, bytes, limit, hits, misses, hit rate, evictions, corrupt.

        Totals count lookups (a hit in any tier is one hit); entries and bytes have no total,
        since a promoted entry sits in several tiers at once.
        """
        if not self.enabled:
            return {"enabled": False, "tiers": {}, "total": {}}
        counters = self._counters.read()
        tiers: dict[str, dict[str, Any]] = {}
        for tier in self.tiers:
            current = tier.stats()
            counted = counters.get(tier.name, {})
            hits, misses = counted.get("hits", 0), counted.get("misses", 0)
            tiers[tier.name] = {
                "available": tier.available,
                "entries": current.entries,
                "bytes": current.bytes,
                "limit_bytes": current.limit_bytes,
                "hits": hits,
                "misses": misses,
                "hit_rate": _rate(hits, misses),
                "evictions": current.evictions if current.evictions is not None else counted.get("evictions", 0),
                "corrupt": counted.get("corrupt", 0),
            }
        hits, misses = counters.get("total", {}).get("hits", 0), counters.get("total", {}).get("misses", 0)
        total = {
            "lookups": hits + misses,
            "hits": hits,
            "misses": misses,
            "hit_rate": _rate(hits, misses),
            "evictions": sum(counters.get(name, {}).get("evictions", 0) for name in tiers),  # spl's own, not Redis's server-wide count
            "corrupt": sum(row["corrupt"] for row in tiers.values()),
        }
        return {"enabled": True, "directory": str(self.directory), "tiers": tiers, "total": total}

    def clear(self, tiers: Iterable[str] | None = None) -> None:
        """Remove every entry from the named tiers (default: all). Counters are history and stay."""
        for tier in self._select(tiers):
            tier.clear()

    def prune(self, max_bytes: int | None = None, older_than: float | None = None) -> dict[str, int]:
        """Per tier, drop entries written over ``older_than`` s ago, then LRU ones until each
        tier holds at most ``max_bytes``; returns how many entries each tier removed."""
        return {tier.name: tier.prune(max_bytes, older_than) for tier in self._select(None)}

    def info(self) -> dict[str, Any]:
        """Where the cache lives and its limits; pings Redis (the URL is always redacted)."""
        tiers: dict[str, dict[str, Any]] = {}
        for tier in self.tiers:
            if isinstance(tier, RedisTier):
                tiers[tier.name] = {"url": redact(tier.url), "reachable": tier.ping(), "ttl": self.redis_ttl}
            else:
                tiers[tier.name] = {"limit_bytes": tier.stats().limit_bytes}
        return {
            "version": __version__,
            "entry_format": ENTRY_FORMAT,
            "enabled": self.enabled,
            "directory": str(self.directory),
            "tiers": tiers,
        }

    def _select(self, names: Iterable[str] | None) -> list[Tier]:
        if not self.enabled:
            return []
        if names is None:
            return list(self.tiers)
        wanted = set(names)
        unknown = wanted - set(TIER_NAMES)
        if unknown:
            raise ValidationError(f"unknown cache tier {', '.join(sorted(unknown))}", hint=f"choose from {', '.join(TIER_NAMES)}")
        if "redis" in wanted and not self.redis_url:
            raise ValidationError("no Redis cache is configured", hint="pass --redis-url or set SPLEETER_REDIS_URL")
        missing = wanted - {tier.name for tier in self.tiers}
        if missing:
            raise ValidationError(
                f"the {', '.join(sorted(missing))} cache tier is off (its size is 0)",
                hint="give it a size: cache.memory_mb or cache.disk_mb",
            )
        return [tier for tier in self.tiers if tier.name in wanted]


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValidationError(f"a cache key is a non-empty string, not {key!r}", hint="name the value, e.g. 'features:song.mp3'")


def _rate(hits: int, misses: int) -> float | None:
    return round(hits / (hits + misses), 4) if hits + misses else None
