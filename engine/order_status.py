"""Orders that need a person: a session's orders by status, oldest first, a page at a time.

Every script that writes an order's status also moves the order in its session's index
(``SessionKeys.by_status``, lua_scripts/_order_index.lua): a sorted set whose entries,
all of score 0, are ``<status>|<created_ms, 13 digits>|<order id>``. A page is one
ZRANGEBYLEX over one status's range and one HMGET of the orders, whatever the session
holds (docs/decisions.md has the measurement against scanning the orders hash).
"""

from __future__ import annotations

import msgspec

from .orders import decode_order, order_view
from .sessions import require_def
from .store import Store
from .types import Order

# Every status an order can have (lua_scripts/reserve_order.lua and the scripts after it).
ORDER_STATUSES = ("pending", "reserved", "paid", "fulfilled", "cancelled", "expired", "paid_after_release",
                  "refunded")
# A position in one status's orders: (created_ms, the order id's 64-bit tail), the
# cursor ``<ms>-<n>`` in ASCII digits, as the leaders' lists write theirs.
Cursor = tuple[int, int]


class OrderPage(msgspec.Struct):
    orders: list[Order]
    next: str | None


def _entry(status: str, created_ms: int, order_id: str) -> str:
    return f"{status}|{created_ms:013d}|{order_id}"


def _cursor(entry: str) -> str:
    """The cursor after an index entry: its time and the order id's tail (16 hex digits) as a number."""
    _, created, order_id = entry.split("|", 2)
    return f"{int(created)}-{int(order_id.rpartition('-')[2], 16)}"


async def list_orders(store: Store, session_id: str, status: str, after: Cursor | None, limit: int) -> OrderPage:
    """The session's orders in ``status``, oldest first, at most ``limit``, after ``after``.

    ``status`` is one of ORDER_STATUSES (the edge checks); an unknown session is 404.
    """
    parsed = await require_def(store, session_id)
    k = parsed.keys
    low = f"[{status}|" if after is None else f"({_entry(status, after[0], f'{k.tag}-{after[1]:016x}')}"
    # "}" follows "|": the range holds this status's entries and no other's.
    entries = await store.client.zrangebylex(k.by_status, low, f"({status}}}", start=0, num=limit + 1)
    page = entries[:limit]
    ids = [entry.split("|", 2)[2] for entry in page]
    found = await store.client.hmget(k.orders, ids) if ids else []
    orders = [order_view(decode_order(raw), parsed.offset_minutes) for raw in found if raw]
    return OrderPage(orders=orders, next=_cursor(page[-1]) if len(entries) > limit else None)
