"""Files in, stem files out: decode -> separate -> encode, streamed chunk by chunk.

Everything that can be checked without the model (options, inputs, output
paths) is checked first, so a typo fails in milliseconds rather than after
TensorFlow's import. The model then loads on a background thread while the
first chunk of the first file is decoded. Each file is written to temporary
names and renamed when complete; a failing file is cleaned up and reported
without stopping the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..audio import codec
from ..errors import AudioProcessingError, SplError
from ..models.catalog import SAMPLE_RATE, ModelSpec, get_spec
from ..models.store import ModelManager
from . import outputs
from .separator import Separator


@dataclass(frozen=True)
class SeparateOptions:
    """Everything that changes what ``spl separate`` writes."""

    model: str = "spleeter:2stems"
    codec: str = "wav"
    bitrate: str | None = None
    bit_depth: int = 16
    filename_format: str = outputs.DEFAULT_FILENAME_FORMAT
    offset: float = 0.0
    duration: float | None = None
    mwf: bool = False
    overwrite: bool = False


@dataclass
class FileResult:
    """What happened to one input; the CLI renders it, scripts read it as JSON."""

    input: Path
    model: str
    status: str = "ok"  # "ok" | "failed"
    outputs: dict[str, Path] = field(default_factory=dict)
    audio_duration: float = 0.0
    wall_time: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    error: SplError | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "input": str(self.input),
            "status": self.status,
            "model": self.model,
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "audio_duration": round(self.audio_duration, 3),
            "wall_time": round(self.wall_time, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self.error is not None:
            data["error"] = str(self.error)
            data["exit_code"] = int(self.error.exit_code)
        return data


class Listener(Protocol):
    """Progress events; the CLI turns them into Rich bars, plain lines or JSON."""

    def status(self, message: str) -> None: ...
    def file_started(self, path: Path, duration: float) -> None: ...
    def file_progress(self, path: Path, seconds: float) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...


@dataclass
class _Job:
    source: Path
    info: codec.AudioInfo
    outputs: dict[str, Path]


def check_options(options: SeparateOptions) -> ModelSpec:
    """Validate options that need neither inputs nor the model."""
    spec = get_spec(options.model)
    codec.check_output_options(options.codec, options.bitrate, options.bit_depth)
    outputs.check_filename_format(options.filename_format)
    if options.offset < 0:
        raise ValidationError(f"--offset must be >= 0, not {options.offset}")
    if options.duration is not None and options.duration <= 0:
        raise ValidationError(f"--duration must be > 0, not {options.duration}")
    return spec


class SeparationRun:
    """Separates a list of files with one model, reporting through a listener."""

    def __init__(self, options: SeparateOptions, output_dir: Path, store: ModelManager, listener: Listener) -> None:
        self.options = options
        self.output_dir = output_dir
        self.store = store
        self.listener = listener
        self.spec = check_options(options)

    def run(self, inputs: Sequence[Path]) -> list[FileResult]:
        results: list[FileResult] = []
        jobs: list[_Job] = []
        for source in inputs:
            try:
                jobs.append(self._plan(source))
            except SplError as error:
                results.append(self._failed(source, error, 0.0))
        if not jobs:
            return results
        checkpoint = self.store.ensure(self.spec.name, on_status=self.listener.status) / "model"
        with ThreadPoolExecutor(1, thread_name_prefix="spl-model") as loader:
            model = _LoadingModel(self.spec, loader.submit(_load_model, self.spec, checkpoint))
            separator = Separator(model)
            for job in jobs:
                results.append(self._separate(job, separator))
        return results

    def _plan(self, source: Path) -> _Job:
        info = codec.probe(source)
        if self.options.offset > 0 and self.options.offset >= info.duration:
            raise AudioProcessingError(
                f"--offset {self.options.offset:g} s is past the end of the audio ({info.duration:.1f} s long)",
                hint="use a smaller --offset",
                path=str(source),
            )
        planned = outputs.plan_outputs(source, self.output_dir, self.options.filename_format, self.spec.instruments, self.options.codec)
        if not self.options.overwrite:
            outputs.refuse_existing(planned, source)
        return _Job(source, info, planned)

    def _failed(self, source: Path, error: SplError, started: float) -> FileResult:
        error.context.setdefault("path", str(source))
        result = FileResult(source, self.spec.full_name, status="failed", error=error, wall_time=time.perf_counter() - started if started else 0.0)
        self.listener.file_finished(result)
        return result

    def _separate(self, job: _Job, separator: Separator) -> FileResult:
        started = time.perf_counter()
        opts = self.options
        duration = max(0.0, min(job.info.duration - opts.offset, opts.duration or float("inf")))
        self.listener.file_started(job.source, duration)
        temporaries = {name: outputs.temporary_path(path) for name, path in job.outputs.items()}
        timings = {"decode": 0.0, "separate": 0.0, "encode": 0.0}  # busy time per stage; stages overlap
        samples = 0
        try:
            outputs.prepare_directories(job.outputs.values(), job.source)
            writers = {name: codec.AudioWriter(tmp, SAMPLE_RATE, opts.codec, opts.bitrate, opts.bit_depth) for name, tmp in temporaries.items()}
            try:
                open_blocks = lambda: _timed(self._blocks(job, separator.chunk_samples), timings, "decode")  # noqa: E731
                progress = lambda n: self.listener.file_progress(job.source, n / SAMPLE_RATE)  # noqa: E731
                stems_stream = separator.stream_wiener(open_blocks, progress) if opts.mwf else separator.stream(open_blocks(), progress)
                for stems in _timed(stems_stream, timings, "separate"):
                    tick = time.perf_counter()
                    for name, writer in writers.items():
                        writer.write(stems[name])
                    timings["encode"] += time.perf_counter() - tick
                    samples += len(stems[self.spec.instruments[0]])
            finally:
                for writer in writers.values():
                    writer.close()
            if samples == 0:
                raise AudioProcessingError("no audio samples in the selected range", hint="check --offset and --duration")
            outputs.commit(temporaries, job.outputs)
        except SplError as error:
            outputs.discard(temporaries.values())
            return self._failed(job.source, error, started)
        except BaseException:
            outputs.discard(temporaries.values())
            raise
        result = FileResult(
            job.source, self.spec.full_name, outputs=job.outputs, audio_duration=samples / SAMPLE_RATE,
            wall_time=time.perf_counter() - started, timings=timings,
        )
        self.listener.file_finished(result)
        return result

    def _blocks(self, job: _Job, size: int) -> Iterator[np.ndarray]:
        """The input's samples at the model's rate, in blocks of ``size``; opened anew per pass."""
        with codec.AudioReader(job.source, SAMPLE_RATE, self.options.offset, self.options.duration) as reader:
            yield from reader.blocks(size)


def _timed(iterator: Iterator[Any], timings: dict[str, float], key: str) -> Iterator[Any]:
    """Yield from ``iterator``, adding the time spent producing each item to ``timings[key]``."""
    while True:
        tick = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            timings[key] += time.perf_counter() - tick
            return
        timings[key] += time.perf_counter() - tick
        yield item


def _load_model(spec: ModelSpec, checkpoint: Path) -> Any:
    from ..models.unet import load_model  # TensorFlow: only once a file is actually separated

    return load_model(spec, checkpoint)


class _LoadingModel:
    """Stands in for the model while it loads, so decoding overlaps TensorFlow's start-up."""

    def __init__(self, spec: ModelSpec, future: Future[Any]) -> None:
        self.spec = spec
        self._future = future

    def masks(self, magnitudes: np.ndarray) -> np.ndarray:
        return self._future.result().masks(magnitudes)

    def estimates(self, magnitudes: np.ndarray) -> np.ndarray:
        return self._future.result().estimates(magnitudes)
