"""Time `spl batch` on generated 30-second songs per backend, against official spleeter in the same invocation.

    python benchmarks/batch_files.py                  # 10 files, every backend: cold runs, then from cache
    python benchmarks/batch_files.py --official PATH  # also official spleeter 2.4.2's CLI on the same files
    python benchmarks/batch_files.py --rss-files 100  # also peak RSS with 100 files (must stay within 10 %)

Cold runs use --no-cache so each one computes; medians of --runs fresh processes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import measure, median_of, official_env, report, variants
from songs import write_song

SPL = str(Path(sys.executable).with_name("spl"))


def make_songs(folder: Path, count: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_song(folder / f"song{i:03d}.wav", seconds, seed=i) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", nargs="*", help="tensorflow, openvino, or 'openvino fp32' ... (default: all)")
    parser.add_argument("--official", type=Path, help="path to official spleeter 2.4.2's `spleeter` executable")
    parser.add_argument("--rss-files", type=int, default=0, help="also measure peak RSS over this many files (default backend)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        songs = make_songs(work / "songs", args.files, args.seconds)
        audio = args.files * args.seconds
        walls: dict[str, tuple[float, float]] = {}
        for label, flags in variants(args.variants).items():
            cold = [SPL, "batch", str(work / "songs"), "-o", str(work / "out"), "--no-cache", "--force", "-q", *flags]
            measure(cold)  # warm the OS file cache, make sure the model and its IR are installed
            walls[label] = median_of(args.runs, cold)
            report(f"spl batch, {args.files} x {args.seconds:g} s, {label}", audio, *walls[label])

        cached = [SPL, "batch", str(work / "songs"), "-o", str(work / "out-cached"), "--cache-dir", str(work / "cache"), "--force", "-q"]
        measure(cached)  # fills the cache
        cached_wall, cached_rss = median_of(args.runs, cached)
        report("spl batch, same files from cache", audio, cached_wall, cached_rss)
        default = walls.get("openvino fp32") or next(iter(walls.values()))
        print(f"cache speed-up: {default[0] / cached_wall:.1f}x over a cold run (target >= 20)")

        if args.official:
            command = [str(args.official), "separate", "-p", "spleeter:2stems", "-o", str(work / "official"), *map(str, songs)]
            official_wall, official_rss = median_of(args.runs, command, official_env(work))
            report("official spleeter 2.4.2", audio, official_wall, official_rss)
            for label, (wall, rss) in walls.items():
                print(f"{label:<16} speed-up {official_wall / wall:5.2f}x   peak RSS {rss:5.0f} MB ({rss / official_rss:.2f} of official)")

        if args.rss_files:
            make_songs(work / "many", args.rss_files, args.seconds)
            many_wall, many_rss = measure([SPL, "batch", str(work / "many"), "-o", str(work / "out-many"), "--no-cache", "-q"])
            report(f"spl batch, {args.rss_files} x {args.seconds:g} s", args.rss_files * args.seconds, many_wall, many_rss)
            print(f"peak RSS {args.rss_files} files / {args.files} files: {many_rss / default[1]:.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
