"""Quantities people type: sizes ('500MB') and durations ('7d'), parsed one way by every command."""

from __future__ import annotations

import re

from .errors import ValidationError

_BYTES = {"": 1, "b": 1} | {prefix + suffix: 1024**power for power, prefix in enumerate("kmgt", 1) for suffix in ("", "b", "ib")}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_QUANTITY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")


def parse_size(text: str, option: str = "size") -> int:
    """'500MB', '2GB', '1.5g', '4096' -> bytes; units are powers of 1024 (KB = KiB), like the cache limits."""
    match = _QUANTITY.fullmatch(text.lower())
    if not match or match[2] not in _BYTES:
        raise ValidationError(f"invalid {option} {text!r}", hint="use a number and a unit, e.g. 500MB, 2GB or 1KB")
    return int(float(match[1]) * _BYTES[match[2]])


def seconds_in(text: str, unit_required: bool = False) -> float | None:
    """'30m', '12h', '7d', '2w', '45s' -> seconds, and a bare '90' too unless ``unit_required``
    (where a bare number could mean something else, such as a year); None if ``text`` is no duration."""
    match = _QUANTITY.fullmatch(text.lower())
    if not match or not (match[2] in _SECONDS or (match[2] == "" and not unit_required)):
        return None
    return float(match[1]) * _SECONDS.get(match[2], 1)


def parse_duration(text: str, option: str = "duration") -> float:
    """Seconds in a duration such as '30m' or '7d' (see ``seconds_in``); anything else is a usage error."""
    seconds = seconds_in(text)
    if seconds is None:
        raise ValidationError(f"invalid {option} {text!r}", hint="use a number and a unit, e.g. 30m, 12h or 7d")
    return seconds
