"""Content-addressed cache of separated stems: memory (L1), disk (L2), Redis (L3).

Importing this package stays light (no NumPy, no TensorFlow, Redis only once a URL
is configured) so `spl cache stats` answers at once.
"""

from .keys import cache_key, input_digest
from .manager import CacheHit, CacheManager, CorruptEntry, pack, unpack
from .tiers import DiskTier, MemoryTier, RedisTier, Tier, TierStats, redact

__all__ = [
    "CacheHit",
    "CacheManager",
    "CorruptEntry",
    "DiskTier",
    "MemoryTier",
    "RedisTier",
    "Tier",
    "TierStats",
    "cache_key",
    "input_digest",
    "pack",
    "redact",
    "unpack",
]
