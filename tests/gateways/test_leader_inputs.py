"""A leader's list and stream inputs (``after``, ``limit``, ``Last-Event-ID``): anything but
a cursor or limit this engine could have given out is a 422 naming its field, never a 5xx.

Digits are ASCII digits only (``str.isdigit`` and ``\\d`` also take "²" and "٣"); a
cursor's two numbers are unsigned 64-bit, as Redis stream ids are.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.helpers import Api, auth
from tests.payments.support import assert_problem

from .test_leaders import paid, setup

U64 = 2**64 - 1
BAD_CURSORS = [
    f"{U64 + 1}-0", f"0-{U64 + 1}", "٣-٣", "²-0", "0-²", "1", "1-", "-1", "-1-0", "1-2-3", "1.0-0", " 1-0", "1-0 ",
    "1-0\n", "+1-0", "0x1-0", "1_0-0", "", "9" * 21 + "-0", "9" * 5000 + "-0", "１-０",
]
BAD_LIMITS = ["²", "٣", "１", "0", "501", "-1", "+5", "1e2", "5.0", " 5", "", "9" * 5000, "0x10"]


def leader(api: Api) -> dict[str, str]:
    return auth(api.secret, "leader", "L-01")


def names(response: httpx.Response, field: str) -> None:
    body = assert_problem(response, 422, "invalid_request")
    assert f"`{field}`" in body["detail"], body


@pytest.mark.parametrize("cursor", BAD_CURSORS)
async def test_a_bad_after_is_a_422_naming_after(api: Api, cursor: str) -> None:
    for path in ("/v1/leaders/L-01/orders", "/v1/leaders/L-01/orders/stream"):
        names(await api.http.get(f"{path}?after={quote(cursor, safe='')}", headers=leader(api)), "after")


@pytest.mark.parametrize("cursor", [c for c in BAD_CURSORS if c and c.strip() == c])
async def test_a_bad_last_event_id_is_a_422_naming_it(api: Api, cursor: str) -> None:
    # Header values are bytes; a client may send UTF-8, which the server reads as latin-1.
    headers = {**leader(api), "Last-Event-ID": cursor.encode()}
    names(await api.http.get("/v1/leaders/L-01/orders/stream", headers=headers), "Last-Event-ID")


@pytest.mark.parametrize("limit", BAD_LIMITS)
async def test_a_bad_limit_is_a_422_naming_limit(api: Api, limit: str) -> None:
    names(await api.http.get(f"/v1/leaders/L-01/orders?limit={quote(limit, safe='')}", headers=leader(api)),
          "limit")


async def test_the_largest_cursors_are_valid_and_nothing_follows_them(api: Api) -> None:
    await setup(api)
    order = await paid(api, "phone:13800000001", "k1")
    for cursor in (f"{U64}-{U64}", f"{U64}-0", f"{U64 - 1}-{U64}"):
        r = await api.http.get(f"/v1/leaders/L-01/orders?after={cursor}&limit=500", headers=leader(api))
        assert r.status_code == 200, r.text
        assert r.json()["orders"] == [] and r.json()["next"] is None
    # Leading zeros and the smallest cursor are fine too.
    for cursor in ("0-0", "00000000000000000000-00000000000000000000"):
        r = await api.http.get(f"/v1/leaders/L-01/orders?after={cursor}&limit=001", headers=leader(api))
        assert r.status_code == 200, r.text
        assert [o["order_id"] for o in r.json()["orders"]] == [order["order_id"]]
