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


def rfc3339(ms: int, offset_minutes: int = 0) -> str:
    """``ms`` rendered in the given UTC offset (a session's own, so times read naturally)."""
    tz = timezone(timedelta(minutes=offset_minutes))
    # Whole seconds read best; milliseconds when there are any, so a flash sale opening
    # at :51.202 is not shown as opening at :51 (an order then would be refused).
    timespec = "seconds" if ms % 1000 == 0 else "milliseconds"
    return (_EPOCH + ms * _MS).astimezone(tz).isoformat(timespec=timespec)
