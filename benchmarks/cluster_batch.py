"""Time the same batch locally and on a 2-worker Dask LocalCluster, and the cluster's per-task overhead.

    python benchmarks/cluster_batch.py             # 10 x 30 s songs, 2stems, --no-cache, medians of 3
    python benchmarks/cluster_batch.py --workers 4 --files 20

Runs, each in a fresh `spl` process:
  local            `spl batch`                               (one process, --jobs = cores)
  local:N          `spl batch --scheduler local:N`           (starts N worker processes, each imports TF)
  tcp://, warm     `spl batch --scheduler tcp://...` against a cluster started here whose workers
                   already hold the model (the steady state of a long-lived cluster)
Peak RSS is that of the largest process of the run (with local:N, a worker; with tcp://, the client).
Per-task overhead: what the Dask path adds to an input, measured two ways on the warm cluster:
the round trip of an input whose stems exist (a no-op task: submit, plan, skip, result), one
at a time in this process; and (warm wall - local wall) / files. On 2 cores the cluster cannot
be faster than the local batch, which already keeps both cores busy: it exists to add machines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import median_of
from songs import write_song

SPL = str(Path(sys.executable).with_name("spl"))


def noop_round_trip(address: str, song: Path, output: Path, repeats: int) -> float:
    """Median seconds for one already-done input to go to a worker and back."""
    from spleeter_cli import SpleeterCluster

    with SpleeterCluster(address, output, enable_cache=False) as cluster:
        cluster.separate_distributed([song], existing="skip")  # make sure the stems exist
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            [result] = cluster.separate_distributed([song], existing="skip")
            samples.append(time.perf_counter() - started)
            assert result.status == "skipped", result
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from spleeter_cli.distributed.connection import start_local_cluster

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        songs = work / "songs"
        songs.mkdir()
        for i in range(args.files):
            write_song(songs / f"song{i:03d}.wav", args.seconds, seed=i)
        audio = args.files * args.seconds

        def timed(label: str, *extra: str) -> float:
            command = [SPL, "batch", str(songs), "-o", str(work / "out"), "--no-cache", "--force", "-q", *extra]
            wall, rss = median_of(args.runs, command)
            print(f"{label:<38} wall {wall:7.2f} s   {audio / wall:6.1f}x realtime   peak RSS {rss:6.0f} MB", flush=True)
            return wall

        median_of(1, [SPL, "batch", str(songs), "-o", str(work / "out"), "--no-cache", "--force", "-q"])  # OS file cache, model installed
        local = timed("local batch")
        timed(f"--scheduler local:{args.workers}", "--scheduler", f"local:{args.workers}")
        with start_local_cluster(args.workers) as cluster:
            address = cluster.scheduler_address
            median_of(
                1, [SPL, "batch", str(songs), "-o", str(work / "out"), "--no-cache", "--force", "-q", "--scheduler", address]
            )  # load models
            warm = timed(f"--scheduler tcp:// ({args.workers} warm workers)", "--scheduler", address)
            round_trip = noop_round_trip(address, songs / "song000.wav", work / "noop", repeats=20)
        print(
            f"per-task overhead: {round_trip * 1000:.0f} ms round trip of a no-op task; "
            f"{(warm - local) / args.files * 1000:+.0f} ms per input, warm cluster vs local batch"
        )


if __name__ == "__main__":
    main()
