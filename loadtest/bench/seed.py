"""What the engine is given before it is measured, all through its public API.

The ladder, ten leaders, the bench session (one SKU with stock and a per-member limit
no run can exhaust, one coupon template), and ``members`` members imported as NDJSON
generated on the fly: each with a phone and a WeChat id, growth and points, every
third one bound to a leader. The first ``BUYERS`` of them are the buyers wrk rotates
through, for the engine (by token) and for the peers (by member id) alike.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson

from engine.tokens import mint
from gateways import member_import
from gateways.member_import import ImportOptions

SESSION_ID = "BENCH-LIVE"
SKU = "BENCH-SKU"
BUYERS = 1000
LEADERS = [f"L-{n:02d}" for n in range(1, 11)]
LADDER = {"tiers": [
    {"name": "regular", "min_growth": 0, "points_multiplier": 1.0},
    {"name": "silver", "min_growth": 1000, "points_multiplier": 1.2},
    {"name": "gold", "min_growth": 5000, "points_multiplier": 1.5},
    {"name": "black_diamond", "min_growth": 20000, "points_multiplier": 2.0},
]}
# Lines per chunk of the import stream: the generator never holds more than this.
_CHUNK_LINES = 2000
# A part of the import the engine failed (5xx, a broken connection) is sent again at most this many times.
_RETRIES = 2
_CST = timezone(timedelta(hours=8))


def member_id(n: int) -> str:
    return f"bm-{n:07d}"


def phone(n: int) -> str:
    return f"phone:+86139{n:08d}"


def member_line(n: int) -> dict[str, Any]:
    # Deterministic spread over the tiers and balances; no RNG state to carry around.
    spread = (n * 2654435761) % 2**32
    line: dict[str, Any] = {
        "member_id": member_id(n), "identities": [phone(n), f"wechat:wx{n:08x}bench"],
        "growth": spread % 30000, "points": spread % 5000,
    }
    if n % 3 == 0:
        line["leader_id"] = LEADERS[n % len(LEADERS)]
    return line


def import_stream(first: int, count: int) -> Iterator[bytes]:
    """NDJSON of members ``first`` .. ``first + count - 1``, a chunk at a time."""
    end = first + count
    for start in range(first, end, _CHUNK_LINES):
        yield b"".join(orjson.dumps(member_line(n)) + b"\n" for n in range(start, min(end, start + _CHUNK_LINES)))


def session_spec() -> dict[str, Any]:
    now = datetime.now(_CST)
    return {
        "title": "Benchmark live", "starts_at": (now - timedelta(minutes=10)).isoformat(),
        "ends_at": (now + timedelta(hours=6)).isoformat(), "points_multiplier": 2.0, "reservation_minutes": 60,
        "products": [{"sku": SKU, "name": "Benchmark milk", "base_price": 3990,
                      "tier_prices": {"gold": 3590, "black_diamond": 2990},
                      "stock": 10**9, "per_member_limit": 10**6}],
        "coupons": [{"template_id": "bench-5pct", "tiers": None, "kind": "percent_off", "value": 5,
                     "min_spend": 0, "budget": 10**9, "valid_minutes": 600}],
    }


class EngineClient:
    def __init__(self, base_url: str, jwt_secret: str) -> None:
        self.base_url = base_url
        self.secret = jwt_secret
        self.operator_token = mint(jwt_secret, "operator", "bench-operator", 6 * 3600)
        self.operator = {"Authorization": f"Bearer {self.operator_token}"}

    def viewer_authorization(self, identity: str) -> str:
        return f"Bearer {mint(self.secret, 'viewer', identity, 6 * 3600)}"

    def setup(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.operator, timeout=30) as client:
            client.put("/v1/tiers", json=LADDER).raise_for_status()
            for leader in LEADERS:
                client.put(f"/v1/leaders/{leader}", json={"name": f"Leader {leader}"}).raise_for_status()
            client.put(f"/v1/sessions/{SESSION_ID}", json=session_spec()).raise_for_status()

    def import_members(self, first: int, count: int, part_lines: int,
                       parts_in_flight: int = 1) -> tuple[float, dict[str, int], list[str]]:
        """Import members first..first+count-1 with ``livebenefits import``'s client
        (gateways/member_import.py): parts of ``part_lines`` lines, ``parts_in_flight``
        at a time, a part answered 5xx or cut off sent again (the import is an upsert).

        Returns (seconds, the engine's reports added up, what was retried and why).
        """
        options = ImportOptions(self.base_url, self.operator_token, part_lines=part_lines,
                                parts_in_flight=parts_in_flight, retries=_RETRIES)
        source = io.BufferedReader(_Generated(import_stream(first, count)), buffer_size=1024 * 1024)
        try:
            result = asyncio.run(member_import.send(options, source))
        except (member_import.EngineRefused, member_import.EngineUnreachable) as exc:
            raise RuntimeError(str(exc)) from None
        if result.rejected:
            raise RuntimeError(f"the engine rejected {result.rejected} line(s)")
        totals = {"imported": result.imported, "updated": result.updated}
        # A retried part may have been applied in part: its lines come back as updated.
        if result.imported + result.updated != count:
            raise RuntimeError(f"import did not take every member: {totals}")
        return result.seconds, totals, result.retried


class _Generated(io.RawIOBase):
    """A byte stream read from an iterator of chunks, for the import client's reader."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
