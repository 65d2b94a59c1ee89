"""Encode stems: WAV, FLAC and Ogg through libsndfile, MP3 and M4A through PyAV's FFmpeg.

Every failure a user can cause (an unwritable folder, a full disk, a bad bitrate) leaves
this module as an ``OutputError`` or ``ValidationError`` naming the file and the fix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
import soundfile as sf
from av.audio.stream import AudioStream

from ..errors import OutputError
from .formats import check_output_options

# Vorbis is VBR: a bitrate picks the quality level whose nominal rate it is (stereo, 44.1 kHz).
_VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)  # quality 0..10


class _SoundFileSink:
    """WAV, FLAC and Ogg Vorbis through libsndfile."""

    # libsndfile 1.2's Vorbis encoder crashes on single writes of ~2M frames; stay far below.
    _MAX_WRITE = 1 << 16

    def __init__(self, path: Path, sample_rate: int, codec: str, bitrate: int, bit_depth: int, channels: int) -> None:
        name = os.fsencode(path)  # bytes: soundfile would encode a str strictly, refusing a non-UTF-8 name
        if codec == "ogg":
            quality = float(np.interp(bitrate / 1000, _VORBIS_KBPS, range(len(_VORBIS_KBPS))))
            self._file = sf.SoundFile(name, "w", sample_rate, channels, "VORBIS", format="OGG", compression_level=1 - quality / 10)
        else:
            subtype = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}[bit_depth]
            self._file = sf.SoundFile(name, "w", sample_rate, channels, subtype, format=codec.upper())

    def write(self, block: np.ndarray) -> None:
        for start in range(0, len(block), self._MAX_WRITE):
            self._file.write(block[start : start + self._MAX_WRITE])

    def close(self) -> None:
        self._file.close()


class _FFmpegSink:
    """MP3 (LAME) and M4A (AAC) through PyAV, which re-chunks frames to the encoder's frame size."""

    _FORMATS = {"mp3": ("mp3", "libmp3lame"), "m4a": ("ipod", "aac")}

    def __init__(self, path: Path, sample_rate: int, codec: str, bitrate: int, channels: int) -> None:
        container_format, encoder = self._FORMATS[codec]
        self._layout = "mono" if channels == 1 else "stereo"
        self._rate = sample_rate
        self._container = av.open(str(path), "w", format=container_format)
        try:
            self._stream = cast(AudioStream, self._container.add_stream(encoder, rate=sample_rate, layout=self._layout, format="fltp"))
            self._stream.bit_rate = bitrate
        except BaseException:
            self._container.close()
            raise
        self._samples = 0

    def write(self, block: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T), format="fltp", layout=self._layout)
        frame.sample_rate = self._rate
        # Explicit timestamps let the encoder mark its priming samples, so the muxer writes the
        # MP3 LAME header / MP4 edit list that makes decoders drop them.
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._samples
        self._samples += len(block)
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


class AudioWriter:
    """Stream float32 blocks into one encoded file.

    The format comes from ``codec``, not from the path, because callers write to temporary
    names (``.vocals.wav.part-123``) and rename when done.
    """

    def __init__(
        self, path: str | Path, sample_rate: int, codec: str = "wav", bitrate: str | None = None, bit_depth: int = 16, channels: int = 2
    ) -> None:
        self.path = Path(path)
        rate = check_output_options(codec, bitrate, bit_depth)
        if channels not in (1, 2):
            raise ValueError(f"can only write mono or stereo, not {channels} channels")
        self.channels = channels
        self._codec = codec
        self._clip = not (codec == "wav" and bit_depth == 32)  # float WAV keeps overs; the rest would wrap or distort
        self._sink: _SoundFileSink | _FFmpegSink | None = None
        with self._output_errors():
            if codec in ("mp3", "m4a"):
                self._sink = _FFmpegSink(self.path, sample_rate, codec, rate, channels)
            else:
                self._sink = _SoundFileSink(self.path, sample_rate, codec, rate, bit_depth, channels)

    def write(self, block: np.ndarray) -> None:
        """Append an (n, channels) float32 block."""
        if self._sink is None:
            raise ValueError("write to a closed AudioWriter")
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected an (n, {self.channels}) block, got shape {block.shape}")
        if self._clip:
            block = np.clip(block, -1.0, 1.0)
        with self._output_errors():
            self._sink.write(np.asarray(block, dtype=np.float32))

    def close(self) -> None:
        """Finish the file; idempotent."""
        sink, self._sink = self._sink, None
        if sink is not None:
            with self._output_errors():
                sink.close()

    @contextmanager
    def _output_errors(self) -> Iterator[None]:
        """Turn library and OS failures into an ``OutputError`` naming the file."""
        try:
            yield
        except (OSError, av.FFmpegError, sf.SoundFileError) as error:
            detail = getattr(error, "strerror", None) or str(error)
            if _disk_full(self.path.parent):  # libsndfile says only "System error."
                detail = "no space left on device"
            raise OutputError(
                f"cannot write {self._codec} file ({detail})",
                hint="check that the directory exists, is writable and has free space",
                path=str(self.path),
            ) from None

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode(
    path: str | Path, waveform: np.ndarray, sample_rate: int, codec: str = "wav", bitrate: str | None = None, bit_depth: int = 16
) -> None:
    """Write a whole (n, channels) float32 waveform to ``path``."""
    with AudioWriter(path, sample_rate, codec, bitrate, bit_depth, channels=waveform.shape[1]) as writer:
        writer.write(waveform)


def _disk_full(folder: Path) -> bool:
    """Whether ``folder``'s file system has (next to) no room left: the usual cause of a failed write."""
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False
