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

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..models.catalog import FRAME_LENGTH, FRAME_STEP, SEGMENT_FRAMES, ModelSpec
from .stages import staged
from .stft import BINS, OverlapAdd, frames_covering, stft
from .turns import CoreTurns, NoTurns
from .wiener import WienerStatistics

CHUNK_SEGMENTS = 2  # about 24 s of audio per model call: keeps U-Net activations (peak RSS) low, cores still busy
Stems = dict[str, np.ndarray]
Progress = Callable[[int], None]


class MaskModel(Protocol):
    spec: ModelSpec

    def masks(self, magnitudes: np.ndarray) -> np.ndarray: ...
    def estimates(self, magnitudes: np.ndarray) -> np.ndarray: ...


class Separator:
    """Separates float32 stereo 44.1 kHz audio with one loaded model."""

    def __init__(
        self,
        model: MaskModel,
        chunk_segments: int = CHUNK_SEGMENTS,
        cancelled: threading.Event | None = None,
        turns: CoreTurns | NoTurns | None = None,
    ) -> None:
        """``cancelled``, once set, makes the stem stream raise ``stages.Cancelled`` rather than wait for the stages.
        ``turns``: shared with the model's runtime when both compute on the same CPU cores (``turns.py``)."""
        if chunk_segments < 1:
            raise ValueError("chunk_segments must be >= 1")
        self.model = model
        self.cancelled = cancelled
        self.turns = turns or NoTurns()
        self.spec = model.spec
        self.chunk_frames = chunk_segments * SEGMENT_FRAMES
        self.chunk_samples = self.chunk_frames * FRAME_STEP

    def separate(self, waveform: np.ndarray, wiener: bool = False) -> Stems:
        """Whole waveform in, whole stems out (convenient for short audio and tests)."""
        pieces = list(self.stream_wiener(lambda: [waveform]) if wiener else self.stream([waveform]))
        return {name: np.concatenate([p[name] for p in pieces]) for name in self.spec.instruments}

    def stream(
        self, blocks: Iterable[np.ndarray], on_progress: Progress | None = None, wiener: WienerStatistics | None = None
    ) -> Iterator[Stems]:
        """Separate a stream of (n, 2) blocks; yields stem blocks as soon as they are final.

        Decoding with the STFT, the U-Nets, and the inverse STFT run as three
        overlapping stages (``stages.staged``). ``on_progress`` receives the number
        of stem samples produced so far. With ``wiener`` statistics of the same
        input, stems are Wiener-filtered.
        """
        inverses = {name: OverlapAdd() for name in self.spec.instruments}
        output = _Trim(start=FRAME_LENGTH)
        for chunk, spectra, model_output in self._analyzed(blocks, estimates=wiener is not None):
            with self.turns.transform():
                if wiener is None:
                    stems = (_masked(spectra, mask) for mask in model_output)  # one instrument's full spectrum at a time
                else:
                    stems = (_full_band(stem) for stem in wiener.apply(spectra, model_output))
                pieces = {name: inverses[name].push(stem) for name, stem in zip(self.spec.instruments, stems, strict=True)}
            if chunk.total is not None:
                pieces = {name: np.concatenate([p, inverses[name].flush()]) for name, p in pieces.items()}
                output.end = FRAME_LENGTH + chunk.total
            yield output.take(pieces, on_progress)

    def stream_wiener(self, open_blocks: Callable[[], Iterable[np.ndarray]], on_progress: Progress | None = None) -> Iterator[Stems]:
        """Two passes over the input (``open_blocks`` is called twice): gather statistics, then filter."""
        statistics = WienerStatistics(self.spec.stems, self.spec.bins)
        for _, spectra, estimates in self._analyzed(open_blocks(), estimates=True):
            with self.turns.transform():
                statistics.add(spectra, estimates)
        yield from self.stream(open_blocks(), on_progress, wiener=statistics)

    def _analyzed(self, blocks: Iterable[np.ndarray], estimates: bool = False) -> Iterator[_Analysis]:
        """(chunk, spectra, masks or estimates) per chunk; STFT and model each on their own thread.

        Model output comes back as (n, frames, 2, F): the ratio masks, or with
        ``estimates`` the U-Nets' magnitudes that Wiener filtering starts from.
        """
        model = self.model.estimates if estimates else self.model.masks

        def run_model(analysis: _Spectra) -> _Analysis:
            chunk, spectra = analysis
            output = model(self._segments(spectra, chunk.frames))
            return chunk, spectra, _frames_first(output, chunk.frames, self.spec.bins)[:, : chunk.keep]

        spectra = staged(self._chunks(blocks), self._analyze, depth=1, name="spl-stft", cancelled=self.cancelled)
        return staged(spectra, run_model, depth=1, name="spl-model", cancelled=self.cancelled)

    def _analyze(self, chunk: _Chunk) -> _Spectra:
        with self.turns.transform():
            return chunk, stft(chunk.samples, chunk.frames)[: chunk.keep]

    def _chunks(self, blocks: Iterable[np.ndarray]) -> Iterator[_Chunk]:
        """Padded samples for each run of whole segments, as spleeter frames them.

        Spleeter puts one frame of zeros in front; ``tf.signal.stft(pad_end=True)``
        zero-pads the end, and ``pad_and_partition`` fills the last segment with zero frames.
        """
        queue = _SampleQueue(np.zeros((FRAME_LENGTH, 2), np.float32))
        needed = self.chunk_samples + FRAME_LENGTH - FRAME_STEP
        total = 0
        for block in blocks:
            total += len(block)
            queue.push(block)
            while queue.size >= needed:
                yield _Chunk(queue.peek(needed), self.chunk_frames, self.chunk_frames)
                queue.drop(self.chunk_samples)
        done_frames = (total + FRAME_LENGTH - queue.size) // FRAME_STEP
        remaining = frames_covering(total + FRAME_LENGTH) - done_frames
        padded_frames = -(-remaining // SEGMENT_FRAMES) * SEGMENT_FRAMES
        samples = queue.peek(queue.size)
        padding = np.zeros(((padded_frames - 1) * FRAME_STEP + FRAME_LENGTH - len(samples), 2), np.float32)
        yield _Chunk(np.concatenate([samples, padding]), padded_frames, remaining, total)

    def _segments(self, spectra: np.ndarray, frames: int) -> np.ndarray:
        """Model input: magnitudes below F, zero frames appended up to whole segments."""
        magnitudes = np.zeros((frames, self.spec.bins, 2), np.float32)
        magnitudes[: len(spectra)] = np.abs(spectra[:, :, : self.spec.bins]).transpose(0, 2, 1)
        return magnitudes.reshape(-1, SEGMENT_FRAMES, self.spec.bins, 2)


@dataclass
class _Chunk:
    samples: np.ndarray  # padded samples covering ``frames`` frames
    frames: int  # frames to compute: whole segments
    keep: int  # frames that exist in spleeter's STFT (the rest is segment padding)
    total: int | None = None  # input length, set on the last chunk


_Spectra = tuple[_Chunk, np.ndarray]  # a chunk and its spectra, before the model
_Analysis = tuple[_Chunk, np.ndarray, np.ndarray]  # ... and the model's masks or estimates


def _frames_first(model_output: np.ndarray, frames: int, bins: int) -> np.ndarray:
    """(n, segments, 512, F, 2) -> (n, frames, 2, F)."""
    return model_output.reshape(len(model_output), frames, bins, 2).transpose(0, 1, 3, 2)


def _masked(spectra: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A (frames, 2, F) mask applied to the mixture's spectrum below F, zeros above: spleeter's mask extension, in one array."""
    full = np.zeros_like(spectra)
    bins = mask.shape[-1]
    np.multiply(mask, spectra[:, :, :bins], out=full[:, :, :bins])
    return full


def _full_band(stem: np.ndarray) -> np.ndarray:
    """Extend a (frames, 2, F) spectrum with zeros up to every STFT bin, as spleeter's mask extension does."""
    full = np.zeros((*stem.shape[:2], BINS), np.complex64)
    full[:, :, : stem.shape[-1]] = stem
    return full


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
