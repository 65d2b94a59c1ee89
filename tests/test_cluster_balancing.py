"""SpleeterCluster(nodes=...) choosing, failing over and refusing, against stand-in nodes (the fast layer).

A stand-in node is a tiny standard-library HTTP server that answers the parts of the `spl serve` API
the client uses (``/readyz``, ``POST /v1/jobs``, the stems, ``DELETE``) with fixed stems, so the
balancing and failover rules run in milliseconds. The client under test (``SpleeterCluster``, its
``RemoteRun``, ``Remote``) is the real one, over real sockets. The end-to-end test over real
`spl serve` processes, one killed mid-run, is test_cluster_nodes.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import write_songs

from spleeter_cli import AudioProcessingError, SpleeterCluster, ValidationError
from spleeter_cli.distributed.wire import encode_result
from spleeter_cli.separate.vocabulary import FileResult
from spleeter_cli.server.statuses import error_body

TOKEN = "node-token"
STEMS = ("vocals", "accompaniment")


class StandIn:
    """One stand-in `spl serve`; ``queued`` is the load it reports. ``mode``: "ok"; "error500" (every upload fails: its
    fault); "truncated" (each stem's download breaks off: it died mid-transfer); "vanishing" (jobs are accepted, then gone).

    Uploads of files whose name starts with "broken" are refused with 422 and the CLI's message.
    """

    def __init__(self, mode: str = "ok", queued: int = 0, redis: str | None = None) -> None:
        self.mode, self.queued, self.redis = mode, queued, redis
        self.uploads: list[str] = []  # file names, in the order they arrived
        self.deleted = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path == "/readyz":
                    load = {"queued": stand_in.queued, "running": 0, "workers": 1, "queue_limit": 64, "redis": stand_in.redis}
                    self._json(200, {"status": "ready", **load})
                elif "/stems/" in self.path and stand_in.mode == "truncated":
                    self.send_response(200)
                    self.send_header("content-length", "1000")
                    self.end_headers()
                    self.wfile.write(b"stem")  # then the connection closes, 996 bytes short
                    self.close_connection = True
                elif "/stems/" in self.path:
                    self._send(200, stand_in.stem(self.path.rsplit("/", 1)[1]), "audio/wav")
                else:
                    self._json(404, {"detail": "no such job"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if not self._authorized():
                    return
                name = body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
                stand_in.uploads.append(name)
                if stand_in.mode == "error500":
                    self._json(500, error_body(_output_error()))
                elif name.startswith("broken"):
                    error = AudioProcessingError("cannot decode audio: not a FLAC stream", hint="check the file", path=name)
                    self._json(422, error_body(error))
                elif stand_in.mode == "vanishing":
                    self._json(202, {"id": "J", "url": "/v1/jobs/J", "status": "queued"})  # polling it answers 404
                else:
                    self._json(202, stand_in.job(name))

            def do_DELETE(self) -> None:
                stand_in.deleted += 1
                self._send(204, b"", "application/json")

            def _authorized(self) -> bool:
                if self.headers.get("authorization") == f"Bearer {TOKEN}":
                    return True
                self._json(401, {"detail": "missing or wrong bearer token"})
                return False

            def _json(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def stem(name: str) -> bytes:
        return f"stem {name}".encode()

    def job(self, filename: str) -> dict[str, Any]:
        """A job already done: the client downloads its stems at once."""
        result = FileResult(Path(filename), "spleeter:2stems", status="ok", outputs={n: Path(f"{n}.wav") for n in STEMS})
        stems = [
            {"instrument": n, "url": f"/v1/jobs/J/stems/{n}", "sha256": hashlib.sha256(self.stem(n)).hexdigest(), "size": 7} for n in STEMS
        ]
        return {"id": "J", "url": "/v1/jobs/J", "status": "done", "result": encode_result(result), "stems": stems}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _output_error() -> Any:
    from spleeter_cli.errors import OutputError

    return OutputError("cannot write stems: No space left on device", hint="free some space")


@pytest.fixture
def stand_ins() -> Iterator[list[StandIn]]:
    made: list[StandIn] = []
    yield made
    for node in made:
        node.close()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"  # nothing listens there once closed


def separate(cluster: Any, files: list[Path], out: Path) -> list[FileResult]:
    return asyncio.run(cluster.separate_distributed(audio_files=files, model_name="spleeter:2stems", output_dir=out))


def test_round_robin_spreads_files_evenly_and_results_keep_input_order(stand_ins: list[StandIn], tmp_path: Path) -> None:
    stand_ins += [StandIn(), StandIn()]
    files = write_songs(tmp_path / "in", 6, 0.2)
    cluster = SpleeterCluster(nodes=[n.address for n in stand_ins], load_balancer="round_robin", token=TOKEN, jobs_per_node=1)
    results = separate(cluster, files, tmp_path / "out")
    assert [r.input for r in results] == files and all(r.status == "ok" for r in results)
    assert [len(n.uploads) for n in stand_ins] == [3, 3]
    assert sorted(n for node in stand_ins for n in node.uploads) == sorted(f.name for f in files)  # each file once
    assert (tmp_path / "out" / "song4" / "vocals.wav").read_bytes() == b"stem vocals"
    assert [n.deleted for n in stand_ins] == [3, 3]  # the nodes keep nothing once the stems are here


def test_least_loaded_sends_files_to_the_node_with_the_shortest_queue(stand_ins: list[StandIn], tmp_path: Path) -> None:
    stand_ins += [StandIn(queued=5), StandIn(queued=0)]
    files = write_songs(tmp_path / "in", 4, 0.2)
    cluster = SpleeterCluster(nodes=[n.address for n in stand_ins], load_balancer="least_loaded", token=TOKEN)
    results = separate(cluster, files, tmp_path / "out")
    assert all(r.status == "ok" for r in results)
    assert stand_ins[0].uploads == [] and sorted(stand_ins[1].uploads) == [f.name for f in files]
    stand_ins[0].queued, stand_ins[1].queued = 0, 9  # the loads change: so does the choice
    separate(cluster, files[:1], tmp_path / "again")
    assert stand_ins[0].uploads == ["song0.wav"]


def test_a_failing_node_has_its_files_retried_elsewhere_and_a_bad_file_is_not(stand_ins: list[StandIn], tmp_path: Path) -> None:
    stand_ins += [StandIn(mode="error500"), StandIn()]
    files = write_songs(tmp_path / "in", 3, 0.2)
    broken = tmp_path / "in" / "broken.flac"
    broken.write_bytes(b"fLaC" + b"\x00" * 64)
    files.insert(1, broken)
    down = closed_port()
    cluster = SpleeterCluster(nodes=[down, *(n.address for n in stand_ins)], token=TOKEN, jobs_per_node=1)
    results = separate(cluster, files, tmp_path / "out")
    assert [r.input for r in results] == files
    assert [r.status for r in results] == ["ok", "failed", "ok", "ok"]
    error = results[1].error
    assert isinstance(error, AudioProcessingError) and error.context["path"] == str(broken)
    assert "cannot decode audio: not a FLAC stream" in str(error)
    assert 1 <= len(stand_ins[0].uploads) <= 2  # those sent before its first 500 came back, then out of the rotation
    assert sorted(stand_ins[1].uploads) == sorted(f.name for f in files)  # every file once, the bad one too, never twice
    assert [a.outcome for a in cluster.attempts].count("done") == 3
    assert [a for a in cluster.attempts if a.input == broken and a.outcome == "failed"][0].node.endswith(stand_ins[1].address)
    assert [p.name for p in (tmp_path / "out").iterdir()] != [] and not (tmp_path / "out" / "broken").exists()
    assert not [p for p in (tmp_path / "out").rglob("*") if ".part" in p.name]  # no temporaries left by the failed attempt


@pytest.mark.parametrize("mode", ["truncated", "vanishing"])
def test_a_node_dying_mid_download_or_losing_its_job_leaves_nothing_and_the_file_goes_elsewhere(
    stand_ins: list[StandIn], tmp_path: Path, mode: str
) -> None:
    stand_ins += [StandIn(mode=mode), StandIn()]
    files = write_songs(tmp_path / "in", 2, 0.2)
    cluster = SpleeterCluster(nodes=[n.address for n in stand_ins], token=TOKEN, jobs_per_node=1)
    results = separate(cluster, files, tmp_path / "out")
    assert [r.status for r in results] == ["ok", "ok"] and stand_ins[0].uploads  # it got work, and failed it
    assert [a.outcome for a in cluster.attempts].count("node failed") == len(stand_ins[0].uploads)
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if not p.name.endswith(".spl.json")) == [
        "accompaniment.wav",
        "accompaniment.wav",
        "song0",
        "song1",
        "vocals.wav",
        "vocals.wav",
    ]  # no temporaries of the broken attempt, and the stems of the one that finished
    assert (tmp_path / "out" / "song0" / "vocals.wav").read_bytes() == b"stem vocals"


def test_the_last_node_standing_reports_its_own_error(stand_ins: list[StandIn], tmp_path: Path) -> None:
    stand_ins += [StandIn(mode="error500")]
    files = write_songs(tmp_path / "in", 2, 0.2)
    results = separate(SpleeterCluster(nodes=[stand_ins[0].address], token=TOKEN), files, tmp_path / "out")
    assert [r.status for r in results] == ["failed", "failed"]  # each file tried, as on `--server`: no node is left out
    assert all("No space left on device" in str(r.error) for r in results)


def test_refusals_name_the_node_and_the_fix(stand_ins: list[StandIn], tmp_path: Path) -> None:
    stand_ins += [StandIn(redis="redis://cache-cluster:6379/0"), StandIn(redis=None)]
    files = write_songs(tmp_path / "in", 1, 0.2)
    with pytest.raises(ValidationError, match="load_balancer='random'.*'round_robin' or 'least_loaded'"):
        SpleeterCluster(nodes=["worker1:8080"], load_balancer="random")
    with pytest.raises(ValidationError, match="spleeter:9stems"):  # checked before any node is contacted
        asyncio.run(SpleeterCluster(nodes=[closed_port()], token=TOKEN).separate_distributed(files, "spleeter:9stems"))
    with pytest.raises(ValidationError, match="no node of the cluster can be reached"):
        separate(SpleeterCluster(nodes=[closed_port(), closed_port()], token=TOKEN), files, tmp_path / "out")
    with pytest.raises(ValidationError, match="refused the token"):
        separate(SpleeterCluster(nodes=[stand_ins[0].address], token="wrong"), files, tmp_path / "out")
    shared = SpleeterCluster(nodes=[stand_ins[0].address], token=TOKEN, shared_cache="redis://:pw@cache-cluster:6379")
    assert separate(shared, files, tmp_path / "out")[0].status == "ok"  # same Redis; the password is not compared
    mixed = SpleeterCluster(nodes=[n.address for n in stand_ins], token=TOKEN, shared_cache="redis://:pw@cache-cluster:6379")
    with pytest.raises(ValidationError, match=f"node http://{stand_ins[1].address} does not share the cache") as refused:
        separate(mixed, files, tmp_path / "out")
    assert "pw" not in str(refused.value) and "--redis-url" in str(refused.value)
    with pytest.raises(ValidationError, match="not both"):
        SpleeterCluster("tcp://127.0.0.1:8786", nodes=["worker1:8080"])


def test_the_token_comes_from_the_settings_when_not_given(
    stand_ins: list[StandIn], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_ins += [StandIn()]
    monkeypatch.setenv("SPLEETER_SERVER_TOKEN", TOKEN)
    [song] = write_songs(tmp_path / "in", 1, 0.2)
    assert separate(SpleeterCluster(nodes=[stand_ins[0].address]), [song], tmp_path / "out")[0].status == "ok"
