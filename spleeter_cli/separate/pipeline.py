"""Files in, stem files out: cache lookup -> decode -> separate -> encode -> atomic write.

Everything that can be checked without the model (options, inputs, output
paths) is checked first, so a typo fails in milliseconds rather than after
TensorFlow's import. Files already done are skipped (resume, decided by the
stems' provenance records, never by their mere existence), cache hits are
written straight from the cache, and the model loads on a background thread
only when the first file actually needs it, while that file's first chunk is
decoded. Several files run at once (``jobs``), sharing one model through a
batcher. Each file is written to temporary names and renamed when complete; a
failing file is cleaned up and reported without stopping the others.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import __version__
from ..audio import formats
from ..audio.formats import past_the_end
from ..errors import AudioProcessingError, SplError, Unfinished, ValidationError, escaped_error
from ..limits import InputLimits
from ..models.backend import check_precision
from ..models.catalog import DEFAULT_MODEL, DEFAULT_PRECISION, SAMPLE_RATE, ModelSpec, get_spec
from ..models.store import ModelManager
from . import outputs, preprocess, provenance
from .stages import Cancelled
from .stems import StemWriter
from .loader import ModelPool

if TYPE_CHECKING:  # decoding and the model are imported only when a file misses the cache
    import numpy as np

    from .batcher import ModelBatcher


DEFAULT_SILENCE_DBFS = -60.0
MAX_SECONDS = 1e7  # --offset/--duration bound (115 days): sample counts stay exact integers, inf and nan are refused
STOP_GRACE = 1.0  # seconds a stopped run waits for its files in progress to clean up after themselves


@dataclass(frozen=True)
class SeparateOptions:
    """Everything that changes what gets written, and how existing outputs are treated."""

    model: str = DEFAULT_MODEL
    codec: str = formats.DEFAULT_CODEC
    bitrate: str | None = None
    bit_depth: int = formats.DEFAULT_BIT_DEPTH
    filename_format: str = formats.DEFAULT_FILENAME_FORMAT
    offset: float = 0.0
    duration: float | None = None
    mwf: bool = False
    existing: str = "refuse"  # "refuse" (spl separate), "skip" (spl batch: resume), "overwrite"
    tags: bool = True  # copy the input's tags to the stems
    silence_threshold: float = DEFAULT_SILENCE_DBFS  # a stem whose peak stays below this is reported silent
    skip_silent: bool = False  # and then not written
    normalize: float | None = None  # target loudness (LUFS) of the input before separation
    normalize_stems: float | None = None  # target loudness (LUFS) of each written stem
    highpass: float | None = None  # cut-off (Hz) of a high-pass on the input
    denoise: float = 0.0  # strength (0..1] of spectral-gating noise reduction of the input; 0: off
    precision: str = DEFAULT_PRECISION  # "fp32" (Spleeter's exact output) or "bf16" (OpenVINO on CPUs with native bf16)

    def cache_fields(self) -> dict[str, object]:
        """The options that change the bytes of the stems (not where they are written, nor which are kept)."""
        bitrate = formats.check_output_options(self.codec, self.bitrate, self.bit_depth)  # None -> the codec's default
        lossless = self.codec in formats.LOSSLESS_CODECS  # so `-c wav --bitrate 128k` is still a hit for `-c wav`
        fields = {"codec": self.codec, "bitrate": None if lossless else bitrate, "bit_depth": self.bit_depth if lossless else None,
                  "offset": self.offset, "duration": self.duration,
                  "mwf": self.mwf, "tags": self.tags, "normalize": self.normalize, "normalize_stems": self.normalize_stems,
                  "highpass": self.highpass, "denoise": self.denoise}
        if self.precision != DEFAULT_PRECISION:  # fp32 stems are the same whichever backend made them; bf16 ones are not
            fields["precision"] = self.precision
        return fields


@dataclass
class FileResult:
    """What happened to one input; the CLI renders it, scripts read it as JSON."""

    input: Path
    model: str
    status: str = "ok"  # "ok" | "skipped" (already done) | "failed"
    outputs: dict[str, Path] = field(default_factory=dict)
    audio_duration: float = 0.0
    wall_time: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    cache: str | None = None  # tier that served the stems: "memory" | "disk" | "redis"
    error: SplError | None = None
    peaks: dict[str, float] = field(default_factory=dict)  # instrument -> sample peak, linear
    silent: list[str] = field(default_factory=list)  # instruments whose peak is below the silence threshold
    input_gain: Any = None  # preprocess.Gain applied to the input (--normalize)
    stem_gains: dict[str, Any] = field(default_factory=dict)  # instrument -> preprocess.Gain (--normalize-stems)
    backend: str | None = None  # the runtime that ran the U-Nets ("openvino" | "tensorflow"); None when none ran (cache, skip)
    precision: str | None = None  # its arithmetic, "fp32" | "bf16"

    @property
    def output_files(self) -> dict[str, Path]:
        """The seed API's name for ``outputs``: instrument -> written file."""
        return self.outputs

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "input": str(self.input),
            "status": self.status,
            "model": self.model,
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "audio_duration": round(self.audio_duration, 3),
            "wall_time": round(self.wall_time, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "cache": self.cache,
            "backend": self.backend,
            "precision": self.precision,
            "silent": self.silent,
            "peak_dbfs": {name: _dbfs(peak) for name, peak in self.peaks.items()},
        }
        if self.input_gain is not None:
            data["input_loudness"] = self.input_gain.to_json()
        if self.stem_gains:
            data["stem_loudness"] = {name: gain.to_json() for name, gain in self.stem_gains.items()}
        if self.error is not None:
            data["error"] = str(self.error)
            data["exit_code"] = int(self.error.exit_code)
        return data


class Listener(Protocol):
    """Progress events, possibly from several threads; the CLI draws them."""

    def status(self, message: str) -> None: ...
    def file_started(self, path: Path, duration: float) -> None: ...
    def file_stage(self, path: Path, stage: str) -> None: ...
    def file_progress(self, path: Path, seconds: float) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...


@dataclass
class _Job:
    source: Path
    outputs: dict[str, Path]
    origin: provenance.Origin
    duration: float = 0.0  # seconds to separate, known once the file is probed
    channels: int = 2  # the file's own channel count, known once probed (loudness of mono is measured on one)


def check_options(options: SeparateOptions) -> ModelSpec:
    """Validate options that need neither inputs nor the model."""
    spec = get_spec(options.model)
    formats.check_output_options(options.codec, options.bitrate, options.bit_depth)
    outputs.check_filename_format(options.filename_format)
    if not 0 <= options.offset <= MAX_SECONDS:  # also refuses nan
        raise ValidationError(f"--offset must be between 0 and {MAX_SECONDS:.0f} seconds, not {options.offset:g}")
    if options.duration is not None and not 0 < options.duration <= MAX_SECONDS:
        raise ValidationError(f"--duration must be more than 0 and at most {MAX_SECONDS:.0f} seconds, not {options.duration:g}",
                              hint="leave it out to separate to the end")
    for flag, target in (("--normalize", options.normalize), ("--normalize-stems", options.normalize_stems)):
        if target is not None and not -70 <= target <= 0:
            raise ValidationError(f"{flag} must be a loudness between -70 and 0 LUFS, not {target:g}", hint="streaming services use about -14")
    if options.highpass is not None and not 0 < options.highpass < SAMPLE_RATE / 2:
        raise ValidationError(f"--highpass must be above 0 and below {SAMPLE_RATE // 2} Hz, not {options.highpass:g}", hint="rumble filters use 20-80 Hz")
    if not 0 <= options.denoise <= 1:
        raise ValidationError(f"--denoise-strength must be between 0 and 1, not {options.denoise:g}", hint="1 removes all it can; 0.5 is gentler on music")
    return spec


class SeparationRun:
    """Separates a list of files with one model, reporting through a listener."""

    def __init__(
        self,
        options: SeparateOptions,
        output_dir: Path,
        store: ModelManager,
        listener: Listener,
        cache: Any = None,
        jobs: int = 1,
        fail_fast: bool = False,
        models: ModelPool | None = None,
        limits: InputLimits | None = None,
        enable_gpu: bool = True,
        backend: str = "auto",
    ) -> None:
        self.options = options
        self.output_dir = output_dir
        self.store = store
        self.listener = listener
        self.cache = cache  # a CacheManager, or None for --no-cache
        self.jobs = max(1, jobs)
        self.fail_fast = fail_fast
        self.limits = limits or InputLimits()
        self.conditioning = preprocess.InputConditioning(options.highpass, options.denoise)
        self.spec = check_options(options)
        self.cancelled = threading.Event()
        self._own_models = models is None
        self.models = models or ModelPool(enable_gpu, backend)
        check_precision(options.precision, self.models.backend)
        self.model_loaded = False  # whether this run needed the model at all (all cached or skipped: no)
        self._weights_digest: str | None = None
        self._created_folders: list[Path] = []  # output folders this run made; the empty ones go at the end

    def run(self, inputs: Sequence[Path], destinations: Sequence[Path] | None = None) -> list[FileResult]:
        """Separate ``inputs``; ``destinations`` (one output dir per input) default to the run's."""
        planned: list[_Job | FileResult] = []
        claimed: dict[Path, Path] = {}  # stem -> the input that writes it
        for index, source in enumerate(inputs):
            try:
                job = self._plan(source, destinations[index] if destinations else self.output_dir)
                outputs.claim(job.outputs, source, claimed)
                planned.append(job)
            except SplError as error:
                planned.append(self._failed(source, error, 0.0))
            except OSError as error:  # one odd path fails its input, not the run
                planned.append(self._failed(source, escaped_error(source, error), 0.0))
        jobs = [p for p in planned if isinstance(p, _Job)]
        if jobs:
            self.store.ensure(self.spec.name, on_status=self.listener.status)
            self._weights_digest = self.store.weights_digest(self.spec.name) if self.cache else None
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="spl-file")
        done: dict[int, Future[FileResult]] = {}
        stopped = False
        try:
            done.update((id(job), pool.submit(self._process, job)) for job in jobs)
            results = [p if isinstance(p, FileResult) else done[id(p)].result() for p in planned]
        except BaseException:  # Ctrl-C, a signal, a closed stdout
            stopped = True
            self._stop(pool, done.values())
            raise
        finally:
            pool.shutdown(wait=not stopped)
            outputs.remove_if_empty(self._created_folders)
            if self._own_models:
                self.models.close(wait=not stopped)
        return results

    def _stop(self, pool: ThreadPoolExecutor, futures: Iterable[Future[FileResult]]) -> None:
        """Start no file, and give those in progress ``STOP_GRACE`` seconds to remove their temporaries.

        They notice within a tenth of a second unless inside a call that cannot be interrupted;
        nothing waits longer than that (the model may still be loading). A temporary left behind
        is removed by the process's exit (``outputs.remove_unfinished``) or by the next run.
        """
        self.cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        wait([future for future in futures if not future.cancelled()], timeout=STOP_GRACE)  # a cancelled one never counts as done

    def _plan(self, source: Path, destination: Path) -> _Job:
        """Cheap checks only; decoding the file is left to the worker, and only on a cache miss."""
        formats.check_file(source)
        self.limits.check_file(source)
        planned = outputs.plan_outputs(source, destination, self.options.filename_format, self.spec.instruments, self.options.codec)
        if self.options.existing == "refuse":
            outputs.refuse_existing(planned, source)
        return _Job(source, planned, provenance.Origin.of(source, self.spec.full_name, self.options.cache_fields()))

    def _probe(self, job: _Job) -> None:
        """Open the file as audio (a bad file fails here, before the model is needed)."""
        from ..audio import codec

        info = codec.probe(job.source)
        if self.options.offset > 0 and self.options.offset >= info.duration:
            raise AudioProcessingError(past_the_end(self.options.offset, info.duration), hint="use a smaller --offset", path=str(job.source))
        job.duration = max(0.0, min(info.duration - self.options.offset, self.options.duration or float("inf")))
        job.channels = info.channels
        self.limits.check_duration(job.source, job.duration)

    def _process(self, job: _Job) -> FileResult:
        try:
            return self._process_job(job)
        except BrokenPipeError:  # stdout's reader left: the run stops (exit 141), see cli.runs
            raise
        except OSError as error:  # one odd path fails its input, not the run
            return self._failed(job.source, escaped_error(job.source, error), 0.0)

    def _process_job(self, job: _Job) -> FileResult:
        if self.cancelled.is_set():
            return self._failed(job.source, Unfinished("not started: the run was stopped"), 0.0)
        started = time.perf_counter()
        outputs.remove_stale_parts(job.outputs.values())
        if self.options.existing == "skip":
            try:
                done = provenance.is_done(job.outputs.values(), job.origin)
            except SplError as error:
                return self._failed(job.source, error, started)
            if done:
                result = FileResult(job.source, self.spec.full_name, status="skipped", outputs=job.outputs)
                self.listener.file_finished(result)
                return result
        key = self._cache_key(job)
        hit = self.cache.get(key) if key else None
        if hit is not None:
            result = self._write_cached(job, hit, started)
        else:
            try:
                self._probe(job)
            except SplError as error:
                return self._failed(job.source, error, started)
            result = self._separate(job, started)
            if key and result.status == "ok":
                files = {name: path.read_bytes() for name, path in job.outputs.items()}
                self.cache.set(key, files, {"model": self.spec.full_name, "audio_duration": result.audio_duration, "peaks": result.peaks})
        if result.status == "failed":
            return result
        self._mark_silent(result)
        self.listener.file_finished(result)
        return result

    def _mark_silent(self, result: FileResult) -> None:
        """Name the stems that stayed below the threshold; with ``skip_silent`` remove their files.

        They are removed after the fact rather than never written, so the cache keeps every
        stem and a later run with another threshold is still a cache hit.
        """
        limit = 10 ** (self.options.silence_threshold / 20)
        result.silent = [name for name, peak in result.peaks.items() if peak < limit]
        if self.options.skip_silent:
            for name in result.silent:
                provenance.remove(result.outputs.pop(name))

    def _cache_key(self, job: _Job) -> str | None:
        if self.cache is None or self._weights_digest is None:
            return None
        from ..cache.keys import cache_key, input_digest

        return cache_key(input_digest(job.source), self.spec.full_name, self._weights_digest, self.options.cache_fields(), __version__)

    def _write_cached(self, job: _Job, hit: Any, started: float) -> FileResult:
        self.listener.file_stage(job.source, "cached")
        try:
            self.limits.check_duration(job.source, float(hit.meta.get("audio_duration", 0.0)))
            with outputs.staged(job.outputs, job.origin, self._created_folders) as temporaries:
                for name, temporary in temporaries.items():
                    temporary.write_bytes(hit.files[name])
        except SplError as error:
            return self._failed(job.source, error, started)
        duration = float(hit.meta.get("audio_duration", 0.0))
        peaks = {str(name): float(peak) for name, peak in dict(hit.meta.get("peaks") or {}).items()}  # older entries: unknown
        return FileResult(job.source, self.spec.full_name, outputs=dict(job.outputs), audio_duration=duration,
                          wall_time=time.perf_counter() - started, cache=hit.tier, peaks=peaks)

    def _failed(self, source: Path, error: SplError, started: float) -> FileResult:
        """Report a failed input; with --fail-fast, nothing new starts after it."""
        if self.fail_fast:
            self.cancelled.set()
        error.context.setdefault("path", str(source))
        result = FileResult(source, self.spec.full_name, status="failed", error=error, wall_time=time.perf_counter() - started if started else 0.0)
        self.listener.file_finished(result)
        return result

    def _separate(self, job: _Job, started: float) -> FileResult:
        model = self._model()  # start loading first: the imports below then overlap TensorFlow's
        from .separator import Separator

        separator = Separator(model, cancelled=self.cancelled, turns=self.models.turns)
        self.listener.file_started(job.source, job.duration)
        timings = {"decode": 0.0, "separate": 0.0, "encode": 0.0}  # busy time per stage; stages overlap
        try:
            input_gain = self._input_gain(job, separator.chunk_samples, timings)
            factor = input_gain.factor if input_gain else 1.0
            open_blocks = lambda: _timed(self._blocks(job, separator.chunk_samples, factor), timings, "decode")  # noqa: E731
            progress = lambda n: self.listener.file_progress(job.source, n / SAMPLE_RATE)  # noqa: E731
            stems = separator.stream_wiener(open_blocks, progress) if self.options.mwf else separator.stream(open_blocks(), progress)
            writer = StemWriter(self.options, self.spec.instruments, self.cancelled)
            with outputs.staged(job.outputs, job.origin, self._created_folders) as temporaries:
                self.listener.file_stage(job.source, "separate")
                written = writer.write(temporaries, _timed(stems, timings, "separate"), timings)
                if self.options.tags:
                    writer.copy_tags(job.source, temporaries)
        except SplError as error:
            return self._failed(job.source, error, started)
        except Cancelled:
            return self._failed(job.source, Unfinished("stopped before it finished: the run was stopped"), started)
        return FileResult(
            job.source, self.spec.full_name, outputs=dict(job.outputs), audio_duration=written.frames / SAMPLE_RATE,
            wall_time=time.perf_counter() - started, timings=timings, peaks=written.peaks, input_gain=input_gain, stem_gains=written.gains,
            backend=self.models.backend, precision=self.options.precision,
        )

    def _input_gain(self, job: _Job, size: int, timings: dict[str, float]) -> preprocess.Gain | None:
        """With --normalize, the input's loudness after its filters: one pass before the model sees it."""
        if self.options.normalize is None:
            return None
        self.listener.file_stage(job.source, "measure")
        tick = time.perf_counter()
        meter = preprocess.measure(self._blocks(job, size), job.channels)
        timings["decode"] += time.perf_counter() - tick
        return preprocess.loudness_gain(self.options.normalize, meter)

    def _blocks(self, job: _Job, size: int, gain: float = 1.0) -> Iterator[np.ndarray]:
        """The input's samples at the model's rate, filtered as asked, in blocks of ``size``; opened anew per pass."""
        from ..audio import codec

        with codec.AudioReader(job.source, SAMPLE_RATE, self.options.offset, self.options.duration) as reader:
            for block in preprocess.scaled(self.conditioning.apply(reader.blocks(size)), gain):
                if self.cancelled.is_set():  # the --normalize pass reads the whole file before any stage polls
                    raise Cancelled()
                yield block

    def _model(self) -> ModelBatcher:
        """The shared model, loading in the background from the first call on."""
        self.model_loaded = True
        return self.models.get(self.spec, self.store, self.options.precision, self.listener.status)


def _dbfs(peak: float) -> float | None:
    """A linear peak in dBFS, rounded; None for digital silence (JSON has no -inf)."""
    return round(20 * math.log10(peak), 2) if peak > 0 else None


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
