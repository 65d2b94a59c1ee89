"""Stems into files: encoding, peaks, --normalize-stems, tags, silence, and the stem cache.

The writer owns everything between separated audio (or a cache hit) and finished files:
each stem is encoded into a temporary beside its final name (``staging``), the input's
tags are copied, the stems are renamed into place with their provenance records, the new
stems are stored in the cache, and stems below the silence threshold are named (and with
``skip_silent`` removed). With --normalize-stems each stem first goes to a lossless float
intermediate, because its gain is known only once the whole stem has been measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AudioProcessingError
from ..models.catalog import SAMPLE_RATE
from . import preprocess, provenance, staging
from .stages import Cancelled
from .vocabulary import SeparateOptions

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Written:
    """What one input's stems came to: what the result reports."""

    outputs: dict[str, Path]  # the stems in place (without those --skip-silent removed)
    audio_duration: float = 0.0
    peaks: dict[str, float] = field(default_factory=dict)  # linear sample peak, after any stem gain; empty: unknown (old cache entry)
    gains: dict[str, preprocess.Gain] = field(default_factory=dict)  # --normalize-stems only
    silent: list[str] = field(default_factory=list)  # stems whose peak stayed below the silence threshold


class StemWriter:
    """Writes the stems of a run's inputs with the run's output options.

    ``created`` collects the output folders the writer made, for the run to remove those left
    empty at its end; ``cache`` (a CacheManager, or None) receives every stem set computed.
    """

    def __init__(
        self,
        options: SeparateOptions,
        model: str,
        instruments: Iterable[str],
        cancelled: threading.Event,
        created: list[Path],
        cache: Any = None,
    ) -> None:
        self.options = options
        self.model = model
        self.instruments = list(instruments)
        self.cancelled = cancelled
        self.created = created
        self.cache = cache
        self.silent_below = 10 ** (options.silence_threshold / 20)  # linear peak under which a stem counts as silent

    def write(
        self,
        stems: dict[str, Path],
        origin: provenance.Origin,
        audio: Iterable[dict[str, np.ndarray]],
        timings: dict[str, float],
        cache_key: str | None = None,
    ) -> Written:
        """Encode separated ``audio`` into ``stems``, adding encoding time to ``timings["encode"]``; then cache and silence."""
        with staging.staged(stems, origin, self.created) as temporaries:
            frames, peaks, gains = self._encode(temporaries, audio, timings)
            if self.options.tags:
                self._copy_tags(origin.source, temporaries)
        written = Written(dict(stems), frames / SAMPLE_RATE, peaks, gains)
        if self.cache is not None and cache_key is not None:
            files = {name: path.read_bytes() for name, path in stems.items()}
            self.cache.set_stems(cache_key, files, {"model": self.model, "audio_duration": written.audio_duration, "peaks": peaks})
        return self._silence(written)

    def write_cached(self, stems: dict[str, Path], origin: provenance.Origin, hit: Any) -> Written:
        """The stems of a cache hit, written as they were stored: no decoding, no model."""
        with staging.staged(stems, origin, self.created) as temporaries:
            for name, temporary in temporaries.items():
                temporary.write_bytes(hit.files[name])
        peaks = {str(name): float(peak) for name, peak in dict(hit.meta.get("peaks") or {}).items()}  # older entries: unknown
        return self._silence(Written(dict(stems), float(hit.meta.get("audio_duration", 0.0)), peaks))

    def _silence(self, written: Written) -> Written:
        """Name the stems that stayed below the threshold; with ``skip_silent`` remove their files.

        They are removed after the fact rather than never written, so the cache keeps every
        stem and a later run with another threshold is still a cache hit.
        """
        written.silent = [name for name, peak in written.peaks.items() if peak < self.silent_below]
        if self.options.skip_silent:
            for name in written.silent:
                provenance.remove(written.outputs.pop(name))
        return written

    def _encode(
        self, temporaries: dict[str, Path], audio: Iterable[dict[str, np.ndarray]], timings: dict[str, float]
    ) -> tuple[int, dict[str, float], dict[str, preprocess.Gain]]:
        """Frames written, peak per stem and --normalize-stems gains."""
        normalizing = self.options.normalize_stems is not None
        targets = {name: tmp.with_name(tmp.name + ".float") if normalizing else tmp for name, tmp in temporaries.items()}
        meters: dict[str, Any] = {}
        if normalizing:  # scipy.signal (the meter's filters) costs ~60 MB and a second to import: only when asked
            from ..audio.loudness import LoudnessMeter

            meters = {name: LoudnessMeter(SAMPLE_RATE, 2) for name in targets}
        frames, peaks = 0, dict.fromkeys(self.instruments, 0.0)
        gains: dict[str, preprocess.Gain] = {}
        intermediates = list(targets.values()) if normalizing else []  # the stems' own temporaries are staging's
        with staging.unfinished(intermediates):
            writers = {name: self._writer(path, float_intermediate=normalizing) for name, path in targets.items()}
            try:
                for blocks in audio:
                    if self.cancelled.is_set():
                        raise Cancelled()
                    tick = time.perf_counter()
                    for name, writer in writers.items():
                        writer.write(blocks[name])
                        if len(blocks[name]):  # max and -min rather than abs(): no chunk-sized temporary
                            peaks[name] = max(peaks[name], float(blocks[name].max()), -float(blocks[name].min()))
                        if normalizing:
                            meters[name].add(blocks[name])
                    timings["encode"] += time.perf_counter() - tick
                    frames += len(blocks[self.instruments[0]])
            finally:
                for writer in writers.values():
                    writer.close()
            if frames == 0:
                raise AudioProcessingError("no audio samples in the selected range", hint="check `offset` and `duration`")
            if normalizing:
                gains = self._normalize(temporaries, targets, meters, peaks, timings)
        return frames, peaks, gains

    def _copy_tags(self, source: Path, temporaries: dict[str, Path]) -> None:
        """The input's tags onto each stem, its title naming the instrument."""
        from ..audio import tags

        found = tags.read_tags(source)
        for name, path in temporaries.items():
            tags.write_tags(path, self.options.codec, tags.stem_tags(found, name))

    def _normalize(
        self,
        temporaries: dict[str, Path],
        intermediates: dict[str, Path],
        meters: dict[str, Any],
        peaks: dict[str, float],
        timings: dict[str, float],
    ) -> dict[str, preprocess.Gain]:
        """Encode each float intermediate at the gain that brings it to --normalize-stems; silent stems stay as they are."""
        target = self.options.normalize_stems
        assert target is not None
        gains: dict[str, preprocess.Gain] = {}
        tick = time.perf_counter()
        for name, temporary in temporaries.items():
            if self.cancelled.is_set():
                raise Cancelled()
            meter = meters[name]
            gain = preprocess.Gain(meter.integrated()) if peaks[name] < self.silent_below else preprocess.loudness_gain(target, meter)
            writer = self._writer(temporary)
            try:
                preprocess.rewrite_with_gain(intermediates[name], writer.write, gain.factor)
            finally:
                writer.close()
            peaks[name] *= gain.factor
            gains[name] = gain
        timings["encode"] += time.perf_counter() - tick
        return gains

    def _writer(self, path: Path, float_intermediate: bool = False) -> Any:
        from ..audio import codec

        if float_intermediate:
            return codec.AudioWriter(path, SAMPLE_RATE, "wav", None, 32)
        rate = self.options.sample_rate
        writer = codec.AudioWriter(path, rate, self.options.codec, self.options.bitrate, self.options.bit_depth)
        return writer if rate == SAMPLE_RATE else _Resampling(writer, rate)


class _Resampling:
    """An AudioWriter fed at the model's rate that writes at ``rate`` (``audio.default_sample_rate``), block by block."""

    def __init__(self, writer: Any, rate: int) -> None:
        from ..audio.dsp import StreamResampler

        self._writer = writer
        self._resampler: StreamResampler | None = StreamResampler(SAMPLE_RATE, rate)

    def write(self, block: np.ndarray) -> None:
        assert self._resampler is not None, "write after close"
        self._writer.write(self._resampler.process(block))

    def close(self) -> None:
        """Flush the resampler's tail, then finish the file; idempotent, like AudioWriter's."""
        import numpy as np

        resampler, self._resampler = self._resampler, None
        try:
            if resampler is not None:
                self._writer.write(resampler.process(np.zeros((0, 2), dtype=np.float32), last=True))
        finally:
            self._writer.close()
