"""Time `spl separate` on one song per backend, against official spleeter in the same invocation.

    python benchmarks/separate_song.py                           # a generated 174 s song, every backend, 3 runs, medians
    python benchmarks/separate_song.py --official PATH           # also official spleeter 2.4.2's CLI (a side venv's `spleeter`)
    python benchmarks/separate_song.py --input examples/audio_example.mp3 --official PATH   # the bundled 11 s example
    python benchmarks/separate_song.py --long 30 --variants openvino   # also a 30-minute song: peak RSS must stay flat

Variants: tensorflow, openvino fp32, openvino bf16 (where the CPU has native bf16). Each
measurement is the median of --runs fresh processes (cold: start-up included, --no-cache);
ratios compare runs made on the same machine within one invocation. Official spleeter needs
the 2stems checkpoint in $MODEL_PATH/2stems (with a `.probe` file so it does not try to
download); this script points it at spl's installed copy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import measure, median_of, official_env, report, variants
from songs import write_song

SONG_SECONDS = 174.0  # the length of the song the speed target was set on


def spl(song: Path, out: Path, flags: list[str]) -> list[str]:
    return [str(Path(sys.executable).with_name("spl")), "separate", str(song), "-o", str(out), "--overwrite", "--no-cache", "-q", *flags]


def duration(path: Path) -> float:
    from spleeter_cli.audio.codec import probe

    return probe(path).duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=SONG_SECONDS, help="length of the generated song")
    parser.add_argument("--input", type=Path, help="time this file instead of a generated song")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", nargs="*", help="tensorflow, openvino, or 'openvino fp32' ... (default: all)")
    parser.add_argument("--long", type=float, default=0.0, help="also measure a song this many minutes long (one run per variant)")
    parser.add_argument("--official", type=Path, help="path to official spleeter 2.4.2's `spleeter` executable")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        song = args.input.resolve() if args.input else write_song(work / "song.wav", args.seconds)
        seconds = duration(song)
        chosen = variants(args.variants)
        walls: dict[str, tuple[float, float]] = {}
        for label, flags in chosen.items():
            measure(spl(song, work / "warm", flags))  # model install, IR, OS file cache: not timed
            walls[label] = median_of(args.runs, spl(song, work / label.replace(" ", "-"), flags))
            report(f"spl separate, {label}", seconds, *walls[label])
        if args.official:
            command = [str(args.official), "separate", "-p", "spleeter:2stems", "-o", str(work / "official"), str(song)]
            official_wall, official_rss = median_of(args.runs, command, official_env(work))
            report("official spleeter 2.4.2", seconds, official_wall, official_rss)
            for label, (wall, rss) in walls.items():
                print(f"{label:<16} speed-up {official_wall / wall:5.2f}x   peak RSS {rss:5.0f} MB ({rss / official_rss:.2f} of official)")
        if args.long:
            long_song = write_song(work / "long.wav", args.long * 60, seed=1)
            for label, flags in chosen.items():
                long_wall, long_rss = measure(spl(long_song, work / f"long-{label.replace(' ', '-')}", flags))
                report(f"spl separate, {args.long:g} min, {label}", args.long * 60, long_wall, long_rss)
                print(f"peak RSS {args.long:g} min / {seconds:.0f} s: {long_rss / walls[label][1]:.2f}")


if __name__ == "__main__":
    main()
