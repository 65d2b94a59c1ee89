"""spl: music source separation with the official Spleeter models.

The Python API is imported lazily, so that `spl --help` does not pay for it:

    from spleeter_cli import SpleeterEngine, SpleeterConfig, SpleeterCluster, ModelManager, CacheManager, get_stats_summary
    from spleeter_cli.exceptions import AudioProcessingError, ModelError, ValidationError
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SpleeterEngine": "spleeter_cli.engine",
    "SpleeterConfig": "spleeter_cli.engine",
    "SpleeterCluster": "spleeter_cli.cluster",
    "ModelManager": "spleeter_cli.models.store",
    "CacheManager": "spleeter_cli.cache.manager",
    "AudioProcessingError": "spleeter_cli.errors",
    "ModelError": "spleeter_cli.errors",
    "ValidationError": "spleeter_cli.errors",
    "CacheError": "spleeter_cli.errors",
    "get_stats_summary": "spleeter_cli.monitoring",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'spleeter_cli' has no attribute {name!r}")
