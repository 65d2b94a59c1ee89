"""Load on `spl serve`: N clients uploading the 10 x 30 s benchmark songs, against `spl batch` on the same files.

    python benchmarks/serve_load.py                 # 4 clients; cold throughput vs spl batch, then cache hits
    python benchmarks/serve_load.py --clients 8 --hit-requests 400

Cold: the server runs with --no-cache and its default --jobs (the same as spl batch's); clients upload,
poll and download every stem; the wall time from the first upload to the last download is compared
with `spl batch --no-cache` (median of --runs fresh processes). Cache hits: the same songs again on a
server whose cache holds them; each request is `POST /v1/jobs?wait=60` answered once the job is done,
then its two stems downloaded; requests per second and p50/p95 latency of the whole round trip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from batch_files import SPL, make_songs
from measure import median_of

TOKEN = "benchmark"


class Server:
    """`spl serve` on a free port until the block ends."""

    def __init__(self, work: Path, name: str, *args: str) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        command = [SPL, "serve", "--port", str(self.port), "--data-dir", str(work / name), "--token", TOKEN, "--queue", "1000", *args]
        self.log = (work / f"{name}.log").open("w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", headers=_auth(), timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"spl serve did not become ready; see {work / name}.log")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def round_trip(client: httpx.Client, song: Path, wait: float = 0) -> float:
    """Upload, wait for the job, download its stems; seconds it took."""
    started = time.perf_counter()
    with song.open("rb") as audio:
        job = client.post("/v1/jobs", params={"wait": wait} if wait else None, files={"file": (song.name, audio)}).json()
    while job["status"] in ("queued", "running"):
        job = client.get(job["url"], params={"wait": 30}).json()
    if job["status"] != "done":
        raise SystemExit(f"{song.name}: {job}")
    for stem in job["stems"]:
        client.get(stem["url"]).raise_for_status()
    return time.perf_counter() - started


def run_clients(url: str, clients: int, songs: list[Path], trip: Callable[[httpx.Client, Path], float]) -> tuple[float, list[float]]:
    """Wall time for ``clients`` threads to take every song in ``songs`` once, and each trip's latency."""
    pending = list(reversed(songs))
    lock = threading.Lock()
    latencies: list[float] = []

    def client_loop() -> None:
        with httpx.Client(base_url=url, headers=_auth(), timeout=300) as client:
            while True:
                with lock:
                    if not pending:
                        return
                    song = pending.pop()
                latencies.append(trip(client, song))

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client_loop) for _ in range(clients)]:
            future.result()
    return time.perf_counter() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hit-requests", type=int, default=200, help="requests in the cache-hit phase")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min average), {os.cpu_count()} cores", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        songs = make_songs(work / "songs", args.files, args.seconds)
        audio = args.files * args.seconds
        batch = [SPL, "batch", str(work / "songs"), "-o", str(work / "out"), "--no-cache", "--force", "-q"]
        subprocess.run(batch, check=True)  # warm the OS file cache; the model and its IR are installed
        batch_wall, _ = median_of(args.runs, batch)
        print(f"spl batch --no-cache             wall {batch_wall:6.2f} s   {audio / batch_wall:5.1f}x realtime", flush=True)

        with Server(work, "cold", "--no-cache") as server:
            walls = [run_clients(server.url, args.clients, songs, round_trip)[0] for _ in range(args.runs)]
        serve_wall = statistics.median(walls)
        print(
            f"spl serve, {args.clients} clients, no cache  wall {serve_wall:6.2f} s   {audio / serve_wall:5.1f}x realtime   "
            f"{batch_wall / serve_wall:.2f} of spl batch's throughput (target >= 0.85)",
            flush=True,
        )

        with Server(work, "hits", "--cache-dir", str(work / "cache")) as server:
            run_clients(server.url, args.clients, songs, round_trip)  # fills the cache
            requests = [songs[n % len(songs)] for n in range(args.hit_requests)]
            wall, latencies = run_clients(server.url, args.clients, requests, lambda client, song: round_trip(client, song, wait=60))
        latencies.sort()
        p50, p95 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        print(
            f"spl serve, {args.clients} clients, cache hits  {len(requests) / wall:6.1f} requests/s   "
            f"p50 {p50 * 1000:5.0f} ms   p95 {p95 * 1000:5.0f} ms   (upload {songs[0].stat().st_size / 2**20:.1f} MB, "
            f"wait, download both stems)",
            flush=True,
        )
    print(f"load after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
