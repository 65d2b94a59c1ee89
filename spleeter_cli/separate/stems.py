"""Stems into files: one writer per instrument, their peaks, --normalize-stems, and the input's tags.

The pipeline hands over a stream of ``{instrument: block}`` dicts and the temporary paths to
fill; what comes back is what the result reports (frames written, peak and gain per stem).
With --normalize-stems each stem first goes to a lossless float intermediate, because its
gain is known only once the whole stem has been measured.
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
from . import outputs, preprocess
from .stages import Cancelled

if TYPE_CHECKING:
    import numpy as np

    from .pipeline import SeparateOptions


@dataclass
class StemsWritten:
    frames: int = 0
    peaks: dict[str, float] = field(default_factory=dict)  # linear sample peak, after any stem gain
    gains: dict[str, preprocess.Gain] = field(default_factory=dict)  # --normalize-stems only


class StemWriter:
    """Writes the stems of one input with the run's output options."""

    def __init__(self, options: SeparateOptions, instruments: Iterable[str], cancelled: threading.Event) -> None:
        self.options = options
        self.instruments = list(instruments)
        self.cancelled = cancelled

    def write(self, temporaries: dict[str, Path], stems: Iterable[dict[str, np.ndarray]], timings: dict[str, float]) -> StemsWritten:
        """Encode ``stems`` into ``temporaries``, adding encoding time to ``timings["encode"]``."""
        normalizing = self.options.normalize_stems is not None
        targets = {name: tmp.with_name(tmp.name + ".float") if normalizing else tmp for name, tmp in temporaries.items()}
        meters: dict[str, Any] = {}
        if normalizing:  # scipy.signal (the meter's filters) costs ~60 MB and a second to import: only when asked
            from ..audio.loudness import LoudnessMeter

            meters = {name: LoudnessMeter(SAMPLE_RATE, 2) for name in targets}
        written = StemsWritten(peaks=dict.fromkeys(self.instruments, 0.0))
        intermediates = list(targets.values()) if normalizing else []  # the stems' own temporaries are the caller's
        with outputs.unfinished(intermediates):
            writers = {name: self._writer(path, float_intermediate=normalizing) for name, path in targets.items()}
            try:
                for blocks in stems:
                    if self.cancelled.is_set():
                        raise Cancelled()
                    tick = time.perf_counter()
                    for name, writer in writers.items():
                        writer.write(blocks[name])
                        if len(blocks[name]):  # max and -min rather than abs(): no chunk-sized temporary
                            written.peaks[name] = max(written.peaks[name], float(blocks[name].max()), -float(blocks[name].min()))
                        if normalizing:
                            meters[name].add(blocks[name])
                    timings["encode"] += time.perf_counter() - tick
                    written.frames += len(blocks[self.instruments[0]])
            finally:
                for writer in writers.values():
                    writer.close()
            if written.frames == 0:
                raise AudioProcessingError("no audio samples in the selected range", hint="check --offset and --duration")
            if normalizing:
                written.gains = self._normalize(temporaries, targets, meters, written.peaks, timings)
        return written

    def copy_tags(self, source: Path, temporaries: dict[str, Path]) -> None:
        """The input's tags onto each stem, its title naming the instrument."""
        from ..audio import tags

        found = tags.read_tags(source)
        for name, path in temporaries.items():
            tags.write_tags(path, self.options.codec, tags.stem_tags(found, name))

    def _normalize(self, temporaries: dict[str, Path], intermediates: dict[str, Path], meters: dict[str, Any],
                   peaks: dict[str, float], timings: dict[str, float]) -> dict[str, preprocess.Gain]:
        """Encode each float intermediate at the gain that brings it to --normalize-stems; silent stems stay as they are."""
        target = self.options.normalize_stems
        assert target is not None
        silent_below = 10 ** (self.options.silence_threshold / 20)
        gains: dict[str, preprocess.Gain] = {}
        tick = time.perf_counter()
        for name, temporary in temporaries.items():
            if self.cancelled.is_set():
                raise Cancelled()
            meter = meters[name]
            gain = preprocess.Gain(meter.integrated()) if peaks[name] < silent_below else preprocess.loudness_gain(target, meter)
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
        return codec.AudioWriter(path, SAMPLE_RATE, self.options.codec, self.options.bitrate, self.options.bit_depth)
