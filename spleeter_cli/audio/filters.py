"""Streaming pre-processing filters: each takes and returns an iterator of ``(n, channels)`` blocks.

The separation pipeline never holds a whole file, so every filter here keeps only bounded state
between blocks (filter memory, or a few seconds of context) and yields one output block per input
block, of the same size, so block-level bookkeeping downstream (progress, chunking) is unchanged.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np
from scipy.signal import butter, sosfilt

from ..errors import ValidationError

DENOISE_BEFORE_SECONDS = 6.0  # context before a segment: 3 time constants of noisereduce's 2 s running average
DENOISE_AFTER_SECONDS = 2.0  # context after it (the backward pass needs less, see ``denoise``)
DENOISE_SEGMENT_SECONDS = 10.0  # shortest stretch processed at once, so the context costs < 1x extra
_NR_PADDING = 30000  # zeros noisereduce puts around an array by default; reproduced at the stream's ends
_NR_N_FFT = 1024  # noisereduce's default STFT size
_NR_HOP = _NR_N_FFT // 4  # and hop; windows start on its grid so frames line up with the whole array's


def highpass(blocks: Iterable[np.ndarray], rate: int, cutoff_hz: float, order: int = 4) -> Iterator[np.ndarray]:
    """Butterworth high-pass of a block stream, identical to one ``sosfilt`` over the whole signal.

    Validation happens at call time (not on the first ``next``), so a bad ``--highpass`` fails
    before any decoding starts.
    """
    _check_cutoff(rate, cutoff_hz)
    if order < 1:
        raise ValidationError(f"high-pass order must be at least 1, not {order}")
    sos = butter(order, cutoff_hz, btype="highpass", fs=rate, output="sos")
    return _sos_stream(blocks, sos)


def _check_cutoff(rate: int, cutoff_hz: float) -> None:
    """A digital filter's corner must lie strictly between 0 Hz and Nyquist."""
    if not (math.isfinite(cutoff_hz) and 0 < cutoff_hz < rate / 2):
        raise ValidationError(
            f"high-pass cutoff {cutoff_hz:g} Hz is out of range",
            hint=f"give a frequency above 0 and below {rate / 2:g} Hz (half the {rate} Hz sample rate), e.g. 80",
        )


def _sos_stream(blocks: Iterable[np.ndarray], sos: np.ndarray) -> Iterator[np.ndarray]:
    """Filter along time, carrying each section's state per channel from one block to the next."""
    state: np.ndarray | None = None
    for block in blocks:
        if not len(block):  # sosfilt rejects empty input; there is nothing to filter anyway
            yield block.copy()
            continue
        if state is None:
            state = np.zeros((len(sos), 2, *block.shape[1:]))
        filtered, state = sosfilt(sos, np.asarray(block, dtype=np.float64), axis=0, zi=state)
        yield filtered.astype(block.dtype, copy=False)


def denoise(
    blocks: Iterable[np.ndarray],
    rate: int,
    strength: float = 1.0,
    before_seconds: float = DENOISE_BEFORE_SECONDS,
    after_seconds: float = DENOISE_AFTER_SECONDS,
    segment_seconds: float = DENOISE_SEGMENT_SECONDS,
) -> Iterator[np.ndarray]:
    """Spectral-gating noise reduction (noisereduce, non-stationary) of a ``(n, channels)`` block stream.

    Non-stationary gating compares every STFT bin with its running average (a 2 s one-pole
    filter run forwards, then backwards), so it needs context on both sides: blocks are processed
    in segments of at least ``segment_seconds`` (one block unless blocks are short, so the context
    costs little), each with ``before_seconds`` of raw audio before it and ``after_seconds`` after
    it, and only the segment's own samples are yielded, cut back into the input's block sizes.
    More context goes before because the forward pass starts from the window's first frame alone,
    while the backward pass starts from the forward pass's already averaged last value.
    Memory is a segment plus the context. The result equals one unchunked ``noisereduce.reduce_noise``
    over the whole array when the input fits in one window, and is close elsewhere (the average misses
    what lies beyond the window). ``strength`` is noisereduce's ``prop_decrease``. The gate keeps
    what rises above the running average, so a steady tone counts as noise.
    """
    if not 0 < strength <= 1:
        raise ValidationError(f"denoise strength must be in (0, 1], not {strength:g}")
    if not (before_seconds > 0 and after_seconds > 0 and segment_seconds > 0):
        raise ValidationError(
            f"denoise context and segment must be positive, not {before_seconds:g}, {after_seconds:g} and {segment_seconds:g} s"
        )
    lead, lag, span = (round(seconds * rate) for seconds in (before_seconds, after_seconds, segment_seconds))
    if lead < _NR_N_FFT:  # an unpadded window shorter than one STFT frame would make noisereduce fail
        raise ValidationError(f"denoise needs at least {_NR_N_FFT / rate:.3f} s of context before each segment, not {before_seconds:g} s")
    return _denoise_stream(iter(blocks), rate, strength, lead, lag, span)


def _denoise_stream(blocks: Iterator[np.ndarray], rate: int, strength: float, lead: int, lag: int, span: int) -> Iterator[np.ndarray]:
    """Yield every block denoised, segment by segment, with ``lead`` samples of raw context before and ``lag`` after."""
    past: np.ndarray | None = None  # raw audio before the segment, at most lead + one hop
    start = 0  # stream position of the segment's first sample
    queue = _Lookahead(span)
    exhausted = False
    while True:
        while not exhausted and (queue.segment_frames < span or queue.ahead_frames < lag):
            block = next(blocks, None)
            exhausted = block is None
            if block is not None:
                queue.push(block)
        if not queue.segment:
            return
        at_end = exhausted and queue.ahead_frames <= lag
        future = queue.head(lag)
        segment = queue.pop_segment()
        joined = np.concatenate(segment)
        if not len(joined):
            yield from (block.copy() for block in segment)
            continue
        before = joined[:0] if past is None else past
        window, first = _window(before, joined, joined[:0] if future is None else future, start, at_end, lead)
        reduced = _reduce(window, rate, strength)[first : first + len(joined)].astype(joined.dtype, copy=False)
        yield from np.split(reduced, np.cumsum([len(block) for block in segment[:-1]]))
        past = _tail(joined if past is None else np.concatenate([past, joined]), lead + _NR_HOP)
        start += len(joined)


class _Lookahead:
    """Queued input blocks: the next segment (blocks until ``span`` samples) and the audio after it."""

    def __init__(self, span: int) -> None:
        self.span = span
        self.segment: list[np.ndarray] = []
        self.ahead: deque[np.ndarray] = deque()
        self.segment_frames = self.ahead_frames = 0

    def push(self, block: np.ndarray) -> None:
        if self.segment_frames < self.span and not self.ahead:
            self.segment.append(block)
            self.segment_frames += len(block)
        else:
            self.ahead.append(block)
            self.ahead_frames += len(block)

    def pop_segment(self) -> list[np.ndarray]:
        """Hand over the segment and start the next one from the lookahead (each block moves once)."""
        segment, self.segment, self.segment_frames = self.segment, [], 0
        while self.ahead and self.segment_frames < self.span:
            block = self.ahead.popleft()
            self.ahead_frames -= len(block)
            self.segment.append(block)
            self.segment_frames += len(block)
        return segment

    def head(self, count: int) -> np.ndarray | None:
        """The first ``count`` samples after the segment (None if none are queued), copying no more than that."""
        pieces, held = [], 0
        for block in self.ahead:
            if held >= count:
                break
            pieces.append(block[: count - held])
            held += len(pieces[-1])
        return np.concatenate(pieces) if pieces else None


def _window(past: np.ndarray, segment: np.ndarray, future: np.ndarray, start: int, at_end: bool, wanted: int) -> tuple[np.ndarray, int]:
    """(the array noisereduce sees, index of the segment in it), with about ``wanted`` samples of ``past``.

    At the stream's ends the window gets the same zero padding noisereduce adds to a whole array,
    and its start sits on the whole array's STFT grid, so the result differs from the whole-array
    one only through the running average's limited context.
    """
    context = min(len(past), wanted)
    context += (start - context + _NR_PADDING) % _NR_HOP  # back onto the grid (past holds a spare hop)
    padding = 0
    if context >= start:  # the window reaches the stream's first sample: pad like noisereduce does
        context, padding = start, _NR_PADDING
    silence = np.zeros((_NR_PADDING, segment.shape[1]), segment.dtype)
    pieces = [silence[:padding], past[len(past) - context :], segment, future, silence[: _NR_PADDING if at_end else 0]]
    return np.concatenate(pieces), padding + context


_DITHER = 1e-9


def _reduce(window: np.ndarray, rate: int, strength: float) -> np.ndarray:
    """noisereduce over one ``(n, channels)`` window, in one chunk, with the padding already applied."""
    import noisereduce  # imported here: it pulls in matplotlib, which `spl --help` must not pay for

    # Digital silence makes noisereduce divide 0 by 0: NaN out, which the model turns into
    # full-scale stems. A -180 dB dither (fixed seed, so runs repeat) keeps every bin finite.
    dither = np.random.default_rng(len(window)).standard_normal(window.shape) * _DITHER
    with np.errstate(invalid="ignore", divide="ignore"):
        reduced = noisereduce.reduce_noise(
            y=np.ascontiguousarray((window + dither).T, dtype=np.float64),
            sr=rate,
            stationary=False,
            prop_decrease=strength,
            chunk_size=None,
            padding=0,
        )
    return np.nan_to_num(reduced.T, nan=0.0, posinf=0.0, neginf=0.0)


def _tail(samples: np.ndarray, count: int) -> np.ndarray:
    """The last ``count`` samples, copied so the rest of a large block can be freed."""
    return samples[max(0, len(samples) - count) :].copy()
