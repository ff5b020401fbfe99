"""Wall-clock time as integer milliseconds, and RFC 3339 rendering.

Scripts take ``now`` from the caller, so every check in one request sees one instant.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """An aware datetime as integer ms since the epoch, computed without floats."""
    return (moment - _EPOCH) // _MS


_ZONES: dict[int, timezone] = {}


def rfc3339(ms: int, offset_minutes: int = 0) -> str:
    """``ms`` rendered in the given UTC offset (a session's own, so times read naturally)."""
    tz = _ZONES.get(offset_minutes)
    if tz is None:
        tz = _ZONES[offset_minutes] = timezone(timedelta(minutes=offset_minutes))
    seconds, millis = divmod(ms, 1000)
    # Whole seconds read best; milliseconds when there are any, so a flash sale opening
    # at :51.202 is not shown as opening at :51 (an order then would be refused).
    if millis == 0:
        return datetime.fromtimestamp(seconds, tz).isoformat(timespec="seconds")
    return datetime.fromtimestamp(seconds, tz).replace(microsecond=millis * 1000).isoformat(timespec="milliseconds")
