"""Limits on what `spl` agrees to separate, for servers and shared machines (``limits`` in the settings).

A service that separates uploaded files needs to refuse a 4-hour recording or a 2 GB
file before it ties up a worker, and must not follow a symlink out of the upload
folder into the rest of the filesystem. Each check costs a ``stat`` or a probe the
pipeline does anyway; with nothing configured they all pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AudioProcessingError


@dataclass(frozen=True)
class InputLimits:
    max_file_mb: float | None = None
    max_duration: float | None = None  # seconds actually separated (after --offset/--duration)
    allowed_roots: tuple[Path, ...] | None = None
    formats: tuple[str, ...] | None = None  # file extensions accepted (audio.supported_formats)
    memory_mb: float | None = None  # an input does not start while spl's resident memory is above this

    @classmethod
    def from_settings(cls, settings: Any) -> InputLimits:
        roots = settings.limits.allowed_roots
        return cls(
            max_file_mb=settings.limits.max_file_mb,
            max_duration=settings.limits.max_duration_seconds,
            allowed_roots=tuple(Path(os.path.realpath(root)) for root in roots) if roots else None,
            formats=settings.audio.supported_formats,
            memory_mb=settings.performance.memory_limit_mb,
        )

    def check_file(self, path: Path) -> None:
        """Where the file really is, its kind and size: all known without decoding it."""
        if self.formats is not None:
            extension = path.suffix.lstrip(".").lower()
            if extension not in self.formats:
                raise AudioProcessingError(
                    f"is {'a .' + extension if extension else 'a file without an extension'}, not one of the accepted formats",
                    hint="convert it, or add it to audio.supported_formats (SPLEETER_SUPPORTED_FORMATS): " + ", ".join(self.formats),
                    path=str(path),
                )

        if self.allowed_roots is not None:
            real = Path(os.path.realpath(path))
            if not any(real == root or real.is_relative_to(root) for root in self.allowed_roots):
                via = f" (a symlink to {real})" if real != Path(os.path.abspath(path)) else ""
                raise AudioProcessingError(
                    f"is outside the allowed folders{via}",
                    hint="move it under one of limits.allowed_roots: " + ", ".join(map(str, self.allowed_roots)),
                    path=str(path),
                )
        if self.max_file_mb is not None:
            size_mb = path.stat().st_size / 2**20
            if size_mb > self.max_file_mb:
                raise AudioProcessingError(
                    f"is {size_mb:.1f} MB, above the {self.max_file_mb:g} MB limit",
                    hint="raise limits.max_file_mb (SPLEETER_MAX_FILE_MB) or split the file",
                    path=str(path),
                )

    def check_memory(self, path: Path) -> None:
        """Before an input is decoded: spl's resident memory, against ``performance.memory_limit_mb``."""
        if self.memory_mb is None:
            return
        import psutil  # a few ms, only when a memory limit is set

        used_mb = psutil.Process().memory_info().rss / 2**20
        if used_mb > self.memory_mb:
            raise AudioProcessingError(
                f"not started: spl uses {used_mb:.0f} MB, above the {self.memory_mb:g} MB memory limit",
                hint="raise performance.memory_limit_mb (SPLEETER_MEMORY_LIMIT_MB), or use fewer --jobs",
                path=str(path),
            )

    def check_duration(self, path: Path, seconds: float) -> None:
        """The length to separate, known after the probe (or from the cache's record)."""
        if self.max_duration is not None and seconds > self.max_duration:
            raise AudioProcessingError(
                f"is {seconds:.1f} s long, above the {self.max_duration:g} s limit",
                hint="separate part of it with `offset` and `duration`, or raise limits.max_duration_seconds (SPLEETER_MAX_DURATION)",
                path=str(path),
            )
