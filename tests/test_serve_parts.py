"""The pieces of `spl serve` in-process, fast: form fields to options, streamed uploads, the job store, binding rules.

The end-to-end behaviour through a real server process is in test_serve*.py (slow).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from spleeter_cli.errors import AudioProcessingError, ExitCode, ModelError, OutputError, ValidationError
from spleeter_cli.server.form import parse_fields
from spleeter_cli.server.guard import check_binding, is_loopback
from spleeter_cli.server.jobs import JobStore, new_id
from spleeter_cli.server.statuses import error_body, http_status, named
from spleeter_cli.server.uploads import DRAIN_BYTES, BadUpload, receive, shown_name


def options(**fields: str):  # type: ignore[no-untyped-def]
    return parse_fields(fields, "spleeter:2stems", "fp32", "openvino")


def test_fields_mean_what_the_cli_flags_mean() -> None:
    plain = options()
    assert (plain.model, plain.codec, plain.bit_depth, plain.offset, plain.duration, plain.denoise, plain.tags) == (
        "spleeter:2stems",
        "wav",
        16,
        0.0,
        None,
        0.0,
        True,
    )
    assert plain.filename_format == "{instrument}.{codec}" and plain.existing == "overwrite"  # the server's own names
    assert options(stems="4").model == "spleeter:4stems" and options(stems="5", hq="yes").model == "spleeter:5stems-16kHz"
    assert options(hq="true").model == "spleeter:2stems-16kHz"
    assert options(model="4stems", stems="5").model == "spleeter:4stems"  # model wins, as on the command line
    assert options(denoise="on").denoise == 0.75 and options(denoise_strength="0.3").denoise == 0.3
    chosen = options(codec="MP3", bitrate="320k", offset="1.5", duration="10", mwf="1", no_tags="true", skip_silent="true", normalize="-14")
    assert (
        chosen.codec,
        chosen.bitrate,
        chosen.offset,
        chosen.duration,
        chosen.mwf,
        chosen.tags,
        chosen.skip_silent,
        chosen.normalize,
    ) == ("mp3", "320k", 1.5, 10.0, True, False, True, -14.0)
    assert options(backend="auto").model == options(backend="openvino").model


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"stems": "3"}, "stems must be 2, 4 or 5, not 3"),
        ({"hq": "maybe"}, "hq must be true or false, not 'maybe'"),
        ({"offset": "inf"}, "offset must be a finite number, not 'inf'"),
        ({"duration": "0"}, "duration must be more than 0"),
        ({"backend": "tensorflow"}, "backend tensorflow is not what this server runs"),
        ({"model": "../../etc/passwd"}, "unknown model '../../etc/passwd'"),
        ({"output": "/tmp"}, "unknown field 'output'"),
    ],
)
def test_bad_fields_are_usage_errors_naming_the_field(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        options(**fields)
    assert message in str(caught.value) and caught.value.exit_code == ExitCode.USAGE


def test_errors_map_to_http_statuses_with_the_cli_message() -> None:
    assert [http_status(kind("x")) for kind in (ValidationError, AudioProcessingError, ModelError, OutputError)] == [422, 422, 503, 500]
    error = named(AudioProcessingError("file is empty", hint="re-export it", path="/srv/data/uploads/abc.part.wav"), "song.wav")
    body = error_body(error)
    assert body["detail"] == "song.wav: file is empty (re-export it)" and body["exit_code"] == 3
    assert "/srv" not in str(body)


def test_client_file_names_are_shown_never_used() -> None:
    assert shown_name("../../etc/passwd") == "passwd"
    assert shown_name("C:\\Users\\me\\song.mp3") == "song.mp3"
    assert shown_name("..") == shown_name("") == shown_name("dir/") == "upload"
    assert shown_name("a\x00b\nc.wav") == "abc.wav"


def _multipart(fields: dict[str, str], audio: bytes | None, name: str = "song.flac") -> tuple[str, bytes]:
    """A real multipart body, as httpx sends it; without ``audio``, a part of another name stands in for the file."""
    files = {"file": (name, audio)} if audio is not None else {"attachment": ("notes.txt", b"hello")}
    request = httpx.Request("POST", "http://x/v1/jobs", data=fields, files=files)
    request.read()
    return request.headers["content-type"], request.content


def _received(content_type: str, body: bytes, target: Path, limit: int, chunk: int = 1000):  # type: ignore[no-untyped-def]
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    return asyncio.run(receive(content_type, len(body), stream(), target, limit))


def test_uploads_stream_to_the_servers_file_with_the_clients_extension(tmp_path: Path) -> None:
    audio = bytes(range(256)) * 40
    content_type, body = _multipart({"stems": "4", "codec": "flac"}, audio, name="../My Song.FLAC")
    upload = _received(content_type, body, tmp_path / "abc.part", limit=len(audio))
    assert upload.path == tmp_path / "abc.part.flac" and upload.path.read_bytes() == audio
    assert (upload.filename, upload.suffix, upload.size, upload.fields) == (
        "My Song.FLAC",
        ".flac",
        len(audio),
        {"stems": "4", "codec": "flac"},
    )
    odd = _received(*_multipart({}, b"x", name="notes.txt"), tmp_path / "def.part", limit=10)
    assert odd.path == tmp_path / "def.part" and odd.suffix == ""


def test_uploads_past_the_limit_or_malformed_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    content_type, body = _multipart({}, b"\x01" * 5000)
    with pytest.raises(BadUpload) as caught:
        _received(content_type, body, tmp_path / "big.part", limit=4999)
    assert caught.value.status == 413 and "limit" in str(caught.value)
    with pytest.raises(BadUpload) as declared:  # refused on its Content-Length alone
        asyncio.run(receive(content_type, 10 * 2**20 + DRAIN_BYTES + 1, _never(), tmp_path / "huge.part", 10 * 2**20))
    assert declared.value.status == 413
    for bad_type, bad_body, words in (
        ("application/json", b"{}", "multipart/form-data"),
        (*_multipart({"stems": "2"}, None), "no audio"),
        (*_multipart({"stems": "2" * 2000}, b"x"), "longer than"),
    ):
        with pytest.raises(BadUpload) as refused:
            _received(bad_type, bad_body, tmp_path / "bad.part", limit=100)
        assert refused.value.status == 400 and words in str(refused.value)
    assert list(tmp_path.iterdir()) == []


async def _never() -> AsyncIterator[bytes]:
    raise AssertionError("the body must not be read")
    yield b""


def test_the_job_store_resumes_and_sweeps_after_a_crash(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    ids = [new_id() for _ in range(3)]
    for job_id in ids:
        upload = store.new_upload()
        upload.write_bytes(b"audio")
        store.add(job_id, upload, "song.wav", ".wav", {"model": "spleeter:2stems"})
    store.set_running(ids[0])
    store.set_done(ids[2], {"file": {}, "stems": {}})
    with pytest.raises(ValidationError, match="in use by another `spl serve`"):
        JobStore(tmp_path)
    (tmp_path / "uploads" / "left.part").write_bytes(b"half")
    (tmp_path / "jobs" / new_id()).mkdir()  # a folder whose row never got written
    store.close()  # as a killed server leaves it: the lock goes with the process

    again = JobStore(tmp_path)
    assert again.requeue_unfinished() == 1 and again.queued() == ids[:2]
    again.sweep()
    assert list((tmp_path / "uploads").iterdir()) == [] and sorted(p.name for p in (tmp_path / "jobs").iterdir()) == sorted(ids)
    assert again.get(ids[2]).status == "done" and again.get("../../jobs.db") is None and again.get(ids[0][:-1] + "!") is None
    assert again.expired(before=2e9) == [ids[2]]
    again.remove(ids[2])
    assert again.get(ids[2]) is None and not (tmp_path / "jobs" / ids[2]).exists()
    again.close()


def test_no_token_means_loopback_only() -> None:
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "192.168.1.2", "example.com"))
    check_binding("127.0.0.1", None, False, "--host")
    check_binding("0.0.0.0", "token", False, "--host")
    check_binding("0.0.0.0", None, True, "--host")
    with pytest.raises(ValidationError, match="--host 0.0.0.0: refusing to serve beyond this machine without a token"):
        check_binding("0.0.0.0", None, False, "--host")


def test_python_m_spleeter_cli_server_is_spl_serve(bare_spl) -> None:
    done = bare_spl.python("import runpy, sys; sys.argv = ['x', '--help']; runpy.run_module('spleeter_cli.server', run_name='__main__')")
    assert done.returncode == 0 and "Usage: python -m spleeter_cli serve" in done.stdout and "--max-upload" in done.stdout, done.stderr
    bad = bare_spl.python(
        "import runpy, sys; sys.argv = ['x', '--port', '0']; runpy.run_module('spleeter_cli.server', run_name='__main__')"
    )
    assert bad.returncode == 2 and "--port" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr  # spl serve's own checks
