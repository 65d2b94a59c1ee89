"""Synthetic test songs: drums, bass, chords and a vibrato 'voice', any length, streamed to disk.

Deterministic for a seed, so benchmark runs compare like with like; written in
blocks, so a 30-minute file costs the generator no more memory than a 3-minute one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44_100
BEAT = 0.5  # seconds (120 bpm)
BLOCK_SECONDS = 8.0  # a whole number of beats


def _block(start: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = start + np.arange(int(seconds * RATE)) / RATE
    beat_phase = (t % BEAT) / BEAT
    bar = (t // (4 * BEAT)).astype(int)
    kick = np.sin(2 * np.pi * 55 * (t % BEAT)) * np.exp(-18 * (t % BEAT))
    hat = rng.standard_normal(len(t)) * np.exp(-60 * ((t + BEAT / 2) % BEAT)) * 0.15
    roots = np.array([110.0, 87.3, 130.8, 98.0])[bar % 4]
    bass = 0.35 * np.sign(np.sin(2 * np.pi * roots * t)) * (0.6 + 0.4 * np.exp(-4 * beat_phase))
    chord = sum(0.08 * np.sin(2 * np.pi * roots * 2 * ratio * t) for ratio in (1.0, 1.26, 1.5))
    pitch = roots * 4 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2 * (0.5 + 0.5 * np.sin(np.pi * t / (2 * BEAT)) ** 2)
    left = 0.6 * kick + hat + bass + chord + voice
    right = 0.6 * kick + 0.7 * hat + bass + 0.8 * chord + voice
    return (0.5 * np.stack([left, right], axis=1)).astype(np.float32)


def write_song(path: Path, seconds: float, seed: int = 0, subtype: str = "PCM_16") -> Path:
    """Write a ``seconds``-long stereo 44.1 kHz song (format from the extension)."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", RATE, 2, subtype=subtype) as out:
        start = 0.0
        while start < seconds:
            length = min(BLOCK_SECONDS, seconds - start)
            out.write(_block(start, length, rng))
            start += length
    return path
