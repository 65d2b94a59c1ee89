"""Conditioning around the model: high-pass, noise reduction and loudness of the input, loudness of the stems.

Everything streams, like the separation itself: the input passes through the filters block by
block, and loudness is measured by a meter that keeps one number per 100 ms. Normalising the
input needs its loudness before the first block reaches the model, so that costs one extra
decoding pass (the model is not involved). Gains never push a peak over full scale: a quiet
recording with one loud transient is brought up as far as that transient allows, and the
result says so (``limited``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..models.catalog import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np

    from ..audio.loudness import LoudnessMeter

BLOCK = 1 << 16  # frames per block when re-reading a stem for its gain


@dataclass(frozen=True)
class Gain:
    """A loudness correction: what was measured, the linear factor applied, and whether peaks capped it."""

    measured_lufs: float | None
    factor: float = 1.0
    limited: bool = False

    @property
    def db(self) -> float:
        return round(20 * math.log10(self.factor), 2)

    def to_json(self) -> dict[str, object]:
        measured = self.measured_lufs if self.measured_lufs is not None and math.isfinite(self.measured_lufs) else None
        return {"measured_lufs": None if measured is None else round(measured, 2), "gain_db": self.db, "limited": self.limited}


def loudness_gain(target_lufs: float, meter: LoudnessMeter) -> Gain:
    """The gain that brings ``meter``'s signal to ``target_lufs``, capped so its peak stays at or below 1.0."""
    from ..audio.loudness import gain_to

    measured_lufs, peak = meter.integrated(), meter.peak
    factor = gain_to(meter, target_lufs)
    if peak > 0 and factor * peak > 1.0:
        return Gain(measured_lufs, 1.0 / peak if factor > 1.0 / peak else factor, limited=True)
    return Gain(measured_lufs, factor)


@dataclass(frozen=True)
class InputConditioning:
    """High-pass and noise reduction of the input, in that order (rumble would otherwise count as noise)."""

    highpass_hz: float | None = None
    denoise: float = 0.0  # strength, noisereduce's prop_decrease; 0: off

    def apply(self, blocks: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
        if self.highpass_hz is None and not self.denoise:
            return blocks
        from ..audio import filters

        if self.highpass_hz is not None:
            blocks = filters.highpass(blocks, SAMPLE_RATE, self.highpass_hz)
        if self.denoise:
            blocks = filters.denoise(blocks, SAMPLE_RATE, strength=self.denoise)
        return blocks


def measure(blocks: Iterable[np.ndarray], channels: int) -> LoudnessMeter:
    """A loudness meter that has seen the whole stream, in one pass."""
    from ..audio.loudness import LoudnessMeter

    meter = LoudnessMeter(SAMPLE_RATE, min(channels, 2))
    for block in blocks:
        meter.add(block)
    return meter


def scaled(blocks: Iterable[np.ndarray], factor: float) -> Iterator[np.ndarray]:
    if factor == 1.0:
        yield from blocks
        return
    for block in blocks:
        yield block * factor


def rewrite_with_gain(raw: Path, write: Callable[[np.ndarray], None], factor: float) -> None:
    """Copy a float WAV intermediate into the real writer, scaled; the intermediate keeps stems lossless until then."""
    import soundfile as sf

    with sf.SoundFile(raw) as source:
        for block in source.blocks(BLOCK, dtype="float32", always_2d=True):
            write(block * factor if factor != 1.0 else block)
