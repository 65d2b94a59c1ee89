"""The stem cache: entry format, keys, the three tiers and `spl cache`, against real things.

Real diskcache directories, real redis-server processes (tests/redis_server.py),
real subprocesses sharing one cache directory, and the real `spl` command.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer, free_port

from spleeter_cli.cache import CacheManager, CorruptEntry, DiskTier, MemoryTier, RedisTier, cache_key, input_digest, pack, redact, unpack

FILES = {"vocals": b"\x01vocals" * 3000, "accompaniment": b"\x02accomp" * 2000}
META = {"model": "spleeter:2stems", "audio_duration": 20.0, "codec": "wav"}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


def key_of(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class Warnings(list[str]):
    """Collects the manager's warnings, as the CLI would print them."""

    def __call__(self, message: str) -> None:
        self.append(message)


def manager(directory: Path, **settings: object) -> CacheManager:
    return CacheManager(directory=directory, **settings)  # type: ignore[arg-type]


# -- entry format and keys -------------------------------------------------------------------


def test_entry_round_trip_and_every_kind_of_damage_is_detected() -> None:
    blob = pack(FILES, META)
    assert unpack(blob) == (FILES, META)
    assert unpack(pack({}, {})) == ({}, {})
    for position in (0, 4, 10, 40, 45, len(blob) // 2, len(blob) - 1):  # magic, format, checksum, length, header, payload
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(CorruptEntry):
            unpack(bytes(damaged))
    for size in (0, 10, 41, len(blob) - 1):
        with pytest.raises(CorruptEntry):
            unpack(blob[:size])
    with pytest.raises(CorruptEntry):
        unpack(blob + b"\0")


def test_cache_key_is_canonical_and_covers_what_changes_the_bytes(tmp_path: Path) -> None:
    base = {"input_digest": "ab" * 32, "model": "spleeter:2stems", "weights_digest": "cd" * 32, "version": "0.1.0"}
    options = {"codec": "wav", "bit_depth": 16, "offset": 0, "duration": None, "mwf": False}
    key = cache_key(options=options, **base)
    assert re.fullmatch(r"[0-9a-f]{64}", key), key  # a SHA-256 in hex
    assert cache_key(options=dict(reversed(list(options.items()))), **base) == key
    assert cache_key(options={**options, "offset": 0.0, "bit_depth": 16.0}, **base) == key
    for change in ({"codec": "flac"}, {"offset": 1.5}, {"mwf": True}, {"duration": 30}):
        assert cache_key(options={**options, **change}, **base) != key
    for field, value in (("model", "spleeter:4stems"), ("weights_digest", "ef" * 32), ("version", "0.2.0"), ("input_digest", "00" * 32)):
        assert cache_key(options=options, **{**base, field: value}) != key
    with pytest.raises(TypeError):
        cache_key(options={"output": object()}, **base)

    song = tmp_path / "song.wav"
    song.write_bytes(os.urandom(3 * 2**20 + 17))
    assert input_digest(song) == hashlib.sha256(song.read_bytes()).hexdigest()
    song.write_bytes(b"rewritten in place")
    assert input_digest(song) == hashlib.sha256(b"rewritten in place").hexdigest()


# -- L1 and L2 ----------------------------------------------------------------------------------


def test_memory_tier_evicts_least_recently_used_by_bytes() -> None:
    tier = MemoryTier(max_bytes=300)
    assert [tier.set(name, bytes(100)) for name in "abc"] == [0, 0, 0]
    assert tier.get("a") is not None  # now b is the least recently used
    assert tier.set("d", bytes(150)) == 2  # b and c go
    assert (tier.get("b"), tier.get("c")) == (None, None)
    assert tier.get("a") is not None and tier.get("d") is not None
    assert tier.stats().entries == 2 and tier.stats().bytes == 250
    assert tier.set("huge", bytes(301)) == 0 and tier.get("huge") is None  # never fits: not stored
    assert tier.prune(max_bytes=150) == 1 and tier.get("d") is not None  # a was older


def test_disk_tier_enforces_its_size_limit(tmp_path: Path) -> None:
    tier = DiskTier(tmp_path / "l2", max_bytes=600 * 1024, on_warning=Warnings())
    evicted = sum(tier.set(f"k{i}", os.urandom(100 * 1024)) for i in range(12))
    stats = tier.stats()
    assert (stats.entries, stats.bytes, evicted) == (6, 600 * 1024, 6)
    assert tier.get("k11") is not None and tier.get("k0") is None  # least recently used went first


def test_disk_entries_and_counters_persist_across_processes(tmp_path: Path) -> None:
    writer = (
        "import sys; from pathlib import Path; from spleeter_cli.cache import CacheManager\n"
        "m = CacheManager(directory=Path(sys.argv[1]))\n"
        f"m.set_stems({key_of('song')!r}, {FILES!r}, {META!r})\n"
        f"assert m.get_stems({key_of('song')!r}).tier == 'memory' and m.get_stems({key_of('other')!r}) is None\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(tmp_path)], check=True)
    cache = manager(tmp_path)
    hit = cache.get_stems(key_of("song"))
    assert hit is not None and hit.tier == "disk" and hit.files == FILES and hit.meta == META
    assert cache.get_stems(key_of("song")).tier == "memory"  # type: ignore[union-attr]  # promoted
    stats = cache.get_cache_stats()
    assert stats["total"] == {"lookups": 4, "hits": 3, "misses": 1, "hit_rate": 0.75, "evictions": 0, "corrupt": 0}
    assert (stats["tiers"]["memory"]["hits"], stats["tiers"]["memory"]["misses"]) == (2, 2)
    assert (stats["tiers"]["disk"]["hits"], stats["tiers"]["disk"]["misses"]) == (1, 1)
    assert stats["tiers"]["disk"]["entries"] == 1 and stats["tiers"]["disk"]["bytes"] == len(pack(FILES, META))


def test_disabled_cache_does_nothing(tmp_path: Path) -> None:
    cache = manager(tmp_path / "never", enabled=False)
    cache.set_stems(key_of("song"), FILES, META)
    assert cache.get_stems(key_of("song")) is None
    assert cache.get_cache_stats()["enabled"] is False
    assert not (tmp_path / "never").exists()


def test_corrupt_disk_entry_is_dropped_counted_and_served_from_the_next_tier(tmp_path: Path, redis_server: RedisServer) -> None:
    cache = manager(tmp_path / "a", memory_mb=0)
    cache.set_stems(key_of("song"), FILES, META)
    (entry,) = [p for p in (tmp_path / "a" / "entries").rglob("*") if p.is_file() and not p.name.startswith("cache.db")]
    damaged = bytearray(entry.read_bytes())
    damaged[len(damaged) // 2] ^= 0x40
    entry.write_bytes(bytes(damaged))
    assert cache.get_stems(key_of("song")) is None
    stats = cache.get_cache_stats()["tiers"]["disk"]
    assert (stats["corrupt"], stats["misses"], stats["entries"]) == (1, 1, 0)

    # a truncated L2 copy, a good L3 copy: the lookup carries on and L2 is healed by promotion
    both = manager(tmp_path / "b", memory_mb=0, redis_url=redis_server.url)
    both.set_stems(key_of("song"), FILES, META)
    disk = both.tiers[0]
    disk.set(key_of("song"), pack(FILES, META)[:-100])
    hit = both.get_stems(key_of("song"))
    assert hit is not None and hit.tier == "redis" and hit.files == FILES
    assert both.get_stems(key_of("song")).tier == "disk"  # type: ignore[union-attr]
    assert both.get_cache_stats()["tiers"]["disk"]["corrupt"] == 1

    # a damaged L1 copy falls through to L2
    layered = manager(tmp_path / "c")
    layered.set_stems(key_of("song"), FILES, META)
    layered.tiers[0].set(key_of("song"), b"SPLC" + bytes(60))
    assert layered.get_stems(key_of("song")).tier == "disk"  # type: ignore[union-attr]
    assert layered.get_cache_stats()["tiers"]["memory"]["corrupt"] == 1


WORKER = """
import hashlib, json, random, sys
from pathlib import Path
from spleeter_cli.cache import CacheManager

def files_for(key):
    seed = hashlib.sha256(key.encode()).digest()
    return {"vocals": seed * (100 + int(key[:3], 16) % 900), "other": seed[::-1] * 50}

cache = CacheManager(directory=Path(sys.argv[1]), memory_mb=0, on_warning=lambda m: sys.exit("warning: " + m))
keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(12)]
rng = random.Random(int(sys.argv[2]))
report = {"hits": 0, "misses": 0, "bad": 0}
for _ in range(400):
    key = rng.choice(keys)
    if rng.random() < 0.4:
        cache.set_stems(key, files_for(key), {"key": key})
        continue
    hit = cache.get_stems(key)
    if hit is None:
        report["misses"] += 1
    elif hit.files == files_for(key) and hit.meta == {"key": key}:
        report["hits"] += 1
    else:
        report["bad"] += 1
print(json.dumps(report))
"""


def test_processes_sharing_one_directory_see_only_whole_entries(tmp_path: Path) -> None:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for seed in range(4)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(r["bad"] for r in reports) == 0
    hits, misses = sum(r["hits"] for r in reports), sum(r["misses"] for r in reports)
    assert hits > 0 and misses > 0
    stats = manager(tmp_path, memory_mb=0).get_cache_stats()
    assert (stats["total"]["hits"], stats["total"]["misses"]) == (hits, misses)
    disk = stats["tiers"]["disk"]
    assert (disk["hits"], disk["misses"], disk["corrupt"]) == (hits, misses, 0)
    assert 1 <= disk["entries"] <= 12


# -- L3: Redis ---------------------------------------------------------------------------------


def test_redis_entry_reaches_a_cold_machine_and_is_promoted(tmp_path: Path, redis_server: RedisServer) -> None:
    first = manager(tmp_path / "machine-a", redis_url=redis_server.url)
    first.set_stems(key_of("song"), FILES, META)
    second = manager(tmp_path / "machine-b", redis_url=redis_server.url)
    hit = second.get_stems(key_of("song"))
    assert hit is not None and hit.tier == "redis" and hit.files == FILES and hit.meta == META
    assert second.get_stems(key_of("song")).tier == "memory"  # type: ignore[union-attr]

    redis_server.stop()
    warnings = Warnings()
    later = manager(tmp_path / "machine-b", redis_url=redis_server.url, on_warning=warnings)
    assert later.get_stems(key_of("song")).tier == "disk"  # type: ignore[union-attr]
    assert warnings == []  # L2 answered: Redis was never asked


def test_redis_dying_mid_run_costs_one_warning_and_nothing_else(tmp_path: Path, redis_server: RedisServer) -> None:
    warnings = Warnings()
    cache = manager(tmp_path / "a", redis_url=redis_server.url, on_warning=warnings)
    cache.set_stems(key_of("before"), FILES, META)
    manager(tmp_path / "b", redis_url=redis_server.url).set_stems(key_of("elsewhere"), FILES, META)
    redis_server.kill()
    started = time.monotonic()
    for i in range(20):
        cache.set_stems(key_of(f"after{i}"), FILES, META)
        assert cache.get_stems(key_of(f"after{i}")).tier == "memory"  # type: ignore[union-attr]
        assert cache.get_stems(key_of("missing")) is None
    assert cache.get_stems(key_of("before")).tier == "memory"  # type: ignore[union-attr]
    assert time.monotonic() - started < 5  # no retry storm, no timeout per call
    assert len(warnings) == 1 and "unavailable" in warnings[0] and str(redis_server.port) in warnings[0]

    redis_server.start()  # back, but this process has written Redis off for the run
    assert cache.get_stems(key_of("elsewhere")) is None and len(warnings) == 1
    assert cache.get_cache_stats()["tiers"]["redis"]["available"] is False


def test_unreachable_redis_at_start_and_passwords_stay_secret(tmp_path: Path) -> None:
    url = f"redis://spl:s3cret-pw@127.0.0.1:{free_port()}/0"
    warnings = Warnings()
    cache = manager(tmp_path, redis_url=url, on_warning=warnings)
    cache.set_stems(key_of("song"), FILES, META)
    assert cache.get_stems(key_of("song")).tier == "memory"  # type: ignore[union-attr]
    assert cache.get_stems(key_of("nothing")) is None
    assert len(warnings) == 1 and "s3cret" not in warnings[0] and "spl:****@127.0.0.1" in warnings[0]

    assert redact("redis://user:pw@host:6379/0") == "redis://user:****@host:6379/0"
    assert redact("rediss://:pw@host/1") == "rediss://:****@host/1"
    assert redact("redis://host:6379/0?password=pw&db=2") == "redis://host:6379/0?password=****&db=2"
    assert redact("unix:///run/redis.sock") == "unix:///run/redis.sock"


def test_wrong_password_and_cli_output_never_show_it(cache_cli, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", password="Tr0ub4dor-pw") as server:
        wrong = server.url.replace("Tr0ub4dor-pw", "n0t-the-pw")
        warnings = Warnings()
        cache = manager(tmp_path / "a", redis_url=wrong, on_warning=warnings)
        assert cache.get_stems(key_of("song")) is None
        assert len(warnings) == 1 and "n0t-the-pw" not in warnings[0]

        good = cache_cli(tmp_path / "b", "info", "--json", "--redis-url", server.url)
        assert good.returncode == 0, good.stderr
        assert json.loads(good.stdout)["tiers"]["redis"] == {
            "url": f"redis://:****@127.0.0.1:{server.port}/0",
            "reachable": True,
            "ttl": 7 * 86400,
        }
        bad = cache_cli(tmp_path / "b", "info", "--redis-url", wrong)
        assert bad.returncode == 0 and "unreachable" in bad.stdout and "spl: warning:" in bad.stderr
        for done in (good, bad):
            assert "Tr0ub4dor" not in done.stdout + done.stderr and "n0t-the-pw" not in done.stdout + done.stderr


def test_redis_ttl_is_honoured(tmp_path: Path, redis_server: RedisServer) -> None:
    cache = manager(tmp_path / "a", redis_url=redis_server.url)
    cache.set_stems(key_of("default"), FILES, META)
    assert 7 * 86400 - 5 <= redis_server.client().ttl("spl:" + key_of("default")) <= 7 * 86400
    cache.set_stems(key_of("short"), FILES, META, ttl=1)
    time.sleep(1.5)
    assert redis_server.client().exists("spl:" + key_of("short")) == 0
    cold = manager(tmp_path / "b", redis_url=redis_server.url)
    assert cold.get_stems(key_of("short")) is None
    assert cold.get_stems(key_of("default")).tier == "redis"  # type: ignore[union-attr]


def test_redis_clear_and_prune_touch_only_spl_keys(tmp_path: Path, redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set("someone-else", b"keep me")
    tier = RedisTier(redis_server.url, default_ttl=None, on_warning=Warnings())
    for i in range(4):
        tier.set(f"k{i}", bytes(1000))
        time.sleep(0.02)
    assert (tier.stats().entries, tier.stats().bytes) == (4, 4000)
    assert tier.prune(max_bytes=2500) == 2 and tier.get("k0") is None and tier.get("k3") is not None  # oldest first
    time.sleep(0.2)
    tier.set("fresh", bytes(10))
    assert tier.prune(older_than=0.1) == 2 and tier.get("fresh") is not None
    tier.clear()
    assert tier.stats().entries == 0 and client.get("someone-else") == b"keep me"
    assert list(client.scan_iter("spl:*")) == []


# -- `spl cache` ----------------------------------------------------------------------------------


@pytest.fixture
def cache_cli(bare_spl):  # type: ignore[no-untyped-def]
    """`spl cache ARGS` on the cache in ``cache_dir``, with no other setting."""

    def run(cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return bare_spl("cache", *args, env={"SPLEETER_CACHE_DIR": str(cache_dir)}, timeout=60)

    return run


def test_cli_stats_info_prune_clear(cache_cli, tmp_path: Path) -> None:
    cache = manager(tmp_path)
    sizes = []
    for name in ("one", "two", "three"):
        files = {"vocals": name.encode() * 1000}
        cache.set_stems(key_of(name), files, META)
        sizes.append(len(pack(files, META)))
    CacheManager(directory=tmp_path, memory_mb=0).get_stems(key_of("one"))  # a disk hit
    cache.get_stems(key_of("absent"))

    done = cache_cli(tmp_path, "stats", "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    disk = stats["tiers"]["disk"]
    assert (disk["entries"], disk["bytes"], disk["hits"], disk["misses"]) == (3, sum(sizes), 1, 1)
    assert (stats["total"]["hits"], stats["total"]["misses"]) == (1, 1)
    assert "redis" not in stats["tiers"]
    table = cache_cli(tmp_path, "stats")
    assert table.returncode == 0 and table.stdout.splitlines()[2].split()[:2] == ["disk", "3"]

    info = json.loads(cache_cli(tmp_path, "info", "--json").stdout)
    assert info["directory"] == str(tmp_path) and info["tiers"]["disk"]["limit_bytes"] == 10240 * 2**20

    done = cache_cli(tmp_path, "prune", "--older-than", "1h", "--json")
    assert json.loads(done.stdout)["removed"]["disk"] == 0
    time.sleep(1.1)
    cache.set_stems(key_of("fresh"), {"vocals": b"f" * 5000}, META)
    done = cache_cli(tmp_path, "prune", "--older-than", "1s", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"]["disk"] == 3
    done = cache_cli(tmp_path, "prune", "--max-size", "1KB", "--json")
    assert json.loads(done.stdout)["removed"]["disk"] == 1
    cache.set_stems(key_of("again"), {"vocals": b"a"}, META)
    done = cache_cli(tmp_path, "clear", "--tier", "disk")
    assert done.returncode == 0 and done.stdout.strip() == "cleared: disk"
    after = json.loads(cache_cli(tmp_path, "stats", "--json").stdout)["tiers"]["disk"]
    assert (after["entries"], after["bytes"], after["hits"]) == (0, 0, 1)  # counters are history: kept


def test_cli_clear_works_when_the_disk_index_cannot_be_opened(cache_cli, tmp_path: Path) -> None:
    """A full disk makes diskcache's index unopenable, which is when clearing matters most; a damaged index does the same."""
    cache = manager(tmp_path)
    cache.set_stems(key_of("one"), {"vocals": b"v" * 5000}, META)
    index = tmp_path / "entries" / "cache.db"
    assert index.exists()
    for extra in list(index.parent.glob("cache.db-*")):
        extra.unlink()  # WAL and shared-memory files of the open connection
    index.write_bytes(b"not a database" * 100)
    for command in ("stats", "prune"):  # nothing but clear can use it, and they say so
        refused = cache_cli(tmp_path, command, "--max-size", "1KB") if command == "prune" else cache_cli(tmp_path, command)
        assert refused.returncode == 1 and "spl cache clear --tier disk" in refused.stderr, refused.stderr
    done = cache_cli(tmp_path, "clear")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cleared: memory, disk"
    assert f"removed {tmp_path / 'entries'} instead" in done.stderr
    assert not (tmp_path / "entries").exists()
    after = json.loads(cache_cli(tmp_path, "stats", "--json").stdout)["tiers"]["disk"]
    assert after["entries"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prune", "--max-size", "lots"], "invalid --max-size 'lots'"),
        (["prune", "--older-than", "soon"], "invalid --older-than 'soon'"),
        (["prune"], "nothing to prune"),
        (["clear", "--tier", "attic"], "unknown cache tier attic"),
        (["clear", "--tier", "redis"], "no Redis cache is configured"),
    ],
)
def test_cli_rejects_bad_values_in_one_line(cache_cli, tmp_path: Path, args: list[str], message: str) -> None:
    done = cache_cli(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.startswith("spl: error: ") and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cache_stats_imports_nothing_heavy(bare_spl, tmp_path: Path) -> None:
    code = (
        "import sys; sys.argv = ['spl', 'cache', 'stats', '--json']\n"
        "from spleeter_cli.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'numpy', 'scipy', 'av', 'redis') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = bare_spl.python(code, env={"SPLEETER_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["enabled"] is True
