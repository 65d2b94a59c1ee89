"""What can be checked about audio files and output settings without decoding anything.

Kept apart from ``codec`` so that validating options, and runs served from the
cache, never pay for importing NumPy, PyAV and libsndfile. The output formats and
their defaults are defined here once; the settings (``config.py``) check against them.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..errors import AudioProcessingError, ValidationError, user_path

SUPPORTED_CODECS = ("wav", "flac", "mp3", "ogg", "m4a")
LOSSLESS_CODECS = ("wav", "flac")  # take a bit depth; the others take a bitrate
BIT_DEPTHS = (16, 24, 32)  # 32 is float, WAV only
DEFAULT_CODEC = "wav"
DEFAULT_BIT_DEPTH = 16
DEFAULT_BITRATE = "192k"
DEFAULT_FILENAME_FORMAT = "{filename}/{instrument}.{codec}"  # inside the output directory; fields in separate/outputs.py


def _input_error(path: Path, message: str, hint: str) -> AudioProcessingError:
    return AudioProcessingError(message, hint=hint, path=str(path))


def past_the_end(offset: float, length: float) -> str:
    """One wording whether the probe's length or the decoder finds the offset beyond the audio."""
    return f"`offset` {offset:g} s is past the end: the audio is only {length:.1f} s long"


def check_file(path: Path) -> None:
    """Refuse what cannot be an audio file at all: missing, unreadable, a folder, empty.

    One ``stat`` and one ``open``: every way they can fail (a symlink loop, a name too long,
    no permission) becomes an ``AudioProcessingError`` in the words of ``errors.path_error``.
    """
    with user_path(AudioProcessingError, path):
        status = os.stat(path)
        if stat.S_ISDIR(status.st_mode):
            raise _input_error(path, "is a directory, not an audio file", "give a file, or a glob such as 'dir/*.mp3'")
        if not stat.S_ISREG(status.st_mode):  # a device, pipe or socket: no length to plan by, no second pass to read
            raise _input_error(path, "is not a regular file (a device or pipe)", "save the audio to a file first")
        if status.st_size == 0:
            raise _input_error(path, "file is empty", "re-export or re-download it")
        with open(path, "rb"):  # readable: root passes any mode bits, so only opening tells
            pass


def check_output_options(codec: str, bitrate: str | None, bit_depth: int) -> int:
    """Validate what an ``AudioWriter`` would be given, before any work; returns the bitrate in bit/s."""
    if codec not in SUPPORTED_CODECS:
        raise ValidationError(f"unknown codec '{codec}'", hint=f"choose one of: {', '.join(SUPPORTED_CODECS)}")
    if bit_depth not in BIT_DEPTHS:
        raise ValidationError(f"bit depth must be 16, 24 or 32, not {bit_depth}", hint="use 16, 24 or 32 (32 is float, WAV only)")
    if codec == "flac" and bit_depth == 32:
        raise ValidationError("FLAC stores at most 24 bits", hint="use bit depth 24, or wav for 32-bit float")
    return parse_bitrate(bitrate or DEFAULT_BITRATE)


def parse_bitrate(bitrate: str) -> int:
    """'128k' -> 128000; MP3 tops out at 320k and below 32k every codec sounds broken."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(k?)(?:bps)?\s*", bitrate, re.IGNORECASE)
    value = round(float(match[1]) * (1000 if match[2] else 1)) if match else 0
    if not 32_000 <= value <= 320_000:
        raise ValidationError(f"invalid bitrate '{bitrate}'", hint="give a bitrate between 32k and 320k, such as 128k or 320k")
    return value
