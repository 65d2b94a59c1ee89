"""One run: plan -> (cache hit | decode -> separate -> write) -> record.

Everything that can be checked without the model (options, inputs, output paths) is checked
first, so a typo fails in milliseconds. Then each input, on one of ``jobs`` threads: skipped
when its stems' provenance says it is done (resume), written straight from the cache on a
hit, else decoded, separated by the shared model (which loads in the background while the
first chunk decodes) and written; its result goes to the listener. A failing input is
reported without stopping the others; a stopped run (Ctrl-C, a signal) starts nothing new.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..audio import formats
from ..errors import AudioProcessingError, SplError, Unfinished, escaped_error
from ..limits import InputLimits
from ..models.backend import check_precision
from ..models.catalog import SAMPLE_RATE
from ..models.store import ModelManager
from . import preprocess, provenance, staging
from .loader import ModelPool
from .planning import PlannedInput, plan_inputs
from .stages import Cancelled
from .vocabulary import FileResult, Listener, SeparateOptions, check_options
from .writer import StemWriter, Written

if TYPE_CHECKING:  # decoding and the model are imported only when a file misses the cache
    import numpy as np

    from .batcher import ModelBatcher

STOP_GRACE = 1.0  # seconds a stopped run waits for its files in progress to clean up after themselves
_POLL = 0.1  # seconds between the waiting thread's wake-ups


@dataclass
class _Job:
    plan: PlannedInput
    origin: provenance.Origin
    duration: float = 0.0  # seconds to separate, known once the file is probed
    channels: int = 2  # the file's own channel count, known once probed (loudness of mono is measured on one)

    @property
    def source(self) -> Path:
        return self.plan.source


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
        settings: Any = None,
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
        self.models = models or (ModelPool.from_settings(settings) if settings is not None else ModelPool(enable_gpu, backend))
        check_precision(options.precision, self.models.backend)
        self.model_loaded = False  # whether this run needed the model at all (all cached or skipped: no)
        self._weights_digest: str | None = None
        self._created_folders: list[Path] = []  # output folders this run made; the empty ones go at the end
        self.writer = StemWriter(options, self.spec.full_name, self.spec.instruments, self.cancelled, self._created_folders, cache)

    def run(self, inputs: Sequence[Path], destinations: Sequence[Path] | None = None) -> list[FileResult]:
        """Separate ``inputs``; ``destinations`` (one output dir per input) default to the run's."""
        planned = [self._admitted(plan) for plan in self._plan(inputs, destinations)]
        jobs = [job for job in planned if isinstance(job, _Job)]
        if jobs:
            self.store.ensure(self.spec.name, on_status=self.listener.status)
            self._weights_digest = self.store.weights_digest(self.spec.name) if self.cache else None
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="spl-file")
        done: dict[int, Future[FileResult]] = {}
        stopped = False
        try:
            done.update((id(job), pool.submit(self._process, job)) for job in jobs)
            results = [p if isinstance(p, FileResult) else _waited(done[id(p)]) for p in planned]
        except BaseException:  # Ctrl-C, a signal, a closed stdout
            stopped = True
            self._stop(pool, done.values())
            raise
        finally:
            pool.shutdown(wait=not stopped)
            staging.remove_if_empty(self._created_folders)
            if self._own_models:
                self.models.close(wait=not stopped)
        return results

    def _plan(self, inputs: Sequence[Path], destinations: Sequence[Path] | None) -> list[PlannedInput | SplError]:
        """Cheap checks only; decoding a file is left to its thread, and only on a cache miss."""

        def admit(source: Path) -> None:
            formats.check_file(source)
            self.limits.check_file(source)

        return plan_inputs(
            inputs,
            destinations or [self.output_dir] * len(inputs),
            self.options.filename_format,
            self.spec.instruments,
            self.options.codec,
            admit,
            refuse_existing=self.options.existing == "refuse",
        )

    def _admitted(self, plan: PlannedInput | SplError) -> _Job | FileResult:
        if isinstance(plan, SplError):
            return self._failed(Path(str(plan.context.get("path", "?"))), plan, 0.0)
        try:
            return _Job(plan, provenance.Origin.of(plan.source, self.spec.full_name, self.options.cache_fields()))
        except OSError as error:
            return self._failed(plan.source, escaped_error(plan.source, error), 0.0)

    def _stop(self, pool: ThreadPoolExecutor, futures: Iterable[Future[FileResult]]) -> None:
        """Start no file, and give those in progress ``STOP_GRACE`` seconds to remove their temporaries.

        They notice within a tenth of a second unless inside a call that cannot be interrupted;
        nothing waits longer than that (the model may still be loading). A temporary left behind
        is removed by the process's exit (``staging.remove_unfinished``) or by the next run.
        """
        self.cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        wait([future for future in futures if not future.cancelled()], timeout=STOP_GRACE)  # a cancelled one never counts as done

    def _process(self, job: _Job) -> FileResult:
        """One input, start to finish: skip, cache hit or separation; its result goes to the listener."""
        started = time.perf_counter()
        try:
            result = self._outcome(job, started)
        except BrokenPipeError:  # stdout's reader left: the run stops (exit 141), see cli.runs
            raise
        except SplError as error:
            return self._failed(job.source, error, started)
        except Cancelled:
            return self._failed(job.source, Unfinished("stopped before it finished: the run was stopped"), started)
        except OSError as error:  # one odd path fails its input, not the run
            return self._failed(job.source, escaped_error(job.source, error), started)
        self.listener.file_finished(result)
        return result

    def _outcome(self, job: _Job, started: float) -> FileResult:
        if self.cancelled.is_set():
            raise Unfinished("not started: the run was stopped")
        stems = job.plan.stems
        staging.remove_stale_parts(stems.values())
        if self.options.existing == "skip" and provenance.is_done(stems.values(), job.origin):
            return FileResult(job.source, self.spec.full_name, status="skipped", outputs=stems)
        key = self._cache_key(job)
        hit = self.cache.get_stems(key) if key else None
        if hit is not None:
            self.listener.file_stage(job.source, "cached")
            self.limits.check_duration(job.source, float(hit.meta.get("audio_duration", 0.0)))
            return self._result(job, self.writer.write_cached(stems, job.origin, hit), started, cache=hit.tier)
        self.limits.check_memory(job.source)  # before this input decodes anything
        self._probe(job)
        timings = {"decode": 0.0, "separate": 0.0, "encode": 0.0}  # busy time per stage; stages overlap
        audio, input_gain = self._separated(job, timings)
        self.listener.file_stage(job.source, "separate")
        written = self.writer.write(stems, job.origin, audio, timings, key)
        return self._result(
            job, written, started, timings=timings, input_gain=input_gain, backend=self.models.backend, precision=self.options.precision
        )

    def _result(self, job: _Job, written: Written, started: float, **details: Any) -> FileResult:
        return FileResult(
            job.source,
            self.spec.full_name,
            outputs=written.outputs,
            audio_duration=written.audio_duration,
            wall_time=time.perf_counter() - started,
            peaks=written.peaks,
            silent=written.silent,
            stem_gains=written.gains,
            **details,
        )

    def _failed(self, source: Path, error: SplError, started: float) -> FileResult:
        """Report a failed input; with --fail-fast, nothing new starts after it."""
        if self.fail_fast:
            self.cancelled.set()
        error.context.setdefault("path", str(source))
        result = FileResult(
            source, self.spec.full_name, status="failed", error=error, wall_time=time.perf_counter() - started if started else 0.0
        )
        self.listener.file_finished(result)
        return result

    def _cache_key(self, job: _Job) -> str | None:
        if self.cache is None or self._weights_digest is None:
            return None
        from ..cache.keys import cache_key

        return cache_key(job.origin.sha256, self.spec.full_name, self._weights_digest, self.options.cache_fields(), __version__)

    # Decode -> separate: the stems as a stream of blocks, computed as the writer consumes them.

    def _probe(self, job: _Job) -> None:
        """Open the file as audio (a bad file fails here, before the model is needed)."""
        from ..audio import codec

        info = codec.probe(job.source)
        if self.options.offset > 0 and self.options.offset >= info.duration:
            raise AudioProcessingError(
                formats.past_the_end(self.options.offset, info.duration), hint="use a smaller `offset`", path=str(job.source)
            )
        job.duration = max(0.0, min(info.duration - self.options.offset, self.options.duration or float("inf")))
        job.channels = info.channels
        self.limits.check_duration(job.source, job.duration)

    def _separated(self, job: _Job, timings: dict[str, float]) -> tuple[Iterator[dict[str, np.ndarray]], preprocess.Gain | None]:
        """The stems of ``job`` as a lazy stream of blocks, and the input's --normalize gain."""
        model = self._model()  # start loading first: the imports below then overlap the runtime's
        from .separator import Separator

        separator = Separator(model, cancelled=self.cancelled, turns=self.models.turns)
        self.listener.file_started(job.source, job.duration)
        input_gain = self._input_gain(job, separator.chunk_samples, timings)
        factor = input_gain.factor if input_gain else 1.0
        open_blocks = lambda: _timed(self._blocks(job, separator.chunk_samples, factor), timings, "decode")  # noqa: E731
        progress = lambda n: self.listener.file_progress(job.source, n / SAMPLE_RATE)  # noqa: E731
        stems = separator.stream_wiener(open_blocks, progress) if self.options.mwf else separator.stream(open_blocks(), progress)
        return _timed(stems, timings, "separate"), input_gain

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


def _waited(future: Future[FileResult]) -> FileResult:
    """The input's result, waited for in short naps: a signal delivered to another thread does not wake a thread
    blocked on a lock, and Python runs signal handlers only in the main thread, which must therefore keep waking."""
    while True:
        try:
            return future.result(timeout=_POLL)
        except TimeoutError:
            continue


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
