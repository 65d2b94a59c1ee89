"""The error names of the original design (``spleeter_cli.exceptions``), the very classes of ``errors``.

A second hierarchy would let ``except exceptions.ModelError`` miss an ``errors.ModelError``;
these are the same objects, so either import catches what the other raises. Each carries
``.context``: a dict naming what the failure concerns (``path``, ``setting``, ``model``...).
"""

from __future__ import annotations

from .errors import AudioProcessingError, CacheError, ModelError, OutputError, SplError, ValidationError

SpleeterError = SplError  # the design's name for the common base

__all__ = ["AudioProcessingError", "CacheError", "ModelError", "OutputError", "SpleeterError", "SplError", "ValidationError"]
