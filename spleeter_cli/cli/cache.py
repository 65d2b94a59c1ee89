"""`spl cache`: see, empty and shrink the cache of separated stems.

Light on purpose: the cache package needs neither NumPy nor TensorFlow, so these
commands answer at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import CacheError, ValidationError
from ..units import parse_duration, parse_size
from . import options as o

if TYPE_CHECKING:
    from ..cache.manager import CacheManager
from .ui import handles_errors

app = typer.Typer(help="Show, clear and prune the cache of separated stems.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _warn(message: str) -> None:
    print(f"spl: warning: {message}", file=sys.stderr, flush=True)


def _manager(cache_dir: Path | None, redis_url: str | None, config_file: Path | None, on_warning: Any = _warn) -> CacheManager:
    """The cache `spl separate` and `spl batch` would use with the same settings, so `clear` empties that one."""
    from ..cache.manager import CacheManager

    try:
        return CacheManager.from_settings(o.load_settings(config_file, cache_dir=cache_dir, redis_url=redis_url), on_warning)
    except CacheError as error:  # its hint is for runs (--no-cache); here the way out is clear, which needs no index
        raise CacheError(
            error.message, hint="free some space, or run `spl cache clear --tier disk`, which works without the index"
        ) from None


class _Unreached:
    """Warnings of a `clear` or `prune`: a tier that switched itself off did not do what was asked, so it
    is an error (exit 1) rather than "continuing without it" and a report of success; others still warn."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def __call__(self, message: str) -> None:
        self.warnings.append(message)

    def check(self, manager: Any, names: list[str], doing: str) -> None:
        failed = [tier for tier in manager.tiers if tier.name in names and not tier.available]
        shown = {f"{tier.description} is unavailable" for tier in failed}
        for message in self.warnings:
            if not any(message.startswith(prefix) for prefix in shown):
                _warn(message)
        if failed:
            tier = failed[0]
            fix = (
                "check that Redis runs there, or fix --redis-url, SPLEETER_REDIS_URL or cache.redis_url"
                if tier.name == "redis"
                else "check the cache folder's permissions and free space"
            )
            raise CacheError(f"cannot {doing} {tier.description}: {tier.failure}", hint=fix)


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


@app.command("stats")
@handles_errors
def stats(
    json_output: JsonFlag = False, redis_url: o.RedisUrl = None, cache_dir: o.CacheDir = None, config_file: o.ConfigFile = None
) -> None:
    """Entries, size, hits, misses, hit rate and evictions per tier (counts add up every run)."""
    report = _manager(cache_dir, redis_url, config_file).get_cache_stats()
    if json_output:
        print(json.dumps(report, indent=2))
        return
    header = (
        f"{'tier':<8} {'entries':>8} {'size':>10} {'limit':>10} {'hits':>8} {'misses':>8} {'hit rate':>9} {'evictions':>9} {'corrupt':>7}"
    )
    print(header)
    rows: list[tuple[str, dict[str, Any]]] = [*report["tiers"].items(), ("total", report["total"])]
    for name, row in rows:
        print(
            f"{name:<8} {row.get('entries', '-'):>8} {_size(row.get('bytes')):>10} {_size(row.get('limit_bytes')):>10} {row['hits']:>8} "
            f"{row['misses']:>8} {_percent(row['hit_rate']):>9} {row['evictions']:>9} {row['corrupt']:>7}"
        )
    print(f"cache dir: {report['directory']} (memory entries belong to running processes only)")


@app.command("clear")
@handles_errors
def clear(
    tier: Annotated[
        list[str] | None, typer.Option("--tier", help="memory, disk or redis; repeat for several (default: all).", show_default=False)
    ] = None,
    json_output: JsonFlag = False,
    redis_url: o.RedisUrl = None,
    cache_dir: o.CacheDir = None,
    config_file: o.ConfigFile = None,
) -> None:
    """Delete cached entries (hit and miss counts are kept)."""
    from ..cache.manager import CacheManager

    settings = o.load_settings(config_file, cache_dir=cache_dir, redis_url=redis_url)
    wanted = sorted({name.lower() for name in tier}) if tier else None
    removed: list[str] = []
    unreached = _Unreached()
    try:
        manager = CacheManager.from_settings(settings, unreached)
    except CacheError as error:
        if wanted is not None and "disk" not in wanted:
            raise
        folder = CacheManager.remove_disk_tier(settings.cache.dir)  # the index could not be opened (full disk?): the folder is the tier
        _warn(f"{error.message}; removed {folder} instead")
        removed = ["disk"]
        manager = CacheManager.from_settings(settings, unreached, disk=False)
    names = wanted or [t.name for t in manager.tiers] + removed
    manager.clear([name for name in names if name not in removed])
    unreached.check(manager, names, "clear")
    if json_output:
        print(json.dumps({"cleared": names}))
    else:
        print(f"cleared: {', '.join(names)}")


@app.command("prune")
@handles_errors
def prune(
    max_size: Annotated[
        str | None,
        typer.Option("--max-size", help="Shrink each tier to this size, least recently used first, e.g. 500MB.", show_default=False),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Drop entries written longer ago than this, e.g. 12h, 7d, 30m.", show_default=False),
    ] = None,
    json_output: JsonFlag = False,
    redis_url: o.RedisUrl = None,
    cache_dir: o.CacheDir = None,
    config_file: o.ConfigFile = None,
) -> None:
    """Remove old or least recently used entries."""
    if max_size is None and older_than is None:
        raise ValidationError("nothing to prune", hint="give --max-size and/or --older-than")
    max_bytes = None if max_size is None else parse_size(max_size, "--max-size")
    age = None if older_than is None else parse_duration(older_than, "--older-than")
    unreached = _Unreached()
    manager = _manager(cache_dir, redis_url, config_file, unreached)
    removed = manager.prune(max_bytes=max_bytes, older_than=age)
    unreached.check(manager, list(removed), "prune")
    if json_output:
        print(json.dumps({"removed": removed, "total": sum(removed.values())}))
    else:
        total = sum(removed.values())
        print(f"removed {total} {'entry' if total == 1 else 'entries'} ({', '.join(f'{name} {count}' for name, count in removed.items())})")


@app.command("info")
@handles_errors
def info(
    json_output: JsonFlag = False, redis_url: o.RedisUrl = None, cache_dir: o.CacheDir = None, config_file: o.ConfigFile = None
) -> None:
    """Where the cache lives, its limits, and whether Redis answers."""
    details = _manager(cache_dir, redis_url, config_file).info()
    if json_output:
        print(json.dumps(details, indent=2))
        return
    print(f"spl {details['version']} (cache entry format {details['entry_format']})")
    print(f"directory: {details['directory']}")
    tiers = details["tiers"]
    if "memory" in tiers:
        print(f"memory:    up to {_size(tiers['memory']['limit_bytes'])} per process")
    if "disk" in tiers:
        print(f"disk:      up to {_size(tiers['disk']['limit_bytes'])}")
    if "redis" in tiers:
        redis = tiers["redis"]
        print(f"redis:     {redis['url']} ({'reachable' if redis['reachable'] else 'unreachable'})")
    else:
        print("redis:     not configured (--redis-url or SPLEETER_REDIS_URL)")
