"""Decode any audio file to float32 stereo at the model's rate, streaming.

Decoding goes frame by frame through PyAV (which bundles FFmpeg), so memory is bounded
whatever the file's length; FFmpeg only converts the sample format and soxr (see ``dsp``)
converts the rate. Every failure a user can cause leaves this module as an
``AudioProcessingError`` naming the file and the fix, never as an FFmpeg exception.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import AudioProcessingError, ValidationError
from . import dsp
from .formats import _input_error, check_file, past_the_end

_SEEK_PREROLL = 0.5  # seconds decoded and dropped before an offset: warms the decoder up after a seek
_RESAMPLER_CONTEXT = 0.1  # seconds of input on each side of a range, so the resampler's filter sees real audio
_LENGTH_TOLERANCE = 0.02  # seconds a lossless file may fall short of its header before we call it truncated
# A complete lossy file may fall short of the length its container declares by the encoder's priming and
# padding: an MP3's Xing/VBRI frame count includes them and FFmpeg drops them (LAME's two 12-bit fields
# allow 2 x 4095 samples), AAC edit lists trim them. Half a second, or 12288 samples at low rates, stays
# clear of all of it; a cut losing less than that goes unnoticed. Containers that only estimate a length
# (an MP3 without a frame count: file size / first frame's bitrate, far off for VBR; ASF) are not checked.
_LOSSY_TOLERANCE = 0.5
_LOSSY_TOLERANCE_FRAMES = 12288
_HEADER_LENGTH_CONTAINERS = ("aiff", "mov,mp4,m4a,3gp,3g2,mj2")  # FFmpeg reads their length from a header count (COMM, moov)
_OGG_MAX_PAGE = 27 + 255 + 255 * 255  # header, lacing table, payload
_MAX_FLOAT_SAMPLE = 1000.0  # +60 dBFS: float files may go over full scale, not by this much
_PCM_BITS = re.compile(r"pcm_[suf](\d+)")


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a file's audio, before decoding it."""

    path: Path
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float  # seconds; estimated from the bitrate for some MP3s
    bit_depth: int | None  # PCM and FLAC only
    sample_format: str


def _open(path: Path) -> tuple[Any, Any]:
    """Open ``path`` and return (container, its first audio stream)."""
    try:
        check_file(path)
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise _input_error(
            path, "not a readable audio file (unknown format or corrupt data)", "check that it is really audio; re-export or re-download it"
        ) from None
    except PermissionError:
        raise _input_error(path, "permission denied", "make the file readable") from None
    except (av.FFmpegError, OSError) as error:
        raise _input_error(path, f"cannot be opened ({error.strerror or error})", "check that the file is readable audio") from None
    if not container.streams.audio:
        container.close()
        raise _input_error(path, "not a readable audio file (no audio stream found)", "give a file with an audio track")
    stream = container.streams.audio[0]
    if stream.codec_context is None:  # FFmpeg has no decoder for the codec id the header names (e.g. a corrupt WAV format tag)
        container.close()
        raise _input_error(
            path,
            "not a readable audio file (its codec is unknown or unsupported)",
            "check that it is really audio; convert it to WAV, FLAC or MP3",
        )
    if stream.codec_context.sample_rate <= 0 or stream.codec_context.channels <= 0:  # FFmpeg guessed a format from noise
        container.close()
        raise _input_error(
            path, "not a readable audio file (no sample rate or channels)", "check that it is really audio; re-export or re-download it"
        )
    return container, stream


def _decode(container: Any, stream: Any, path: Path) -> Iterator[Any]:
    """The stream's decoded frames; FFmpeg errors become ``AudioProcessingError``."""
    reached = 0.0
    try:
        for frame in container.decode(stream):
            yield frame
            reached = frame.time + frame.samples / frame.sample_rate if frame.time is not None else reached
    except (av.FFmpegError, OSError) as error:
        raise _input_error(
            path, f"corrupt or truncated audio data after {reached:.1f} s ({error.strerror or error})", "re-export or re-download the file"
        ) from None


def _flac_streaminfo(extradata: bytes | None) -> tuple[int, int] | None:
    """(bits per sample, total samples) from FLAC's STREAMINFO block; total is 0 when unknown."""
    if extradata and extradata[:4] == b"fLaC":
        extradata = extradata[8:]
    if not extradata or len(extradata) < 18:
        return None
    bits = ((extradata[12] & 1) << 4 | extradata[13] >> 4) + 1
    return bits, (extradata[13] & 0x0F) << 32 | int.from_bytes(extradata[14:18], "big")


def _wav_data_frames(path: Path) -> int | None:
    """Frames the RIFF header of a WAV promises; FFmpeg itself trusts the file size instead."""
    try:
        with path.open("rb") as file:
            head = file.read(1 << 16)
    except OSError:  # FFmpeg just read it; if we cannot, skipping this extra check is the lesser harm
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, block_align = 12, 0
    while position + 8 <= len(head):
        chunk, size = head[position : position + 4], int.from_bytes(head[position + 4 : position + 8], "little")
        if chunk == b"fmt ":
            block_align = int.from_bytes(head[position + 20 : position + 22], "little")
        elif chunk == b"data":
            # Writers that stream to a pipe leave the size at 0, 0xFFFFFFFF (FFmpeg, RF64) or 0x7FFFF000..0x7FFFFFFF (sox): nothing to check.
            placeholder = size == 0 or size >= 0xFFFFF000 or 0x7FFFF000 <= size <= 0x7FFFFFFF
            return size // block_align if block_align and not placeholder else None
        position += 8 + size + (size & 1)
    return None


def _mp3_counted_frames(path: Path) -> int | None:
    """Sample frames an MP3's Xing, Info or VBRI header counts; None without one, as then FFmpeg only estimates."""
    try:
        with path.open("rb") as file:
            id3 = file.read(10)
            if id3[:3] == b"ID3" and len(id3) == 10:  # ID3v2: 7 bits per size byte, then maybe a footer
                file.seek(10 + sum((byte & 0x7F) << 7 * (3 - index) for index, byte in enumerate(id3[6:10])) + (10 if id3[5] & 0x10 else 0))
            else:
                file.seek(0)
            head = file.read(1 << 16)
    except OSError:
        return None
    sync = re.search(rb"\xff[\xe0-\xff]", head)
    if sync is None or len(head) < sync.start() + 40:
        return None
    start = sync.start()
    version, layer = head[start + 1] >> 3 & 3, head[start + 1] >> 1 & 3  # version 3: MPEG-1; layer 1: Layer III
    if version == 1 or layer != 1 or head[start + 2] >> 4 == 15 or head[start + 2] >> 2 & 3 == 3:
        return None
    mono = head[start + 3] >> 6 == 3
    tag = start + 4 + ((17 if mono else 32) if version == 3 else (9 if mono else 17))  # after the side information
    frames = None
    if head[tag : tag + 4] in (b"Xing", b"Info") and int.from_bytes(head[tag + 4 : tag + 8], "big") & 1:
        frames = int.from_bytes(head[tag + 8 : tag + 12], "big")
    elif head[start + 36 : start + 40] == b"VBRI":
        frames = int.from_bytes(head[start + 50 : start + 54], "big")
    return frames * (1152 if version == 3 else 576) if frames else None


def _ogg_unfinished_page(path: Path) -> _Promise | None:
    """Whether an Ogg file ends inside a page (a cut file), and the samples that page's header counts, if it got that far.

    A complete file ends on a whole page. Only pages of the first page's stream count, so a chance
    "OggS" in the audio data cannot pass for a page header; one in the last 27 bytes is a cut header.
    """
    try:
        with path.open("rb") as file:
            first = file.read(27)
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - _OGG_MAX_PAGE))
            tail = file.read()
    except OSError:
        return None
    if len(first) < 27 or first[:4] != b"OggS":
        return None
    position = len(tail)
    while (position := tail.rfind(b"OggS", 0, position)) >= 0:
        header = tail[position : position + 27]
        if len(header) < 27:
            return _Promise(None, 0)
        if header[4] != 0 or header[14:18] != first[14:18]:
            continue
        lacing = tail[position + 27 : position + 27 + header[26]]
        if len(lacing) < header[26] or position + 27 + len(lacing) + sum(lacing) > len(tail):
            granule = int.from_bytes(header[6:14], "little", signed=True)
            return _Promise(granule if granule > 0 else None, 0)  # -1: no packet ends on that page
        return None
    return None


@dataclass(frozen=True)
class _Promise:
    """The length a file's container declares, to tell a truncated file once it is decoded."""

    frames: int | None  # at the file's own rate; None: cut short (inside an Ogg page), the whole length unknown
    slack: int  # frames a complete file may still fall short by


def _declared_frames(path: Path, info: AudioInfo, stream: Any) -> _Promise | None:
    """What the container promises, where it counts rather than estimates (see ``_LOSSY_TOLERANCE``)."""
    rate = info.sample_rate
    exact, lossy = round(_LENGTH_TOLERANCE * rate), max(round(_LOSSY_TOLERANCE * rate), _LOSSY_TOLERANCE_FRAMES)
    frames, slack = None, lossy
    if info.codec == "flac":
        streaminfo = _flac_streaminfo(stream.codec_context.extradata)
        frames, slack = (streaminfo[1] if streaminfo and streaminfo[1] else None), exact
    elif info.container == "wav" and info.codec.startswith("pcm_"):  # block_align is per frame only for PCM
        frames, slack = _wav_data_frames(path), exact
    elif info.container == "mp3":
        frames = _mp3_counted_frames(path)
    elif info.container == "ogg":
        return _ogg_unfinished_page(path)  # an unfinished last page is itself the proof
    elif info.container in _HEADER_LENGTH_CONTAINERS and stream.duration and stream.time_base:
        frames = round(stream.duration * stream.time_base * rate)
        slack = exact if info.codec.startswith("pcm_") else lossy
    return _Promise(frames, slack) if frames else None


def _info(path: Path, container: Any, stream: Any) -> AudioInfo:
    context = stream.codec_context
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = (container.duration or 0) / av.time_base
    bit_depth = None
    if context.name == "flac":
        streaminfo = _flac_streaminfo(context.extradata)
        bit_depth = streaminfo[0] if streaminfo else None
    elif match := _PCM_BITS.match(context.name):
        bit_depth = int(match[1])
    return AudioInfo(
        path=path,
        container=container.format.name,
        codec=context.name,
        sample_rate=context.sample_rate,
        channels=context.channels,
        duration=duration,
        bit_depth=bit_depth,
        sample_format=context.format.name,
    )


def probe(path: str | Path) -> AudioInfo:
    """Describe a file's audio; decodes its first frame so undecodable files fail here, early."""
    path = Path(path)
    container, stream = _open(path)
    with container:
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, OSError):
            raise _input_error(
                path,
                "not a readable audio file (its audio data cannot be decoded)",
                "check that it is really audio; re-export or re-download it",
            ) from None
        if first is None:
            raise _input_error(path, "no audio samples in the file", "re-export or re-download it")
        return _info(path, container, stream)


def _resampled(blocks: Iterator[np.ndarray], resampler: dsp.StreamResampler) -> Iterator[np.ndarray]:
    for block in blocks:
        yield resampler.process(block)
    yield resampler.process(np.zeros((0, 2), np.float32), last=True)


class AudioReader:
    """Stream a file as float32 stereo blocks at the target rate."""

    def __init__(self, path: str | Path, sample_rate: int = 44100, offset: float = 0.0, duration: float | None = None) -> None:
        self.path = Path(path)
        if offset < 0:
            raise ValidationError(
                f"offset must be >= 0, not {offset:g}", hint="give the start in seconds from the beginning", path=str(self.path)
            )
        if duration is not None and duration <= 0:
            raise ValidationError(
                f"duration must be > 0, not {duration:g}",
                hint="give a positive number of seconds, or none for the whole file",
                path=str(self.path),
            )
        self.sample_rate = sample_rate
        self.offset = offset
        self.duration = duration
        self._container, self._stream = _open(self.path)
        self.info = _info(self.path, self._container, self._stream)
        if offset > 0 and offset >= self.info.duration:
            self.close()
            raise self._past_end(self.info.duration)
        self._declared = _declared_frames(self.path, self.info, self._stream)
        self._converter: tuple[tuple[str, str], Any] | None = None

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """Yield (frames, 2) C-contiguous blocks, the last one possibly shorter; call once per reader."""
        if frames <= 0:
            raise ValueError(f"block size must be positive, not {frames}")
        pending: list[np.ndarray] = []
        held = 0
        for piece in self._samples():
            pending.append(piece)
            held += len(piece)
            if held >= frames:
                data = np.concatenate(pending)
                full = held - held % frames
                yield from (data[start : start + frames] for start in range(0, full, frames))
                pending, held = [data[full:]], held - full
        if held:
            yield np.concatenate(pending)

    def _samples(self) -> Iterator[np.ndarray]:
        """Resampled pieces of the requested range, in order and of any length.

        The resampler starts a little before the offset, on a sample shared by both rates'
        grids, so an excerpt equals the same range cut from a decode of the whole file.
        """
        rate, target = self.info.sample_rate, self.sample_rate
        step = rate // math.gcd(rate, target)
        first = round(self.offset * rate)
        start = max(0, first - round(_RESAMPLER_CONTEXT * rate)) // step * step
        stop = None if self.duration is None else math.ceil((self.offset + self.duration) * rate) + round(_RESAMPLER_CONTEXT * rate)
        begin = round(self.offset * target)
        end = None if self.duration is None else begin + round(self.duration * target)
        position = start * target // rate  # output index of the resampler's next sample
        for out in _resampled(self._source(start, stop, first), dsp.StreamResampler(rate, target)):
            low, high = max(0, begin - position), len(out) if end is None else min(len(out), end - position)
            position += len(out)
            if high > low:
                yield out[low:high]
            if end is not None and position >= end:
                return

    def _source(self, start: int, stop: int | None, first: int) -> Iterator[np.ndarray]:
        """Stereo float32 at the file's rate from sample ``start`` up to ``stop`` (or the end)."""
        position, frames = self._frames_from(start)
        for frame in frames:
            if frame.sample_rate != self.info.sample_rate:
                raise _input_error(
                    self.path,
                    f"sample rate changes mid-stream ({self.info.sample_rate} -> {frame.sample_rate} Hz)",
                    "convert the file to a single rate first",
                )
            samples = self._to_float(frame)
            if frame.format.name.startswith(("flt", "dbl")):
                self._check_float(samples, position)
            position += len(samples)
            if position <= start:
                continue
            piece = dsp.to_stereo(samples[max(0, len(samples) - (position - start)) :])
            if stop is not None and position >= stop:
                yield piece[: len(piece) - (position - stop)]
                return
            yield piece
        rate = self.info.sample_rate
        promise = self._declared
        if promise and (promise.frames is None or position < promise.frames - promise.slack):
            whole = f"of {promise.frames / rate:.1f} s" if promise.frames else "; it ends inside an Ogg page"
            raise _input_error(
                self.path, f"truncated or corrupt (decoded {position / rate:.1f} s {whole})", "re-export or re-download the file"
            )
        if first > 0 and position <= first:
            raise self._past_end(position / rate)

    def _frames_from(self, start: int) -> tuple[int, Iterator[Any]]:
        """Decoded frames beginning at or before sample ``start``, and the first one's position.

        Seeks only when the container's timestamps resolve single samples (so pts give exact
        positions; ASF's milliseconds do not), and decodes from the top when a seek overshoots.
        """
        rate, stream = self.info.sample_rate, self._stream
        target = start - round(_SEEK_PREROLL * rate)
        origin = stream.start_time or 0
        if target > 0 and stream.time_base and stream.time_base <= Fraction(1, rate):
            try:
                self._container.seek(origin + math.floor(Fraction(target, rate) / stream.time_base), stream=stream)
            except av.FFmpegError:
                return 0, _decode(self._container, stream, self.path)
            frames = _decode(self._container, stream, self.path)
            head = next(frames, None)
            if head is not None and head.pts is not None:
                position = round((head.pts - origin) * stream.time_base * rate)
                if position <= start:
                    return position, chain([head], frames)
            self._container.close()
            self._container, self._stream = _open(self.path)
        return 0, _decode(self._container, self._stream, self.path)

    def _check_float(self, samples: np.ndarray, position: int) -> None:
        """Refuse NaN, infinite or absurd (over +60 dBFS) float samples: the model turns them into full-scale noise."""
        sane = np.abs(samples) <= _MAX_FLOAT_SAMPLE  # False for NaN too
        if not sane.all():
            first_bad = position + int(np.flatnonzero(~sane.all(axis=1))[0])
            raise _input_error(
                self.path,
                f"has NaN, infinite or absurdly loud (over +60 dBFS) samples at {first_bad / self.info.sample_rate:.1f} s (a damaged float file)",
                "re-export the file; the model would turn them into full-scale noise",
            )

    def _to_float(self, frame: Any) -> np.ndarray:
        """(n, channels) packed float32 in the frame's own layout; FFmpeg scales ints to [-1, 1]."""
        key = (frame.format.name, frame.layout.name)
        if self._converter is None or self._converter[0] != key:
            self._converter = (key, av.AudioResampler(format="flt", layout=frame.layout, rate=frame.sample_rate))
        channels = frame.layout.nb_channels
        try:
            parts = [converted.to_ndarray().reshape(-1, channels) for converted in self._converter[1].resample(frame)]
        except av.FFmpegError as error:  # a damaged header's layout FFmpeg cannot convert (e.g. 127 channels; it stops at 64)
            raise _input_error(
                self.path,
                f"its {channels}-channel {frame.format.name} samples cannot be converted ({error.strerror or error})",
                "check that it is really audio; re-export it as stereo WAV or FLAC",
            ) from None
        return np.concatenate(parts) if parts else np.zeros((0, channels), np.float32)

    def _past_end(self, length: float) -> AudioProcessingError:
        return _input_error(self.path, past_the_end(self.offset, length), "use a smaller `offset`")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode(path: str | Path, sample_rate: int = 44100, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """A whole file (or range) as one (n, 2) float32 array; prefer ``AudioReader`` for long files."""
    with AudioReader(path, sample_rate, offset, duration) as reader:
        blocks = list(reader.blocks(1 << 18))
    return np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32)
