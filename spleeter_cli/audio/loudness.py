"""Streaming integrated loudness (ITU-R BS.1770-4 / EBU R128) for inputs of any length.

BS.1770 gates 400 ms blocks that overlap by 75 %, so every block is four consecutive 100 ms
sub-blocks. The meter K-weights each incoming block (filter state carried across blocks), keeps
one float per completed 100 ms sub-block (the channel-summed energy) and forms the gating blocks
only when asked: memory is O(duration / 100 ms) floats, not O(samples), so a 30-minute file
costs ~18 000 floats.
"""

from __future__ import annotations

import math
from array import array

import numpy as np
from scipy.signal import sosfilt

MIN_RATE = 8000  # below this the K-weighting shelf (~1.7 kHz) approaches Nyquist and the curve is meaningless
ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the absolute-gated loudness
_SUB_BLOCKS = 4  # 100 ms sub-blocks per 400 ms gating block (75 % overlap)
_OFFSET = -0.691  # BS.1770 constant that makes a 997 Hz full-scale sine in one channel read -3.01 LUFS

# Analogue prototypes of the two K-weighting stages, fitted so that the bilinear transform at
# 48 kHz reproduces BS.1770's published coefficients; re-deriving them per rate keeps the curve
# the same at 44.1 kHz, 22.05 kHz, ... instead of reusing 48 kHz taps at the wrong rate.
_SHELF_HZ, _SHELF_DB, _SHELF_Q, _SHELF_BAND_EXP = 1681.974450955533, 3.999843853973347, 0.7071752369554196, 0.4996667741545416
_HIGHPASS_HZ, _HIGHPASS_Q = 38.13547087602444, 0.5003270373238773


def k_weighting(rate: int) -> np.ndarray:
    """The K-weighting filter (high shelf, then high-pass) as second-order sections for ``rate``."""
    return np.vstack([_shelf(rate), _highpass(rate)])


def _shelf(rate: int) -> np.ndarray:
    """Stage 1: +4 dB shelf above ~1.7 kHz that models the head's acoustic effect."""
    k = math.tan(math.pi * _SHELF_HZ / rate)
    gain = 10 ** (_SHELF_DB / 20)
    band = gain**_SHELF_BAND_EXP
    a0 = 1 + k / _SHELF_Q + k * k
    b = [(gain + band * k / _SHELF_Q + k * k) / a0, 2 * (k * k - gain) / a0, (gain - band * k / _SHELF_Q + k * k) / a0]
    a = [1.0, 2 * (k * k - 1) / a0, (1 - k / _SHELF_Q + k * k) / a0]
    return np.array([*b, *a])


def _highpass(rate: int) -> np.ndarray:
    """Stage 2: the 'RLB' high-pass near 38 Hz that discounts low bass."""
    k = math.tan(math.pi * _HIGHPASS_HZ / rate)
    a0 = 1 + k / _HIGHPASS_Q + k * k
    a = [1.0, 2 * (k * k - 1) / a0, (1 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([1.0, -2.0, 1.0, *a])


class LoudnessMeter:
    """Feed blocks in order with ``add``; ``integrated()`` may be read at any time.

    ``channels`` is what the signal really has (1 or 2): a mono signal that arrives as two
    identical columns (the decoder always yields stereo) is measured on its first column only,
    since summing both would read 3 LU too loud. All channels weigh 1.0 (BS.1770's L/R/C weight).
    """

    def __init__(self, rate: int, channels: int) -> None:
        if rate < MIN_RATE:
            raise ValueError(f"loudness needs a sample rate of at least {MIN_RATE} Hz, not {rate}")
        if channels not in (1, 2):
            raise ValueError(f"loudness is measured on 1 or 2 channels, not {channels}")
        self.rate = rate
        self.channels = channels
        self.frames = 0
        self.peak = 0.0  # sample peak (linear) of the measured channels
        self._sos = k_weighting(rate)
        self._zi = np.zeros((len(self._sos), 2, channels))
        self._sub_energy = array("d")  # channel-summed K-weighted energy of each completed 100 ms sub-block
        self._partial = 0.0  # energy of the sub-block being filled
        self._filled = 0  # samples in it so far

    def add(self, block: np.ndarray) -> None:
        """Measure the next ``(n, channels)`` block (``(n,)`` for mono; extra columns of a mono signal ignored)."""
        samples = self._columns(block)
        if not len(samples):
            return
        self.frames += len(samples)
        self.peak = max(self.peak, float(np.max(np.abs(samples))))
        weighted, self._zi = sosfilt(self._sos, samples, axis=0, zi=self._zi)
        self._accumulate(np.sum(weighted * weighted, axis=1))

    def integrated(self, gain: float = 1.0) -> float | None:
        """Gated integrated loudness in LUFS; None before one full 400 ms block, -inf if all of it is gated.

        ``gain`` gives the loudness the signal would have if scaled by it: not simply 20·log10(gain)
        more, because the fixed -70 LUFS gate then lets in (or shuts out) quiet blocks.
        """
        blocks = self._block_power()
        if blocks is None:
            return None
        blocks = blocks * (gain * gain)
        with np.errstate(divide="ignore"):
            loudness = _OFFSET + 10 * np.log10(blocks)
        above_absolute = blocks[loudness > ABSOLUTE_GATE]
        if not len(above_absolute):
            return -math.inf
        relative = _OFFSET + 10 * math.log10(float(np.mean(above_absolute))) + RELATIVE_GATE
        kept = blocks[(loudness > ABSOLUTE_GATE) & (loudness > relative)]
        return _OFFSET + 10 * math.log10(float(np.mean(kept)))

    def _columns(self, block: np.ndarray) -> np.ndarray:
        """The block as float64 ``(n, channels)``: the precision keeps long sums of squares exact enough."""
        samples = np.asarray(block, dtype=np.float64)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] < self.channels or (self.channels == 2 and samples.shape[1] != 2):
            raise ValueError(f"expected blocks of shape (n, {self.channels}), got {np.shape(block)}")
        return samples[:, : self.channels]

    def _boundary(self, index: int) -> int:
        """First sample of 100 ms sub-block ``index``; integer maths so rates like 11025 Hz never drift."""
        return index * self.rate // 10

    def _accumulate(self, energy: np.ndarray) -> None:
        """Split per-sample energy over the 100 ms sub-blocks it falls in, closing each one as it fills."""
        position = 0
        while position < len(energy):
            index = len(self._sub_energy)
            length = self._boundary(index + 1) - self._boundary(index)
            take = min(length - self._filled, len(energy) - position)
            self._partial += float(np.sum(energy[position : position + take]))
            self._filled += take
            position += take
            if self._filled == length:
                self._sub_energy.append(self._partial)
                self._partial, self._filled = 0.0, 0

    def _block_power(self) -> np.ndarray | None:
        """Mean square (summed over channels) of every complete 400 ms gating block, or None if there is none."""
        count = len(self._sub_energy) - _SUB_BLOCKS + 1
        if count < 1:
            return None
        energy = np.array(self._sub_energy)  # a copy: a buffer view would stop the array from growing
        bounds = np.arange(len(energy) + 1, dtype=np.int64) * self.rate // 10
        lengths = bounds[_SUB_BLOCKS:] - bounds[:count]
        return np.convolve(energy, np.ones(_SUB_BLOCKS), mode="valid") / lengths


def gain_to(meter: LoudnessMeter, target_lufs: float, tolerance: float = 0.005) -> float:
    """The linear gain after which ``meter``'s signal reads ``target_lufs``.

    Scaling shifts every block by the same amount, but blocks crossing the absolute gate join or
    leave the average, so a quiet stem brought up 20 dB can land 0.1-0.2 LU short of a one-step
    correction. A few fixed-point steps on the recorded block powers settle it.
    """
    gain = gain_for(target_lufs, meter.integrated())
    for _ in range(8):
        reached = meter.integrated(gain)
        if reached is None or not math.isfinite(reached) or abs(reached - target_lufs) < tolerance:
            break
        gain *= gain_for(target_lufs, reached)
    return gain


def gain_for(target_lufs: float, measured_lufs: float | None) -> float:
    """Linear gain that moves ``measured_lufs`` to ``target_lufs``, ignoring the absolute gate (see ``gain_to``).

    An unmeasurable input (None: under 400 ms; -inf: silence or all gated) gets 1.0: there is no
    level to match, and an infinite gain would only amplify nothing.
    """
    if measured_lufs is None or not math.isfinite(measured_lufs):
        return 1.0
    return float(10 ** ((target_lufs - measured_lufs) / 20))
