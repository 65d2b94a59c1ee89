"""Multichannel Wiener filtering (``--mwf``), as spleeter does it through norbert.

Spleeter runs one EM iteration of norbert's filter: soft-mask estimates give each
source a per-bin 2x2 spatial covariance ``R_j`` averaged over the *whole* track,
then every time-frequency point is filtered with ``v_j R_j (sum_k v_k R_k + reg)^-1``.
``R_j`` and the global peak that norbert scales by need the whole track, so the
separator makes two passes: ``WienerStatistics`` gathers those sums chunk by chunk
(memory independent of length), ``apply`` then filters each chunk. The 2x2 algebra
is written out so it vectorises over all frames and bins at once.
"""

from __future__ import annotations

import numpy as np

EPS = float(np.finfo(np.float32).eps)  # norbert's default for complex64 input
REGULARISATION = np.sqrt(EPS)


def softmask(spectra: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """Initial source images ``v_j / (eps + sum v) * x``: (n, frames, 2, F) complex."""
    return (estimates / (EPS + estimates.sum(axis=0))) * spectra


class WienerStatistics:
    """Whole-track sums that the filter needs: peak |x| and each source's spatial covariance."""

    def __init__(self, sources: int, bins: int) -> None:
        self.peak = 0.0
        self.energy = np.zeros((sources, bins), np.float64)  # sum_t mean_c |y_j|^2
        self.cov = np.zeros((sources, 3, bins), np.complex128)  # sum_t y y^H: entries 00, 11, 01

    def add(self, spectra: np.ndarray, estimates: np.ndarray) -> None:
        """``spectra``: (frames, 2, BINS) mixture; ``estimates``: (n, frames, 2, F) magnitudes."""
        bins = estimates.shape[-1]
        self.peak = max(self.peak, float(np.abs(spectra).max(initial=0.0)))
        y = softmask(spectra[:, :, :bins], estimates)
        power = (y.real**2 + y.imag**2).astype(np.float64)
        self.energy += power.mean(axis=2).sum(axis=1)
        self.cov[:, 0] += power[:, :, 0].sum(axis=1)
        self.cov[:, 1] += power[:, :, 1].sum(axis=1)
        self.cov[:, 2] += (y[:, :, 0] * np.conj(y[:, :, 1])).sum(axis=1)

    def apply(self, spectra: np.ndarray, estimates: np.ndarray) -> np.ndarray:
        """Filtered source spectra (n, frames, 2, F) for one chunk."""
        bins = estimates.shape[-1]
        scale = max(1.0, self.peak / 10.0)  # norbert rescales so the regularisation is relative
        x = spectra[:, :, :bins] / scale
        y = softmask(spectra[:, :, :bins], estimates) / scale
        v = (y.real**2 + y.imag**2).mean(axis=2)  # (n, frames, F)
        weight = EPS + self.energy / scale**2
        r00, r11, r01 = (self.cov[:, k] / scale**2 / weight for k in range(3))  # (n, F)
        # Mixture covariance C = sum_j v_j R_j + reg I, per frame and bin.
        c00 = np.einsum("jtf,jf->tf", v, r00.real) + REGULARISATION
        c11 = np.einsum("jtf,jf->tf", v, r11.real) + REGULARISATION
        c01 = np.einsum("jtf,jf->tf", v, r01)
        c10 = np.conj(c01)
        det = c00 * c11 - c01 * c10
        i00, i11, i01, i10 = c11 / det, c00 / det, -c01 / det, -c10 / det
        r10 = np.conj(r01)
        out = np.empty_like(y)
        for j in range(len(v)):
            # Gain G = v_j R_j C^-1, then y_j = G x.
            g00 = r00[j] * i00 + r01[j] * i10
            g01 = r00[j] * i01 + r01[j] * i11
            g10 = r10[j] * i00 + r11[j] * i10
            g11 = r10[j] * i01 + r11[j] * i11
            out[j, :, 0] = v[j] * (g00 * x[:, 0] + g01 * x[:, 1])
            out[j, :, 1] = v[j] * (g10 * x[:, 0] + g11 * x[:, 1])
        return (out * scale).astype(np.complex64)
