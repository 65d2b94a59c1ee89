"""Malformed inputs end in the project's own errors only: never a traceback, an internal error or a hang.

Both layers mutate the same seeds (tiny valid files of every input format, ``audio_files.SEEDS``)
with the same mutations: bit flips, truncation, overwritten bytes, and integers written into
header fields and next to chunk and atom ids, where their sizes live.

- In process, a Hypothesis property sends 8 x 1250 = 10,000 mutated files through what `spl`
  runs on an input: ``codec.probe``, ``codec.AudioReader`` at the model's rate (from the start
  and after a seek) and ``analysis.describe`` (`spl info`). Only ``SplError`` may escape. The
  search is derandomized and keeps no database, so every run tries the same cases and a failure
  reproduces; Hypothesis prints the seed and the mutations that broke it.
- Through the real `spl info` and `spl separate`, a fixed-seed corpus of the same mutations
  (>= 500 files) must give one documented error line per refused file and the right exit code.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from audio_files import SEEDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spleeter_cli.audio import analysis, codec
from spleeter_cli.errors import SplError

pytestmark = pytest.mark.slow  # hundreds of malformed files through the decoders and the real `spl`

FORMATS = tuple(SEEDS)
CASES_PER_FORMAT = 1250  # x 8 formats: the 10,000 in-process cases
SEED_SECONDS = 0.2  # tiny files keep each case at a few milliseconds
INFO_BATCH = 100  # files per `spl info` invocation: one process start (~1 s) per batch, not per file
INFO_TIMEOUT = 120  # seconds per invocation; a hang on any input fails the test instead of blocking CI
SEPARATE_SAMPLE = 70
SEPARATE_BATCH = 35
SEPARATE_TIMEOUT = 300
ERROR_LINE = re.compile(r"^spl: error: (.+?): .+ \(.+\)$")

# A mutation is data, resolved against the bytes it is applied to, so Hypothesis shows (and shrinks) a short list:
#   ("flip", position, bit)  ("cut", position)  ("bytes", position, payload)
#   ("field", position, width, value, byteorder)  ("chunk", id index, offset from the id, width, value, byteorder)
Mutation = tuple[object, ...]
HEADER = 512  # half the positions fall in the first bytes, where the headers are
EDGES = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1)
_CHUNK_ID = re.compile(rb"(?=[A-Za-z][A-Za-z0-9 ]{3})")  # 'RIFF', 'fmt ', 'data', 'COMM', 'moov', 'OggS'...


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    """Apply ``mutations`` in order; positions wrap around the current length, so any list applies to any file."""
    out = bytearray(data)
    for kind, *args in mutations:
        if not out:
            break
        if kind == "cut":
            del out[args[0] % len(out) :]
        elif kind == "flip":
            out[args[0] % len(out)] ^= 1 << args[1]
        elif kind == "bytes":
            _put(out, args[0], args[1])
        elif kind == "field":
            _put(out, args[0], _field(*args[1:]))
        else:
            ids = [match.start() for match in _CHUNK_ID.finditer(bytes(out[:4096]))] or [0]
            _put(out, max(0, ids[args[0] % len(ids)] + args[1]), _field(*args[2:]))
    return bytes(out)


def _put(out: bytearray, position: int, payload: bytes) -> None:
    position %= len(out)
    out[position : position + len(payload)] = payload


def _field(width: int, value: int, order: str) -> bytes:
    return (value % 256**width).to_bytes(width, order)  # type: ignore[arg-type]


def _position() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, HEADER - 1), st.integers(0, 2**20))


def _integer() -> st.SearchStrategy[tuple[int, int, str]]:
    return st.tuples(
        st.sampled_from([1, 2, 3, 4, 8]), st.one_of(st.sampled_from(EDGES), st.integers(0, 2**64 - 1)), st.sampled_from(["little", "big"])
    )


MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), _position(), st.integers(0, 7)),
    st.tuples(st.just("cut"), _position()),
    st.tuples(st.just("bytes"), _position(), st.binary(min_size=1, max_size=16)),
    st.builds(lambda position, field: ("field", position, *field), _position(), _integer()),
    st.builds(
        lambda index, offset, field: ("chunk", index, offset, *field),
        st.integers(0, 63),
        st.sampled_from([-8, -4, 4, 8, 12, 16, 20, 22, 24]),
        _integer(),
    ),
)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    """Per format, the bytes of each seed; each must itself decode whole, or its variants prove little."""
    folder = tmp_path_factory.mktemp("seeds")
    found: dict[str, list[bytes]] = {}
    for fmt, specs in SEEDS.items():
        for name, write in specs:
            path = write(folder / f"{fmt}-{name}", SEED_SECONDS)
            assert len(codec.decode(path)) > 0, path
            found.setdefault(fmt, []).append(path.read_bytes())
    return found


def exercise(path: Path, offset: float) -> bool:
    """What `spl` does to an input, in process; True if it decoded, False if refused with a project error."""
    try:
        analysis.describe(path)
        with codec.AudioReader(path, 44100, offset=offset) as reader:
            for _ in reader.blocks(1 << 15):
                pass
    except SplError:
        return False
    return True


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_inputs_raise_only_project_errors(fmt: str, seeds: dict[str, list[bytes]], tmp_path: Path) -> None:
    path = tmp_path / f"case.{fmt}"
    outcomes: list[bool] = []

    @settings(max_examples=CASES_PER_FORMAT, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        seed=st.integers(0, len(seeds[fmt]) - 1), mutations=st.lists(MUTATIONS, min_size=1, max_size=3), offset=st.sampled_from([0.0, 0.05])
    )
    def case(seed: int, mutations: list[Mutation], offset: float) -> None:
        path.write_bytes(mutate(seeds[fmt][seed], mutations))
        outcomes.append(exercise(path, offset))

    started = time.perf_counter()
    case()
    print(f"{fmt}: {len(outcomes)} cases in {time.perf_counter() - started:.1f} s, {outcomes.count(False)} refused")
    assert len(outcomes) >= CASES_PER_FORMAT
    assert outcomes.count(False) > len(outcomes) // 10  # the mutations really break files: the property is not vacuous


# --- the same mutations through the real `spl` ----------------------------------------------


def _corpus_mutations(size: int, rng: np.random.Generator) -> list[tuple[str, list[Mutation]]]:
    """(kind, mutations) for one seed: cuts through the header and the file, then random mutations of each kind."""
    cuts = sorted(set(range(0, min(64, size), 3)) | {int(c) for c in np.linspace(64, size - 1, 10)})
    out: list[tuple[str, list[Mutation]]] = [(f"cut{c}", [("cut", c)]) for c in cuts]
    for _ in range(6):
        position, bit = int(rng.integers(0, HEADER)), int(rng.integers(8))
        out.append(("flip", [("flip", position, bit), ("flip", int(rng.integers(0, size)), bit)]))
        out.append(("bytes", [("bytes", int(rng.integers(0, HEADER)), rng.bytes(int(rng.integers(1, 17))))]))
        width, order = int(rng.choice([1, 2, 4, 8])), str(rng.choice(["little", "big"]))
        value = int(rng.choice(EDGES)) if rng.random() < 0.5 else int(rng.integers(0, 2**62))
        out.append(("chunk", [("chunk", int(rng.integers(0, 16)), int(rng.choice([-4, 4, 8, 16, 22])), width, value, order)]))
    return out


@pytest.fixture(scope="module")
def corpus(seeds: dict[str, list[bytes]], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(20240611)
    files: list[Path] = []
    for fmt, variants in seeds.items():
        for seed, valid in enumerate(variants):
            for index, (kind, mutations) in enumerate(_corpus_mutations(len(valid), rng)):
                files.append(folder / f"{fmt}-{seed}-{index:03d}-{kind}.{fmt}")
                files[-1].write_bytes(mutate(valid, mutations))
            files.append(folder / f"{fmt}-{seed}-random.{fmt}")  # no header at all: FFmpeg has to guess from noise
            files[-1].write_bytes(rng.bytes(int(rng.integers(1, 20000))))
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


def test_info_never_crashes_on_malformed_inputs(bare_spl, corpus: list[Path]) -> None:
    assert len(corpus) >= 500, len(corpus)
    failed_total = 0
    for start in range(0, len(corpus), INFO_BATCH):
        batch = corpus[start : start + INFO_BATCH]
        result = bare_spl("info", "--json", *batch, timeout=INFO_TIMEOUT)
        described, failed = _check_streams(batch, result.stdout, result.stderr)
        assert result.returncode == (3 if failed else 0), (result.returncode, result.stderr[-2000:])
        failed_total += len(failed)
    print(f"info: {len(corpus)} malformed inputs, {failed_total} rejected, {len(corpus) - failed_total} described")
    assert failed_total > len(corpus) // 2  # most of the corpus really is broken: the test is not vacuous


def test_separate_rejects_or_separates_malformed_inputs(run_spl, corpus: list[Path], tmp_path: Path) -> None:
    """A sample through the whole pipeline; with the info run above, >= 500 distinct malformed inputs reach `spl`."""
    rng = np.random.default_rng(7)
    sample = [corpus[i] for i in sorted(rng.choice(len(corpus), SEPARATE_SAMPLE, replace=False))]
    out = tmp_path / "out"
    outcomes: dict[str, str] = {}
    for start in range(0, len(sample), SEPARATE_BATCH):
        batch = sample[start : start + SEPARATE_BATCH]
        result = run_spl("separate", *batch, "-o", out, "--duration", "1", "--json", "--no-cache", timeout=SEPARATE_TIMEOUT)
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
