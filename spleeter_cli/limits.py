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

    @classmethod
    def from_settings(cls, settings: Any) -> InputLimits:
        roots = settings.limits.allowed_roots
        return cls(
            max_file_mb=settings.limits.max_file_mb,
            max_duration=settings.limits.max_duration_seconds,
            allowed_roots=tuple(Path(os.path.realpath(root)) for root in roots) if roots else None,
        )

    def check_file(self, path: Path) -> None:
        """Where the file really is, and its size: both known without decoding it."""
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

    def check_duration(self, path: Path, seconds: float) -> None:
        """The length to separate, known after the probe (or from the cache's record)."""
        if self.max_duration is not None and seconds > self.max_duration:
            raise AudioProcessingError(
                f"is {seconds:.1f} s long, above the {self.max_duration:g} s limit",
                hint="separate part of it with `offset` and `duration`, or raise limits.max_duration_seconds (SPLEETER_MAX_DURATION)",
                path=str(path),
            )
