"""Streaming DSP blocks behind --normalize, --highpass and --denoise, on real music and synthetic signals.

Every streamed result is compared with an independent whole-signal computation (pyloudnorm,
scipy's sosfilt, noisereduce over the whole array) for random block splits.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pyloudnorm
import pytest
from conftest import RATE, read_reference, song
from scipy.signal import butter, resample_poly, sosfilt

from spleeter_cli.audio.filters import denoise, highpass
from spleeter_cli.audio.loudness import LoudnessMeter, gain_for, gain_to, k_weighting
from spleeter_cli.errors import ValidationError


def _splits(signal: np.ndarray, seed: int, low: int = 1, high: int = 30000) -> list[np.ndarray]:
    """``signal`` cut at random points (tiny and empty blocks included), as a pipeline might deliver it."""
    rng = np.random.default_rng(seed)
    blocks, start = [], 0
    while start < len(signal):
        size = int(rng.integers(low, high))
        if rng.random() < 0.05:
            size = int(rng.integers(0, 3))
        blocks.append(signal[start : start + size])
        start += size
    return blocks


def _music(rate: int) -> np.ndarray:
    """Spleeter's example song (peaks above full scale), at ``rate``."""
    samples = read_reference("audio_example", "input")[: 15 * RATE]
    return samples if rate == RATE else resample_poly(samples, rate // 300, RATE // 300, axis=0).astype(np.float32)


def _noise(rate: int, seconds: float, seed: int, level: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((round(seconds * rate), 2)) * level).astype(np.float32)


def _measure(blocks: list[np.ndarray], rate: int, channels: int = 2) -> LoudnessMeter:
    meter = LoudnessMeter(rate, channels)
    for block in blocks:
        meter.add(block)
    return meter


def _db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(np.asarray(samples, np.float64) ** 2)))


def _snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64)
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2)))


# --- loudness -----------------------------------------------------------------------------------


def test_k_weighting_reproduces_the_bs1770_coefficients_at_48k() -> None:
    """ITU-R BS.1770-4 tables 1 and 2 give the two stages only at 48 kHz; the derivation must land on them."""
    shelf = [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585]
    rlb = [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]
    np.testing.assert_allclose(k_weighting(48000), [shelf, rlb], atol=1e-10)


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("kind", ["music", "noise"])
def test_streamed_loudness_matches_pyloudnorm(rate: int, kind: str) -> None:
    signal = _music(rate) if kind == "music" else _noise(rate, 8.0, seed=rate)
    expected = pyloudnorm.Meter(rate).integrated_loudness(signal.astype(np.float64))
    whole = _measure([signal], rate).integrated()
    for seed in range(3):
        meter = _measure(_splits(signal, seed), rate)
        assert meter.integrated() == pytest.approx(whole, abs=1e-9)  # the split never matters
        assert meter.frames == len(signal)
        assert meter.peak == pytest.approx(float(np.max(np.abs(signal))))
    assert whole == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_reference_sine_reads_minus_3_01_lufs(rate: int) -> None:
    """BS.1770's calibration: a full-scale 997 Hz sine in one channel of stereo is -3.01 LUFS."""
    tone = np.sin(2 * np.pi * 997 * np.arange(3 * rate) / rate)
    meter = _measure([np.stack([tone, np.zeros_like(tone)], axis=1)], rate)
    assert meter.integrated() == pytest.approx(-3.01, abs=0.01)


def test_mono_is_measured_on_one_channel() -> None:
    mono = song(6.0, seed=2)[:, 0]
    expected = pyloudnorm.Meter(RATE).integrated_loudness(mono.astype(np.float64))
    duplicated = np.stack([mono, mono], axis=1)  # how the decoder delivers a mono file
    as_mono = _measure(_splits(duplicated, seed=5), RATE, channels=1).integrated()
    as_column = _measure([mono], RATE, channels=1).integrated()
    as_stereo = _measure([duplicated], RATE, channels=2).integrated()
    assert as_mono == pytest.approx(as_column, abs=1e-9)
    assert as_mono == pytest.approx(expected, abs=0.1)
    assert as_stereo - as_mono == pytest.approx(10 * math.log10(2), abs=0.01)  # what summing both would add


def test_undefined_and_silent_loudness() -> None:
    block = int(0.4 * RATE)
    signal = _noise(RATE, 1.0, seed=3)
    assert _measure([signal[: block - 1]], RATE).integrated() is None
    assert math.isfinite(_measure(_splits(signal[:block], seed=1, high=5000), RATE).integrated())
    assert _measure([], RATE).integrated() is None
    assert _measure([np.zeros((RATE, 2), np.float32)], RATE).integrated() == -math.inf
    assert _measure([signal * 1e-5], RATE).integrated() == -math.inf  # about -88 LUFS: under the absolute gate


def test_relative_gate_ignores_quiet_passages() -> None:
    """Music followed by a long passage 30 dB down: the gate must drop the quiet part, as pyloudnorm does."""
    music = song(6.0, seed=1)
    signal = np.concatenate([music, music * 10 ** (-30 / 20), music * 10 ** (-30 / 20)])
    measured = _measure(_splits(signal, seed=9), RATE).integrated()
    assert measured == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(signal.astype(np.float64)), abs=0.1)
    assert measured == pytest.approx(_measure([music], RATE).integrated(), abs=0.2)


def test_gain_for_reaches_the_target() -> None:
    music = song(5.0, seed=4)
    measured = _measure([music], RATE).integrated()
    for target in (-23.0, -14.0, -30.5):
        gain = gain_for(target, measured)
        assert _measure([music * gain], RATE).integrated() == pytest.approx(target, abs=0.01)
    assert gain_for(-14.0, None) == 1.0 and gain_for(-14.0, -math.inf) == 1.0


def test_meter_rejects_what_it_cannot_measure() -> None:
    with pytest.raises(ValueError):
        LoudnessMeter(4000, 2)
    with pytest.raises(ValueError):
        LoudnessMeter(RATE, 6)
    with pytest.raises(ValueError):
        LoudnessMeter(RATE, 2).add(np.zeros((10, 1)))


# --- high-pass ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cutoff, order", [(120.0, 4), (30.0, 2), (1000.0, 6)])
def test_streamed_highpass_equals_one_sosfilt(cutoff: float, order: int) -> None:
    music = song(8.0, seed=3)
    expected = sosfilt(butter(order, cutoff, btype="highpass", fs=RATE, output="sos"), music.astype(np.float64), axis=0)
    for seed in range(3):
        blocks = _splits(music, seed)
        out = list(highpass(blocks, RATE, cutoff, order))
        assert [o.shape for o in out] == [b.shape for b in blocks]
        assert all(o.dtype == np.float32 for o in out)
        np.testing.assert_allclose(np.concatenate(out), expected, atol=1e-6, rtol=0)


def test_highpass_response() -> None:
    t = np.arange(4 * RATE) / RATE
    settled = slice(RATE, None)  # past the filter's start-up transient

    def gain_db(frequency: float) -> float:
        tone = np.repeat(np.sin(2 * np.pi * frequency * t)[:, None], 2, axis=1).astype(np.float32)
        out = np.concatenate(list(highpass(_splits(tone, seed=int(frequency)), RATE, 120.0)))
        return _db(out[settled]) - _db(tone[settled])

    assert gain_db(40.0) < -20.0
    assert abs(gain_db(1000.0)) < 0.5


@pytest.mark.parametrize("cutoff", [0.0, -5.0, 22050.0, 30000.0, float("nan"), float("inf")])
def test_highpass_rejects_a_cutoff_outside_0_to_nyquist(cutoff: float) -> None:
    with pytest.raises(ValidationError) as caught:
        highpass(iter(()), RATE, cutoff)  # raised at the call, before any block is pulled
    assert caught.value.hint and "22050" in caught.value.hint


def test_highpass_of_nothing_is_nothing() -> None:
    assert list(highpass([], RATE, 80.0)) == []


# --- denoise ------------------------------------------------------------------------------------


def _bursts(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy, clean, on): 0.1 s tone bursts once a second in steady white noise (SNR ~16 dB in a burst)."""
    t = np.arange(round(seconds * RATE)) / RATE
    on = (t % 1.0) < 0.1
    tone = 0.5 * np.sin(2 * np.pi * 440 * t) * on
    clean = np.stack([tone, 0.7 * tone], axis=1)
    noisy = (clean + np.random.default_rng(seed).standard_normal(clean.shape) * 0.05).astype(np.float32)
    return noisy, clean, on


def _whole(signal: np.ndarray) -> np.ndarray:
    """noisereduce over the whole array in one piece (no internal chunking), as ``(n, channels)``."""
    import noisereduce

    return noisereduce.reduce_noise(y=signal.T.astype(np.float64), sr=RATE, stationary=False, chunk_size=None).T


def _scale_and_sisdr(clean: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    """(how much of ``clean`` the estimate carries, scale-invariant SDR in dB)."""
    reference, estimate = clean.ravel(), np.asarray(estimate, np.float64).ravel()
    scale = float(np.dot(estimate, reference) / np.dot(reference, reference))
    return scale, _snr(scale * reference, estimate)


def test_denoise_lowers_the_noise_floor_and_keeps_the_bursts() -> None:
    noisy, clean, _ = _bursts(8.0, seed=1)
    blocks = _splits(noisy, seed=2, low=20000, high=120000)
    out = list(denoise(blocks, RATE, segment_seconds=3.0))
    assert [o.shape for o in out] == [b.shape for b in blocks] and all(o.dtype == np.float32 for o in out)
    denoised = np.concatenate(out)
    t = np.arange(len(noisy)) / RATE
    gaps = ((t % 1.0) > 0.2) & ((t % 1.0) < 0.95)  # noise only, clear of the bursts' smearing
    assert _db(noisy[gaps]) - _db(denoised[gaps]) >= 15.0  # measured 28.5-28.8 dB over four splits
    _, sisdr_in = _scale_and_sisdr(clean, noisy)
    scale_out, sisdr_out = _scale_and_sisdr(clean, denoised)
    assert sisdr_out - sisdr_in >= 8.0  # measured 5.7 -> 19.0-19.4 dB
    assert scale_out >= 0.4  # measured 0.55-0.56: noisereduce's 500 Hz mask smoothing dims a pure tone ~5 dB


@pytest.mark.parametrize("kind", ["bursts", "music"])
def test_streamed_denoise_is_close_to_whole_array_noisereduce(kind: str) -> None:
    """Short segments force interior windows, where the 2 s running average sees only 6 s before and 2 s after."""
    if kind == "bursts":
        noisy = _bursts(12.0, seed=3)[0]
    else:
        noisy = (song(12.0, seed=5) + _noise(RATE, 12.0, seed=6, level=0.03)).astype(np.float32)
    expected = _whole(noisy)
    blocks = _splits(noisy, seed=4, low=5000, high=90000)
    streamed = np.concatenate(list(denoise(blocks, RATE, segment_seconds=3.0)))
    assert streamed.shape == noisy.shape
    assert _snr(expected, streamed) >= 20.0  # this split: 26.2 dB (bursts), 29.8 dB (music); 26-55 dB over eight splits


def test_denoise_fitting_one_segment_is_whole_array_noisereduce() -> None:
    """One segment reaching both ends gets noisereduce's own padding and STFT grid: the same numbers."""
    noisy = _bursts(4.0, seed=7)[0]
    streamed = np.concatenate(list(denoise(_splits(noisy, seed=8, high=40000), RATE)))
    assert _snr(_whole(noisy), streamed) >= 100.0


def test_denoise_short_and_empty_inputs() -> None:
    noisy = _bursts(1.5, seed=9)[0]
    assert list(denoise([], RATE)) == []
    for blocks in ([noisy[:10]], [noisy[:0]], [noisy[:0], noisy[:300], noisy[:0], noisy[300:301]], _splits(noisy, seed=10, high=2000)):
        out = list(denoise(blocks, RATE, before_seconds=0.25, after_seconds=0.1, segment_seconds=0.5))
        assert [o.shape for o in out] == [b.shape for b in blocks]
        assert all(np.all(np.isfinite(o)) for o in out)


def test_denoise_holds_only_a_segment_and_its_context() -> None:
    """Bounded memory: by each output block, at most a segment plus the context after it has been pulled."""
    pulled = 0
    block = 2 * RATE

    def endless() -> Iterator[np.ndarray]:
        nonlocal pulled
        for seed in range(10**6):
            pulled += block
            yield _noise(RATE, 2.0, seed)

    yielded = 0
    for out in itertools.islice(denoise(endless(), RATE, segment_seconds=2.0), 4):
        yielded += len(out)
        assert pulled <= yielded + 2 * RATE + block  # the context after, rounded up to whole blocks
    assert yielded == 4 * block


def test_denoise_rejects_bad_settings() -> None:
    for settings in (
        {"strength": 0.0},
        {"strength": 1.5},
        {"before_seconds": 0.0},
        {"before_seconds": 0.01},
        {"after_seconds": -1.0},
        {"segment_seconds": 0.0},
    ):
        with pytest.raises(ValidationError):
            denoise([], RATE, **settings)


def test_importing_the_filters_leaves_noisereduce_unloaded() -> None:
    """noisereduce pulls in matplotlib; only an actual --denoise run may pay for it."""
    code = "import sys, spleeter_cli.audio.filters, spleeter_cli.audio.loudness; print('noisereduce' in sys.modules, 'matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_gain_to_accounts_for_blocks_that_cross_the_absolute_gate() -> None:
    """A quiet stem whose softer passage sits under -70 LUFS until it is brought up, then counts."""
    music = read_reference("song3", "mixture")[: 4 * RATE].astype(np.float64)
    loud = music * 10 ** ((-62 - _measure([music], RATE).integrated()) / 20)  # -62 LUFS
    signal = np.concatenate([loud, loud * 10 ** (-9 / 20)])  # then 9 dB softer: -71, under the absolute gate
    meter = _measure([signal], RATE)
    one_step = gain_for(-20.0, meter.integrated())
    assert abs(_measure([signal * one_step], RATE).integrated() + 20.0) > 0.05  # the naive correction misses
    assert _measure([signal * gain_to(meter, -20.0)], RATE).integrated() == pytest.approx(-20.0, abs=0.01)
