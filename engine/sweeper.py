"""The sweeper: expires unpaid reservations and finishes two-slot work a crash left half done.

Every engine process runs it, with no lock: every step it takes is a script guarded by
the order's state (a reservation is released once, whoever gets there first) or is
idempotent (points go back once per hold).
"""

from __future__ import annotations

import asyncio
import logging
import time

from lua_scripts import calls

from . import hot_sku, keys, payments, retention
from .clock import now_ms
from .orders import StoredOrder, decode_order, finish_bucket_return, finish_points_release, release
from .sessions import load_def
from .store import Store

log = logging.getLogger("livebenefits.sweeper")
_BATCH = 200
# An outbox entry younger than this is still being finished by the request that wrote it.
OUTBOX_GRACE_MS = 5_000
_RETIRE_EVERY_S = 60.0


async def session_tags(store: Store) -> set[str]:
    return {keys.session_tag(sid) for sid in await store.client.smembers(keys.SESSIONS)}


async def sweep_once(store: Store, now: int | None = None) -> int:
    """One pass over every session tag; returns how many orders it settled."""
    now = now_ms() if now is None else now
    settled = 0
    for tag in await session_tags(store):
        tk = keys.TagKeys(tag)
        settled += await _expire_due(store, tk, now)
        await _finish_outbox(store, tk, now)
    await _sweep_hot_skus(store, now)
    return settled


async def _sweep_hot_skus(store: Store, now: int) -> None:
    """Units of bucketed SKUs that a crash stranded between two slots go back (engine/hot_sku.py)."""
    for session_id in await store.client.smembers(keys.SESSIONS):
        parsed = await load_def(store, session_id)
        if parsed is not None and parsed.hot:
            await hot_sku.sweep(store, session_id, parsed.hot, now)


async def _expire_due(store: Store, tk: keys.TagKeys, now: int) -> int:
    due = await store.client.zrangebyscore(tk.expiry, "-inf", now, start=0, num=_BATCH)
    if not due:
        return 0
    settled = 0
    for order_id, raw in zip(due, await store.client.hmget(tk.orders, due)):
        if raw is None:
            await store.client.zrem(tk.expiry, order_id)
            continue
        order = decode_order(raw)
        if order.status == "reserved":
            settled += await release(store, order, "expired") is not None
        elif order.status == "pending":
            settled += await _settle_pending(store, order)
        else:
            await store.client.zrem(tk.expiry, order_id)
    return settled


async def _settle_pending(store: Store, order: StoredOrder) -> int:
    """A points order whose request died between its two halves: finish it or undo it."""
    mk = keys.MemberKeys(order.member_id)
    hold = await calls.void_hold(store.scripts, mk, order_id=order.order_id)
    k = keys.SessionKeys(order.session_id)
    if hold == "held":
        await calls.confirm_order(store.scripts, k, k.product(order.sku), order_id=order.order_id)
        return 0
    return await release(store, order, "aborted") is not None


async def _finish_outbox(store: Store, tk: keys.TagKeys, now: int) -> None:
    entries = await store.client.zrangebyscore(tk.outbox, "-inf", now - OUTBOX_GRACE_MS, start=0, num=_BATCH)
    for entry in entries:
        kind, order_id = keys.outbox_kind(entry)
        raw = await store.client.hget(tk.orders, order_id)
        finish = _FINISHERS.get(kind)
        if raw is None or finish is None:
            log.warning("dropping outbox entry %s: %s", entry, "no order" if raw is None else "unknown kind")
            await store.client.zrem(tk.outbox, entry)
            continue
        await finish(store, decode_order(raw))


_FINISHERS = {
    keys.OUTBOX_RELEASE_POINTS: finish_points_release,
    keys.OUTBOX_CREDIT: payments.finish_credit,
    keys.OUTBOX_DEBIT: payments.finish_debit,
    keys.OUTBOX_BUCKET_RETURN: finish_bucket_return,
}


async def run(store: Store, stop: asyncio.Event) -> None:
    """Sweep every ``sweep_interval_s`` until ``stop`` is set; errors are logged, not fatal.

    Sessions past their retention are retired about once a minute.
    """
    retire_at = 0.0
    while not stop.is_set():
        try:
            await sweep_once(store)
            if time.monotonic() >= retire_at:
                retire_at = time.monotonic() + _RETIRE_EVERY_S
                await retention.retire_due(store)
        except Exception:  # noqa: BLE001 - a failed pass is retried on the next tick
            log.exception("sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), store.settings.sweep_interval_s)
        except TimeoutError:
            pass
