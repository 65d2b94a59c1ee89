"""Time `spl batch` on a set of generated 30-second songs (2stems, CPU).

    python benchmarks/batch_files.py                  # 10 files: cold run, then the same run from cache
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
from measure import measure, median_of, official_env, report  # noqa: E402
from songs import write_song  # noqa: E402

SPL = str(Path(sys.executable).with_name("spl"))


def make_songs(folder: Path, count: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_song(folder / f"song{i:03d}.wav", seconds, seed=i) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--official", type=Path, help="path to official spleeter 2.4.2's `spleeter` executable")
    parser.add_argument("--rss-files", type=int, default=0, help="also measure peak RSS over this many files")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        songs = make_songs(work / "songs", args.files, args.seconds)
        audio = args.files * args.seconds
        cold = [SPL, "batch", str(work / "songs"), "-o", str(work / "out"), "--no-cache", "--force", "-q"]
        measure(cold)  # warm the OS file cache and make sure the model is installed
        wall, rss = median_of(args.runs, cold)
        report(f"spl batch, {args.files} x {args.seconds:g} s", audio, wall, rss)

        cached = [SPL, "batch", str(work / "songs"), "-o", str(work / "out-cached"), "--cache-dir", str(work / "cache"), "--force", "-q"]
        measure(cached)  # fills the cache
        cached_wall, cached_rss = median_of(args.runs, cached)
        report("spl batch, same files from cache", audio, cached_wall, cached_rss)
        print(f"cache speed-up: {wall / cached_wall:.1f}x (target >= 20)")

        if args.official:
            command = [str(args.official), "separate", "-p", "spleeter:2stems", "-o", str(work / "official"), *map(str, songs)]
            official_wall, official_rss = median_of(args.runs, command, official_env(work))
            report("official spleeter 2.4.2", audio, official_wall, official_rss)
            print(f"speed-up: {official_wall / wall:.2f}x (target >= 5)")

        if args.rss_files:
            make_songs(work / "many", args.rss_files, args.seconds)
            many_wall, many_rss = measure([SPL, "batch", str(work / "many"), "-o", str(work / "out-many"), "--no-cache", "-q"])
            report(f"spl batch, {args.rss_files} x {args.seconds:g} s", args.rss_files * args.seconds, many_wall, many_rss)
            print(f"peak RSS {args.rss_files} files / {args.files} files: {many_rss / rss:.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
