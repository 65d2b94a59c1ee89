"""Small valid audio files of every input format, written here with PyAV and libsndfile.

Shared by the fuzz tests (their seeds) and the truncation tests (files that must never be
called truncated). Each spec is (name, writer); a writer takes a path without suffix and a
duration and returns the file it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

Writer = Callable[[Path, float], Path]


def tone(seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    """Two tones and a little noise: every codec has something to encode, nothing clips."""
    t = np.arange(round(seconds * rate)) / rate
    noise = 0.05 * np.random.default_rng(rate + channels).standard_normal((len(t), channels))
    return (np.stack([0.4 * np.sin(2 * np.pi * (330 + 220 * c) * t) for c in range(channels)], axis=1) + noise).astype(np.float32)


def with_pyav(
    suffix: str,
    container: str,
    encoder: str,
    rate: int,
    channels: int = 2,
    bit_rate: int | None = None,
    vbr_quality: int | None = None,
    options: dict[str, str] | None = None,
) -> Writer:
    """An encoder run through PyAV (FFmpeg), one frame of samples at once; ``vbr_quality`` is LAME's -V."""

    def write(path: Path, seconds: float) -> Path:
        path = path.with_suffix(suffix)
        layout = "mono" if channels == 1 else "stereo"
        with av.open(str(path), "w", format=container, options=options or {}) as output:
            stream = output.add_stream(encoder, rate=rate, layout=layout)
            if bit_rate:
                stream.bit_rate = bit_rate
            if vbr_quality is not None:
                stream.codec_context.qscale = True
                stream.codec_context.global_quality = vbr_quality * 118  # FF_QP2LAMBDA
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone(seconds, rate, channels).T), format="fltp", layout=layout)
            frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), 0
            output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
        return path

    return write


def with_libsndfile(suffix: str, fmt: str, subtype: str, rate: int, channels: int = 2) -> Writer:
    def write(path: Path, seconds: float) -> Path:
        path = path.with_suffix(suffix)
        sf.write(path, tone(seconds, rate, channels), rate, subtype=subtype, format=fmt)
        return path

    return write


# Per input format, a few variants that exercise different header layouts.
SEEDS: dict[str, list[tuple[str, Writer]]] = {
    "wav": [
        ("s16-44k-stereo", with_libsndfile(".wav", "WAV", "PCM_16", 44100)),
        ("s24-22k-mono", with_libsndfile(".wav", "WAV", "PCM_24", 22050, 1)),
        ("float-48k", with_libsndfile(".wav", "WAV", "FLOAT", 48000)),
        ("u8-8k-mono", with_libsndfile(".wav", "WAV", "PCM_U8", 8000, 1)),
    ],
    "flac": [
        ("s16-44k", with_libsndfile(".flac", "FLAC", "PCM_16", 44100)),
        ("s24-96k-mono", with_libsndfile(".flac", "FLAC", "PCM_24", 96000, 1)),
    ],
    "aiff": [
        ("s16-44k", with_libsndfile(".aiff", "AIFF", "PCM_16", 44100)),
        ("s24-32k-mono", with_libsndfile(".aiff", "AIFF", "PCM_24", 32000, 1)),
    ],
    "ogg": [
        ("vorbis-44k", with_libsndfile(".ogg", "OGG", "VORBIS", 44100)),
        ("vorbis-22k-mono", with_libsndfile(".ogg", "OGG", "VORBIS", 22050, 1)),
    ],
    "opus": [
        ("opus-48k", with_pyav(".opus", "opus", "libopus", 48000, bit_rate=64000)),
        ("opus-48k-mono", with_pyav(".opus", "ogg", "libopus", 48000, 1, bit_rate=32000)),
    ],
    "mp3": [
        ("cbr-44k-xing", with_pyav(".mp3", "mp3", "libmp3lame", 44100, bit_rate=128000)),
        ("vbr-22k-mono", with_pyav(".mp3", "mp3", "libmp3lame", 22050, 1, vbr_quality=4)),
        ("cbr-8k-no-xing", with_pyav(".mp3", "mp3", "libmp3lame", 8000, 1, bit_rate=32000, options={"write_xing": "0"})),
    ],
    "m4a": [
        ("aac-44k", with_pyav(".m4a", "ipod", "aac", 44100, bit_rate=128000)),
        ("aac-24k-mono-faststart", with_pyav(".m4a", "ipod", "aac", 24000, 1, bit_rate=48000, options={"movflags": "+faststart"})),
    ],
    "wma": [
        ("wmav2-44k", with_pyav(".wma", "asf", "wmav2", 44100, bit_rate=128000)),
        ("wmav1-22k-mono", with_pyav(".wma", "asf", "wmav1", 22050, 1, bit_rate=32000)),
    ],
}
