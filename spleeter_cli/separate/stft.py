"""Spleeter's STFT and its inverse in NumPy/SciPy, chunk by chunk.

Matches ``tf.signal.stft``/``inverse_stft`` as spleeter calls them (periodic
Hann window, frame 4096, hop 1024, inverse scaled by 2/3) but runs on pocketfft,
where spleeter spent most of its non-model time in TensorFlow. The inverse is an
overlap-add that carries the last ``frame - hop`` samples over to the next
chunk, so chunked output equals whole-signal output exactly.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from ..models.catalog import FRAME_LENGTH, FRAME_STEP

BINS = FRAME_LENGTH // 2 + 1
OVERLAP = FRAME_LENGTH - FRAME_STEP
WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH) / FRAME_LENGTH)).astype(np.float32)
# Sum of squared periodic Hann windows at 75 % overlap is 1.5: spleeter's compensation.
WINDOW_COMPENSATION = np.float32(2.0 / 3.0)
_SYNTHESIS_WINDOW = WINDOW * WINDOW_COMPENSATION
# One thread per transform: the pipeline already runs the STFT, the U-Nets and the inverse STFT of
# several chunks side by side, and pocketfft's own threads only added synchronisation on 2 busy cores.
FFT_WORKERS = 1


def frames_covering(samples: int) -> int:
    """Frames ``tf.signal.stft(..., pad_end=True)`` produces for a signal of this length."""
    return -(-samples // FRAME_STEP)


def stft(samples: np.ndarray, n_frames: int) -> np.ndarray:
    """(>= (n_frames-1)*hop + frame, 2) float32 -> (n_frames, 2, BINS) complex64."""
    frames = sliding_window_view(samples, FRAME_LENGTH, axis=0)[: (n_frames - 1) * FRAME_STEP + 1 : FRAME_STEP]
    return scipy.fft.rfft(frames * WINDOW, axis=-1, workers=FFT_WORKERS)


class OverlapAdd:
    """Streaming inverse STFT: feed spectra chunk by chunk, get finished samples back."""

    def __init__(self) -> None:
        self._carry = np.zeros((2, OVERLAP), np.float32)

    def push(self, spectra: np.ndarray) -> np.ndarray:
        """(frames, 2, BINS) complex -> (frames * hop, 2) float32 samples now final."""
        n = len(spectra)
        frames = scipy.fft.irfft(spectra, n=FRAME_LENGTH, axis=-1, workers=FFT_WORKERS)
        frames *= _SYNTHESIS_WINDOW
        # Frame i lands at [i*hop, i*hop + frame): sum its four hop-sized quarters. Summed channel-first,
        # where every addition is over contiguous memory; transposed once at the end.
        quarters = frames.reshape(n, 2, FRAME_LENGTH // FRAME_STEP, FRAME_STEP)
        out = np.zeros((2, n * FRAME_STEP + OVERLAP), np.float32)
        view = out.reshape(2, -1, FRAME_STEP)
        for q in range(FRAME_LENGTH // FRAME_STEP):
            view[:, q : q + n] += quarters[:, :, q, :].transpose(1, 0, 2)
        out[:, :OVERLAP] += self._carry
        self._carry = out[:, -OVERLAP:].copy()
        return np.ascontiguousarray(out[:, :-OVERLAP].T)

    def flush(self) -> np.ndarray:
        """The samples still pending after the last frame."""
        carry, self._carry = self._carry, np.zeros((2, OVERLAP), np.float32)
        return np.ascontiguousarray(carry.T)
