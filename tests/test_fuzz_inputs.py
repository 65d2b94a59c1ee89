"""Malformed inputs through the real `spl info` and `spl separate`: a clear one-line error, never a traceback or a hang.

The corpus is built per run from a fixed seed: for each input format a short valid file, then random
bytes with its extension, truncations (every offset through the header, then a spread through the
file), corrupted and zeroed header bytes, zeroed regions further in, and a valid header followed by
garbage. All of it (>= 500 files) goes through `spl info`; a sample of >= 60 also goes through
`spl separate`, which has to reject them before the model or separate whatever part decodes.
"""

from __future__ import annotations

import json
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from conftest import spl_command, spl_env
from spleeter_cli.audio import codec

RATE = 44100
FORMATS = ("wav", "flac", "mp3", "ogg", "m4a", "wma", "aiff")
INFO_BATCH = 100  # files per `spl info` invocation: one process start (~1 s) per batch, not per file
INFO_TIMEOUT = 120  # seconds per invocation; a hang on any input fails the test instead of blocking CI
SEPARATE_SAMPLE = 70
SEPARATE_BATCH = 35
SEPARATE_TIMEOUT = 300
ERROR_LINE = re.compile(r"^spl: error: (.+?): .+ \(.+\)$")


def _stereo(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32)


def _write_wma(path: Path, samples: np.ndarray) -> None:
    """WMA in ASF, the one supported input `codec` cannot write: PyAV's wmav2 encoder."""
    with av.open(str(path), "w", format="asf") as container:
        stream = container.add_stream("wmav2", rate=RATE, layout="stereo")
        stream.bit_rate = 128000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp", layout="stereo")
        frame.sample_rate, frame.time_base, frame.pts = RATE, Fraction(1, RATE), 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _valid(folder: Path, fmt: str) -> bytes:
    """A 0.75 s stereo file in ``fmt``; returns its bytes."""
    path, samples = folder / f"valid.{fmt}", _stereo(0.75)
    if fmt in ("wav", "flac", "aiff"):
        sf.write(path, samples, RATE, subtype="PCM_16", format=fmt.upper())
    elif fmt == "wma":
        _write_wma(path, samples)
    else:
        codec.encode(path, samples, RATE, codec=fmt, bitrate="128k")
    assert codec.probe(path).channels == 2, fmt  # the seed must itself be readable, or the variants prove little
    return path.read_bytes()


def _variants(valid: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """(kind, content) malformed versions of one valid file."""
    size = len(valid)
    out: list[tuple[str, bytes]] = []
    out += [("random", rng.bytes(int(n))) for n in rng.integers(1, 20000, 10)]
    header = min(64, size)
    cuts = sorted(set(range(0, header, 3)) | {int(c) for c in np.linspace(header, size - 1, 14)})
    out += [(f"cut{c}", valid[:c]) for c in cuts]
    for _ in range(20):  # flip or overwrite a few bytes in the header region
        data = bytearray(valid)
        span = int(rng.integers(64, 513))
        for position in rng.integers(0, min(span, size), int(rng.integers(1, 9))):
            data[position] = int(rng.integers(256)) if rng.random() < 0.5 else data[position] ^ (1 << int(rng.integers(8)))
        out.append(("corrupt", bytes(data)))
    for _ in range(10):  # zero a region: in the header for half of them, anywhere for the rest
        data = bytearray(valid)
        start = int(rng.integers(0, min(512, size))) if len(out) % 2 else int(rng.integers(0, size))
        length = int(rng.integers(4, 4096))
        data[start : start + length] = bytes(len(data[start : start + length]))
        out.append(("zeroed", bytes(data)))
    for keep in (16, 44, 64, 128, 256, 1024, 4096, size // 2):  # a real header, then noise
        out.append((f"garbage{keep}", valid[:keep] + rng.bytes(int(rng.integers(100, 30000)))))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(20240611)
    files: list[Path] = []
    for fmt in FORMATS:
        for index, (kind, content) in enumerate(_variants(_valid(folder, fmt), rng)):
            path = folder / f"{fmt}-{index:03d}-{kind}.{fmt}"
            path.write_bytes(content)
            files.append(path)
    return files


def _check_streams(batch: list[Path], stdout: str, stderr: str) -> tuple[set[str], set[str]]:
    """Per input, a JSON object or an error line; returns (described, failed) paths."""
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr
    names = {str(path) for path in batch}
    failed: set[str] = set()
    for line in stderr.splitlines():
        match = ERROR_LINE.match(line)
        assert match and match[1] in names, f"not a documented error line: {line!r}"
        failed.add(match[1])
    described = {json.loads(line)["path"] for line in stdout.splitlines()}
    assert described | failed == names, f"no outcome for {sorted(names - described - failed)}"
    assert not described & failed, f"both described and failed: {sorted(described & failed)}"
    return described, failed


def test_info_never_crashes_on_malformed_inputs(corpus: list[Path]) -> None:
    assert len(corpus) >= 500, len(corpus)
    failed_total = 0
    for start in range(0, len(corpus), INFO_BATCH):
        batch = corpus[start : start + INFO_BATCH]
        result = subprocess.run([*spl_command(), "info", "--json", *map(str, batch)], capture_output=True, text=True, timeout=INFO_TIMEOUT)
        described, failed = _check_streams(batch, result.stdout, result.stderr)
        assert result.returncode == (3 if failed else 0), (result.returncode, result.stderr[-2000:])
        failed_total += len(failed)
    print(f"info: {len(corpus)} malformed inputs, {failed_total} rejected, {len(corpus) - failed_total} described")
    assert failed_total > len(corpus) // 2  # most of the corpus really is broken: the test is not vacuous


def test_separate_rejects_or_separates_malformed_inputs(corpus: list[Path], models_dir: Path, tmp_path: Path) -> None:
    """A sample through the whole pipeline; with the info run above, >= 500 distinct malformed inputs reach `spl`."""
    rng = np.random.default_rng(7)
    sample = [corpus[i] for i in sorted(rng.choice(len(corpus), SEPARATE_SAMPLE, replace=False))]
    out = tmp_path / "out"
    env = spl_env(models_dir, tmp_path / "cache")
    outcomes: dict[str, str] = {}
    for start in range(0, len(sample), SEPARATE_BATCH):
        batch = sample[start : start + SEPARATE_BATCH]
        result = subprocess.run(
            [*spl_command(), "separate", *map(str, batch), "-o", str(out), "--duration", "1", "--json", "--no-cache"],
            capture_output=True, text=True, timeout=SEPARATE_TIMEOUT, env=env,
        )
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
        assert result.returncode in (0, 1, 3), (result.returncode, result.stderr[-2000:])
        for line in result.stderr.splitlines():  # JSON mode reports failures on stdout; stderr keeps to documented lines
            assert line.startswith("spl: "), line
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert sorted(row["input"] for row in rows) == sorted(map(str, batch))
        for row in rows:
            outcomes[row["input"]] = row["status"]
            if row["status"] == "ok":
                assert row["outputs"] and all(Path(p).is_file() and Path(p).stat().st_size > 44 for p in row["outputs"].values()), row
            else:
                assert row["status"] == "failed" and row["exit_code"] == 3, row
                assert re.fullmatch(r".+: .+ \(.+\)", row["error"]), row["error"]
        failures = [row for row in rows if row["status"] != "ok"]
        assert result.returncode == (3 if failures else 0), (result.returncode, result.stderr[-2000:])  # all share exit code 3
    assert len(outcomes) == SEPARATE_SAMPLE
    print(f"separate: {sum(s == 'ok' for s in outcomes.values())} separated, {sum(s == 'failed' for s in outcomes.values())} rejected")
    leftovers = [p for p in out.rglob("*") if ".part-" in p.name] if out.exists() else []
    assert not leftovers, leftovers
