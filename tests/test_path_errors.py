"""Odd paths, odd values and damaged files through the real `spl`: one line, a documented exit code, the rest done.

Each used to end in "internal error" (and in `spl batch`, often stopped every other input),
a Click usage screen, a false success, or stems cut short without a word. The last test walks
the file-system error family (EACCES, ELOOP, ENAMETOOLONG, EISDIR, ENOSPC and non-UTF-8 names)
through every kind of path `spl` touches: inputs (exit 3), outputs (exit 5), the cache and the
history (a warning; the run goes on).

We run as root in CI, and root ignores permission bits: ``unprivileged()`` drops the
capabilities that let it, so a ``chmod 000`` file is as unreadable as for anyone else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf
from conftest import RATE, song, write_songs

ROOT = Path(__file__).resolve().parent.parent
ERROR_LINE = re.compile(r"^spl: error: (.+?): .+ \(.+\)$")
LONG = "L" * 256  # one byte over NAME_MAX
NOT_UTF8 = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: a valid Linux name that is not UTF-8


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def errors(self) -> list[str]:
        """The error lines about files, each checked for the documented shape."""
        found = [line for line in self.err.splitlines() if line.startswith("spl: error:")]
        for line in found:
            assert ERROR_LINE.match(line), f"not a documented error line: {line!r}"
        return found


def unprivileged() -> list[str]:
    """A command prefix under which permission bits bind: root drops the capabilities that bypass them (setpriv: util-linux)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]


@pytest.fixture
def spl(run_spl, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the real `spl` (optionally under a prefix such as ``unprivileged()``); bytes out, so any file name survives."""

    def run(*args: str | Path, prefix: list[str] = [], cache: Path | None = None, env: dict[str, str] | None = None) -> Run:  # noqa: B006
        done = run_spl(
            *args, prefix=prefix, env={"SPLEETER_CACHE_DIR": str(cache or tmp_path / "cache"), **(env or {})}, text=False, cwd=tmp_path
        )
        result = Run(done.returncode, done.stdout.decode("utf-8", "surrogateescape"), done.stderr.decode("utf-8", "surrogateescape"))
        assert "Traceback" not in result.err and "internal error" not in result.err, result.err
        for line in result.err.splitlines():
            assert line.startswith("spl: "), line
        return result

    return run


def stems(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.wav")) if folder.is_dir() else []


BOTH = ["accompaniment.wav", "vocals.wav"]


@pytest.mark.slow
def test_an_unreadable_input_fails_alone(spl, tmp_path: Path) -> None:
    """Issue 12, items 3 and 9: with the cache on a PermissionError from hashing the input stopped the batch;
    `spl separate` and `spl info` answered with Click's usage screen (exit 2) and separated nothing."""
    good, locked = write_songs(tmp_path / "x", 2, 1.0)
    locked.chmod(0)
    done = spl("batch", tmp_path / "x", "-o", tmp_path / "out", prefix=unprivileged())
    assert done.code == 1 and done.errors() == [
        f"spl: error: {locked}: permission denied (check its permissions and those of its folders)"
    ], done.err
    assert stems(tmp_path / "out" / good.stem) == BOTH and not (tmp_path / "out" / locked.stem).exists()
    done = spl("separate", good, locked, "-o", tmp_path / "sep", prefix=unprivileged())
    assert done.code == 3 and len(done.errors()) == 1 and "permission denied" in done.err, done.err
    assert stems(tmp_path / "sep" / good.stem) == BOTH
    done = spl("info", "--json", good, locked, prefix=unprivileged())
    assert done.code == 3 and len(done.errors()) == 1 and "permission denied" in done.err, done.err
    assert [json.loads(line)["path"] for line in done.out.splitlines()] == [str(good)]


@pytest.mark.slow
def test_symlink_loops_fail_alone(spl, tmp_path: Path) -> None:
    """Item 4: "RuntimeError: Symlink loop" or "OSError [Errno 40]", and nothing processed."""
    (good,) = write_songs(tmp_path / "lib", 1, 1.0)
    (tmp_path / "lib" / "a.mp3").symlink_to("b.mp3")
    (tmp_path / "lib" / "b.mp3").symlink_to("a.mp3")
    loop = "symbolic link loop (or too many links) (fix or remove the link)"
    done = spl("separate", good, tmp_path / "lib" / "a.mp3", "-o", tmp_path / "sep")
    assert done.code == 3 and done.errors() == [f"spl: error: {tmp_path / 'lib' / 'a.mp3'}: {loop}"], done.err
    assert stems(tmp_path / "sep" / good.stem) == BOTH
    for pattern in (tmp_path / "lib", f"{tmp_path / 'lib'}/*.mp3"):
        done = spl("batch", pattern, "-o", tmp_path / "out")
        assert done.code == 1 and sorted(done.errors()) == [
            f"spl: error: {tmp_path / 'lib' / name}: {loop}" for name in ("a.mp3", "b.mp3")
        ], done.err
    assert stems(tmp_path / "out" / good.stem) == BOTH
    (tmp_path / "o-loop").symlink_to("o-loop")
    done = spl("separate", good, "-o", tmp_path / "o-loop")
    assert done.code == 5 and len(done.errors()) == 1 and "Too many levels of symbolic links" in done.err, done.err


@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_is_separated_and_recorded(spl, tmp_path: Path) -> None:
    """Item 5: the stems were written, then a UnicodeEncodeError in the history write (and soundfile's own on a cache miss)."""
    name = tmp_path / f"{NOT_UTF8}.wav"
    sf.write(os.fsencode(name), song(1.0, 3), RATE)  # soundfile itself refuses a str that is not UTF-8
    for extra in (["--no-cache"], []):
        done = spl("separate", name, "-o", tmp_path / "out", "--overwrite", *extra, env={"PYTHONIOENCODING": "utf-8:strict"})
        assert done.code == 0 and not done.err, done.err
        assert done.out.startswith(f"{name} -> ")  # the name's own bytes, for a script reading stdout
    assert stems(tmp_path / "out" / NOT_UTF8) == BOTH
    stats = json.loads(spl("stats", "--json").out)["processing_stats"]
    assert (stats["runs"], stats["ok"]) == (2, 2)


@pytest.mark.slow
def test_names_over_255_bytes_fail_alone(spl, tmp_path: Path) -> None:
    """Item 6: a component over NAME_MAX as an input, in an @list, in a glob or as -o stopped the whole run."""
    (good,) = write_songs(tmp_path, 1, 1.0)
    (tmp_path / "list.txt").write_text(f"{LONG}.flac\n{good}\n")
    too_long = "name too long for the file system (shorten it: at most 255 bytes per file or folder name)"
    done = spl("batch", f"{LONG}.wav", "@list.txt", f"{LONG}/*.wav", "-o", tmp_path / "out")
    assert done.code == 1 and len(done.errors()) == 3 and all(too_long in line for line in done.errors()), done.err
    assert stems(tmp_path / "out" / good.stem) == BOTH
    done = spl("separate", f"{LONG}.wav", good, "-o", tmp_path / "sep")
    assert done.code == 3 and done.errors() == [f"spl: error: {LONG}.wav: {too_long}"], done.err
    for command in ("separate", "batch"):
        done = spl(command, good, "-o", tmp_path / LONG)
        assert done.code == (5 if command == "separate" else 1) and len(done.errors()) == 1 and "too long" in done.err.lower(), done.err


@pytest.mark.slow
def test_numbers_beyond_any_machine_are_usage_errors(spl, tmp_path: Path) -> None:
    """Item 7: -j 99999999999999999999 reached SQLite ("OverflowError"); so did cache.disk_mb through diskcache."""
    (good,) = write_songs(tmp_path, 1, 1.0)
    done = spl("batch", good, "-o", tmp_path / "out", "-j", "99999999999999999999")
    assert done.code == 2 and done.err == "spl: error: --jobs must be at most 1024, not 99999999999999999999\n", done.err
    config = tmp_path / "big.yaml"
    config.write_text("cache:\n  disk_mb: 99999999999999999999\n")
    done = spl("separate", good, "-o", tmp_path / "out", "--config", config)
    assert done.code == 2 and "cache.disk_mb must be at most" in done.err, done.err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_config_nested_thousands_deep_is_a_usage_error(spl, tmp_path: Path) -> None:
    """Item 8: RecursionError from the YAML parser."""
    for name, text in (
        ("lists.yaml", "performance: " + "[" * 5000 + "]" * 5000 + "\n"),
        ("maps.yaml", "".join("  " * depth + f"k{depth}:\n" for depth in range(5000))),
    ):
        (tmp_path / name).write_text(text)
        done = spl("separate", "song.wav", "--config", tmp_path / name)
        assert (
            done.code == 2
            and done.err
            == f"spl: error: {tmp_path / name}: invalid YAML: nested too deeply (a config file is at most a few levels deep, see config.example.yaml)\n"
        )


@pytest.mark.slow
def test_clearing_a_redis_that_cannot_be_reached_fails(spl) -> None:
    """Item 10: a warning, "cleared: redis" and exit 0."""
    for command in (["clear", "--tier", "redis"], ["clear"], ["prune", "--older-than", "1d"]):
        done = spl("cache", *command, "--redis-url", "redis://127.0.0.1:1/0")
        verb = command[0]
        assert done.code == 1 and not done.out, (done.out, done.err)
        assert (
            done.err.startswith(f"spl: error: cannot {verb} the Redis cache at redis://127.0.0.1:1/0: ")
            and "(check that Redis runs there" in done.err
        ), done.err
        assert "warning" not in done.err


def _cut(source: Path, folder: Path, size: int) -> Path:
    cut = folder / f"{source.stem}-{size}{source.suffix}"
    cut.write_bytes(source.read_bytes()[:size])
    return cut


def _claiming(path: Path, chunk: bytes, offset: int, value: bytes) -> Path:
    """``path`` with ``value`` written ``offset`` bytes after the chunk id ``chunk``: a header that promises what is not there."""
    data = bytearray(path.read_bytes())
    at = data.index(chunk) + offset
    data[at : at + len(value)] = value
    path.write_bytes(bytes(data))
    return path


@pytest.mark.slow
def test_truncated_lossy_files_are_refused_naming_both_lengths(spl, tmp_path: Path) -> None:
    """Item 11: `spl info` said 10.881 s of a file that decodes 0.053 s, `spl separate` wrote 0.05 s stems, exit 0."""
    example = ROOT / "examples" / "audio_example.mp3"
    size = example.stat().st_size
    ogg = tmp_path / "song.ogg"
    sf.write(ogg, song(10.0, 1), RATE, format="OGG", subtype="VORBIS")
    cuts = [_cut(example, tmp_path, 2628)] + [_cut(example, tmp_path, int(size * share)) for share in (0.1, 0.5, 0.9)]
    cuts += [_cut(ogg, tmp_path, int(ogg.stat().st_size * share)) for share in (0.1, 0.5, 0.9)]
    aiff, wav = tmp_path / "claims.aiff", tmp_path / "claims.wav"
    sf.write(aiff, song(0.6, 2), RATE, format="AIFF", subtype="PCM_16")
    sf.write(wav, song(0.6, 2)[:, :1], RATE, subtype="PCM_U8")
    cuts += [
        _claiming(aiff, b"COMM", 10, (2**31 - 1).to_bytes(4, "big")),
        _claiming(wav, b"data", 4, (2**31).to_bytes(4, "little")),
    ]  # ~2^31 frames
    done = spl("info", "--json", example, ogg, *cuts)
    assert done.code == 3 and [json.loads(line)["path"] for line in done.out.splitlines()] == [str(example), str(ogg)], done.out
    refused = {line.split(": ")[2]: line for line in done.errors()}
    assert sorted(refused) == sorted(map(str, cuts)), done.err
    assert re.search(r"truncated or corrupt \(decoded 0\.1 s of 10\.9 s\)", refused[str(cuts[0])]), refused[str(cuts[0])]
    for line in done.errors():
        assert re.search(r"truncated or corrupt \(decoded \d+\.\d s of \d+\.\d s\)", line), line
    done = spl("separate", cuts[0], cuts[-1], "-o", tmp_path / "out")
    assert done.code == 3 and len(done.errors()) == 2 and not (tmp_path / "out").exists(), done.err


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, for a real ENOSPC: root only (as in CI), where a failed mount is an error, not a skip."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for a real ENOSPC needs root (CI runs as root)")
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs for a real ENOSPC: {mounted.stderr}"
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.slow
def test_file_system_errors_on_every_kind_of_path(spl, tmp_path: Path, tiny_disk: Path) -> None:
    """EACCES, ELOOP, ENAMETOOLONG, EISDIR, ENOSPC and a non-UTF-8 name as input (exit 3), output (exit 5),
    cache and history (a warning, stems still written): never an internal error, never a stopped batch."""
    (good,) = write_songs(tmp_path / "songs", 1, 2.0)
    shared = tmp_path / "shared-cache"
    assert spl("separate", good, "-o", tmp_path / "warm", cache=shared).code == 0  # later runs with this cache skip the model

    # Inputs: each fails alone with its cause; the good one and the non-UTF-8 one are separated.
    bad = tmp_path / "in"
    bad.mkdir()
    shutil.copy(good, bad / "locked.wav")
    (bad / "locked.wav").chmod(0)
    (bad / "loop.wav").symlink_to("loop.wav")
    (bad / "folder.wav").mkdir()
    shutil.copy(good, bad / f"{NOT_UTF8}.wav")
    inputs = [bad / "locked.wav", bad / "loop.wav", bad / f"{LONG}.wav", bad / "folder.wav", bad / f"{NOT_UTF8}.wav", good]
    causes = {
        "locked.wav": "permission denied",
        "loop.wav": "symbolic link loop",
        f"{LONG}.wav": "name too long",
        "folder.wav": "is a directory",
    }
    for command, code in (("batch", 1), ("separate", 3)):
        causes["folder.wav"] = "matches no audio files" if command == "batch" else "is a directory"  # batch searches a folder
        done = spl(command, *inputs, "-o", tmp_path / f"out-{command}", prefix=unprivileged(), cache=shared)
        assert done.code == code, done.err
        assert sorted(Path(line.split(": ")[2]).name for line in done.errors()) == sorted(causes), done.err
        for line in done.errors():
            assert causes[Path(line.split(": ")[2]).name] in line, line
        assert stems(tmp_path / f"out-{command}" / NOT_UTF8) == BOTH and stems(tmp_path / f"out-{command}" / good.stem) == BOTH

    # Outputs: the input fails with exit 5 and leaves nothing behind.
    (tmp_path / "readonly").mkdir(mode=0o555)
    (tmp_path / "o-loop").symlink_to("o-loop")
    (tmp_path / "o-dir" / good.stem / "vocals.wav").mkdir(parents=True)
    outputs = {
        "permission denied": tmp_path / "readonly" / "out",
        "symbolic links": tmp_path / "o-loop",
        "too long": tmp_path / LONG,
        "is a directory": tmp_path / "o-dir",
        "no space": tiny_disk,
    }
    sf.write(tmp_path / "songs" / "long.wav", song(8.0, 4), RATE)  # 1.4 MB per stem: more than the tiny disk holds
    for cause, out in outputs.items():
        source = tmp_path / "songs" / "long.wav" if out == tiny_disk else good
        done = spl("separate", source, "-o", out, "--overwrite", prefix=unprivileged(), cache=shared)
        assert done.code == 5 and len(done.errors()) == 1 and cause in done.err.lower(), (cause, done.err)
        left = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".spl.json")] if os.path.isdir(out) else []
        assert not left, (cause, left)  # no stem, no temporary (a pending provenance record may stay: it says what was tried)
    done = spl("separate", good, "-o", tmp_path / f"out-{NOT_UTF8}", cache=shared)
    assert done.code == 0 and stems(tmp_path / f"out-{NOT_UTF8}" / good.stem) == BOTH

    # Cache and history: a warning naming the cause, and the stems all the same.
    locked_cache = tmp_path / "locked-cache"
    locked_cache.mkdir(mode=0o555)
    (tmp_path / "loop-cache").symlink_to("loop-cache")
    history_is_a_folder, locked_history = (
        shutil.copytree(shared, tmp_path / "dir-history"),
        shutil.copytree(shared, tmp_path / "locked-history"),
    )
    (history_is_a_folder / "history.db").unlink()
    (history_is_a_folder / "history.db").mkdir()  # with the cache itself intact, only the history fails (and the run is a cache hit)
    (locked_history / "history.db").chmod(0)
    _fill(tiny_disk)
    caches = {
        "permission denied": locked_cache,
        "exists, but is not a folder": tmp_path / "loop-cache",
        "too long": tmp_path / LONG,
        "cannot record this run.*unable to open": history_is_a_folder,
        "cannot record this run": locked_history,
        "no space|disk is full": tiny_disk,
        "": tmp_path / f"cache-{NOT_UTF8}",
    }
    for index, (cause, cache) in enumerate(caches.items()):
        out = tmp_path / f"out-cache-{index}"
        done = spl("separate", good, "-o", out, prefix=unprivileged(), cache=cache)
        assert done.code == 0 and stems(out / good.stem) == BOTH, (cause, done.err)
        warnings = [line for line in done.err.splitlines() if line.startswith("spl: warning: ")]
        assert (warnings and re.search(cause, done.err.lower())) if cause else not warnings, (cause, done.err)


def _fill(folder: Path) -> None:
    """Write to ``folder`` until its file system is full."""
    with (folder / "filler").open("wb", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 65536)
        except OSError:
            pass


def test_a_path_failure_no_boundary_claims_still_names_its_path(capsys: pytest.CaptureFixture[str]) -> None:
    """The net under every command: an OSError on a path that reaches the top is that path's error, not an internal one."""
    import typer

    from spleeter_cli.cli.ui import handles_errors

    @handles_errors
    def command() -> None:
        open("/proc/spl-no-such-folder/state.json")

    with pytest.raises(typer.Exit) as stopped:
        command()
    assert stopped.value.exit_code == 1
    assert (
        capsys.readouterr().err
        == "spl: error: /proc/spl-no-such-folder/state.json: no such file or folder (check the path and its spelling)\n"
    )
