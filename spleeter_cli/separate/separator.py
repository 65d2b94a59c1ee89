"""Waveform -> stems, exactly as spleeter computes them, in bounded memory.

Spleeter pads one frame of zeros in front of the signal, takes the STFT,
cuts the magnitudes below F into 512-frame segments, lets the U-Nets estimate
each instrument, turns the estimates into ratio masks, applies them to the
complex STFT (zero above F) and inverts. Every step is local to a segment
except the overlap-add of the inverse STFT, so the signal is processed in
chunks of whole segments and only ``frame - hop`` samples are carried between
chunks: output is identical to whole-file processing, memory is not tied to
the file's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import numpy as np

from ..models.catalog import FRAME_LENGTH, FRAME_STEP, SEGMENT_FRAMES, ModelSpec
from .stft import BINS, OverlapAdd, frames_covering, stft

CHUNK_SEGMENTS = 4  # about 48 s of audio per model call: large enough to keep both cores busy
Stems = dict[str, np.ndarray]


class MaskModel(Protocol):
    spec: ModelSpec

    def masks(self, magnitudes: np.ndarray) -> np.ndarray: ...


class Separator:
    """Separates float32 stereo 44.1 kHz audio with one loaded model."""

    def __init__(self, model: MaskModel, chunk_segments: int = CHUNK_SEGMENTS) -> None:
        if chunk_segments < 1:
            raise ValueError("chunk_segments must be >= 1")
        self.model = model
        self.spec = model.spec
        self.chunk_frames = chunk_segments * SEGMENT_FRAMES
        self.chunk_samples = self.chunk_frames * FRAME_STEP

    def separate(self, waveform: np.ndarray) -> Stems:
        """Whole waveform in, whole stems out (convenient for short audio and tests)."""
        pieces = list(self.stream([waveform]))
        return {name: np.concatenate([p[name] for p in pieces]) for name in self.spec.instruments}

    def stream(self, blocks: Iterable[np.ndarray], on_progress: Callable[[int], None] | None = None) -> Iterator[Stems]:
        """Separate a stream of (n, 2) blocks; yields stem blocks as soon as they are final.

        ``on_progress`` receives the number of stem samples produced so far.
        """
        queue = _SampleQueue(np.zeros((FRAME_LENGTH, 2), np.float32))  # spleeter's leading frame of zeros
        inverses = {name: OverlapAdd() for name in self.spec.instruments}
        output = _Trim(start=FRAME_LENGTH)
        needed = self.chunk_samples + FRAME_LENGTH - FRAME_STEP
        total = 0
        for block in blocks:
            total += len(block)
            queue.push(block)
            while queue.size >= needed:
                stems = self._chunk(queue.peek(needed), self.chunk_frames, inverses)
                queue.drop(self.chunk_samples)
                yield output.take(stems, on_progress)
        # The frames tf.signal.stft(pad_end=True) still produces past the last full chunk,
        # computed on whole zero-padded segments like spleeter's pad_and_partition.
        done_frames = (total + FRAME_LENGTH - queue.size) // FRAME_STEP
        remaining = frames_covering(total + FRAME_LENGTH) - done_frames
        padded_frames = -(-remaining // SEGMENT_FRAMES) * SEGMENT_FRAMES
        samples = queue.peek(queue.size)
        padding = np.zeros(((padded_frames - 1) * FRAME_STEP + FRAME_LENGTH - len(samples), 2), np.float32)
        stems = self._chunk(np.concatenate([samples, padding]), padded_frames, inverses, keep_frames=remaining)
        stems = {name: np.concatenate([s, inverses[name].flush()]) for name, s in stems.items()}
        output.end = FRAME_LENGTH + total
        yield output.take(stems, on_progress)

    def _chunk(self, samples: np.ndarray, n_frames: int, inverses: dict[str, OverlapAdd], keep_frames: int | None = None) -> Stems:
        """Separate ``n_frames`` frames (a whole number of segments) starting at ``samples[0]``."""
        spectra = stft(samples, n_frames)  # (frames, 2, BINS)
        bins = self.spec.bins
        magnitudes = np.abs(spectra[:, :, :bins]).transpose(0, 2, 1)  # (frames, F, 2)
        segments = magnitudes.reshape(-1, SEGMENT_FRAMES, bins, 2)
        masks = self.model.masks(np.ascontiguousarray(segments))  # (n, segs, 512, F, 2)
        keep = n_frames if keep_frames is None else keep_frames
        masked = np.zeros((keep, 2, BINS), np.complex64)
        out: Stems = {}
        for name, mask in zip(self.spec.instruments, masks):
            mask = mask.reshape(n_frames, bins, 2)[:keep].transpose(0, 2, 1)
            np.multiply(mask, spectra[:keep, :, :bins], out=masked[:, :, :bins])
            out[name] = inverses[name].push(masked)
        return out


class _SampleQueue:
    """FIFO of (n, 2) samples that concatenates lazily, once per chunk rather than per block."""

    def __init__(self, first: np.ndarray) -> None:
        self._blocks = [first]
        self.size = len(first)

    def push(self, block: np.ndarray) -> None:
        if block.ndim != 2 or block.shape[1] != 2:
            raise ValueError(f"expected (n, 2) samples, got shape {block.shape}")
        self._blocks.append(np.asarray(block, np.float32))
        self.size += len(block)

    def peek(self, n: int) -> np.ndarray:
        """The first ``n`` samples as one contiguous array (merging the blocks they span)."""
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0][:n]

    def drop(self, n: int) -> None:
        merged = self.peek(self.size)
        self._blocks = [merged[n:].copy()]  # copy so the dropped part can be freed
        self.size -= n


class _Trim:
    """Cuts the stem stream to the input's span: after the leading pad, up to ``end``."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.end: int | None = None
        self._position = 0  # in padded coordinates

    def take(self, stems: Stems, on_progress: Callable[[int], None] | None) -> Stems:
        length = len(next(iter(stems.values())))
        lo = max(0, self.start - self._position)
        hi = length if self.end is None else max(lo, min(length, self.end - self._position))
        self._position += length
        if on_progress:
            on_progress(max(0, min(self._position, self.end or self._position) - self.start))
        return {name: s[lo:hi] for name, s in stems.items()}
