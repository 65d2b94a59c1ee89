"""Audio in and out under one name: ``reader`` decodes any file, ``writer`` encodes stems.

Callers use ``codec.probe``, ``codec.AudioReader``, ``codec.AudioWriter``, ``codec.encode``...;
the two halves live in their own modules because they share nothing but the formats table.
"""

from __future__ import annotations

from .formats import SUPPORTED_CODECS, check_file, check_output_options, parse_bitrate  # noqa: F401 (re-exported)
from .reader import AudioInfo, AudioReader, _open, decode, probe  # noqa: F401 (re-exported)
from .writer import AudioWriter, encode  # noqa: F401 (re-exported)
