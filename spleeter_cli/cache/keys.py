"""Content hashes that name cache entries.

A cache key says *what* was computed, never *where* it was written: the input's
bytes, the model and its weights, the options that change the encoded bytes and
the spl version. The output directory and ``--filename-format`` are left out on
purpose: they only decide where the same bytes land, so renaming an output
folder or a file pattern still hits the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from functools import lru_cache

_BLOCK = 2**20


def input_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, hex.

    Memoized per (path, size, mtime_ns) within the process, so a batch that looks
    the same input up several times (cache check, then history) reads it once,
    while a file rewritten in place is hashed again.
    """
    resolved = os.path.realpath(path)
    status = os.stat(resolved)
    return _file_digest(resolved, status.st_size, status.st_mtime_ns)


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Hash ``path`` in 1 MB blocks; ``size`` and ``mtime_ns`` only key the memo."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def cache_key(input_digest: str, model: str, weights_digest: str, options: Mapping[str, object], version: str) -> str:
    """A hex sha256 over a canonical JSON of everything that decides the output bytes.

    ``options`` are the output-changing ones the caller chooses (codec, bitrate,
    bit_depth, offset, duration, mwf...). Numbers are compared by value, so
    ``offset=0`` and ``offset=0.0`` give one key; ``None`` and a missing option
    do not (the caller should pass every option it keys on, even at its default).
    """
    document = {
        "input": input_digest,
        "model": model,
        "weights": weights_digest,
        "options": {str(name): _canonical(value, name) for name, value in options.items()},
        "version": version,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _canonical(value: object, name: object) -> str | float | bool | None:
    """One JSON spelling per value; anything else is a caller bug, refused rather than str()-ed."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    raise TypeError(f"cache key option {name!r} has unsupported type {type(value).__name__}")
