"""Time `spl separate` on a generated song: wall time, x-realtime and peak RSS.

    python benchmarks/separate_song.py                 # 3-minute song, 3 runs, median
    python benchmarks/separate_song.py --long 30       # also a 30-minute song: RSS must stay flat
    python benchmarks/separate_song.py --official PATH # also official spleeter 2.4.2's CLI (a side venv's `spleeter`)

Official spleeter needs the 2stems checkpoint in $MODEL_PATH/2stems (with a `.probe`
file so it does not try to download); this script points it at spl's installed copy.
Each measurement is the median of --runs runs of a fresh process; ratios compare runs
made on the same machine within one invocation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import measure, median_of, official_env, report  # noqa: E402
from songs import write_song  # noqa: E402


def spl(song: Path, out: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("spl")), "separate", str(song), "-o", str(out), "--overwrite", "--no-cache", "-q"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--long", type=float, default=0.0, help="also measure a song this many minutes long")
    parser.add_argument("--official", type=Path, help="path to official spleeter 2.4.2's `spleeter` executable")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seconds = args.minutes * 60
        song = write_song(work / "song.wav", seconds)
        measure(spl(song, work / "warm"))  # model download and OS file cache, not timed
        wall, rss = median_of(args.runs, spl(song, work / "spl"))
        report(f"spl separate, {args.minutes:g} min", seconds, wall, rss)
        if args.long:
            long_song = write_song(work / "long.wav", args.long * 60, seed=1)
            long_wall, long_rss = median_of(1, spl(long_song, work / "spl-long"))
            report(f"spl separate, {args.long:g} min", args.long * 60, long_wall, long_rss)
            print(f"peak RSS {args.long:g} min / {args.minutes:g} min: {long_rss / rss:.2f} (target <= 1.20)")
        if args.official:
            command = [str(args.official), "separate", "-p", "spleeter:2stems", "-o", str(work / "official"), str(song)]
            official_wall, official_rss = median_of(args.runs, command, official_env(work))
            report(f"official spleeter 2.4.2, {args.minutes:g} min", seconds, official_wall, official_rss)
            print(f"speed-up: {official_wall / wall:.2f}x (target >= 2.5)   RSS ratio: {rss / official_rss:.2f}")


if __name__ == "__main__":
    main()
