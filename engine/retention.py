"""Retention: an ended session's live state is kept for ``session_retention_s``, then
it goes and only its final stats stay (in the archive), so Redis does not grow with
every session ever held.

What goes: the session's roster, coupons, counters, products and the records of its
orders. Leaders keep their streams of routed orders (each event carries the order).
A session with an order still open (reserved or pending) is retried on a later pass.
"""

from __future__ import annotations

import logging

from lua_scripts import calls

from . import hot_sku, keys
from .clock import now_ms, to_ms
from .types import encode
from .errors import DomainError
from .sessions import load_def, state_at
from .stats import session_stats
from .store import Store

log = logging.getLogger("livebenefits.retention")
# Order ids per script call: a big room is retired in steps that keep Redis responsive.
_CHUNK = 500


async def retire_due(store: Store, now: int | None = None) -> list[str]:
    """Retire every session past its retention; returns the ids retired."""
    now = now_ms() if now is None else now
    keep_ms = int(store.settings.session_retention_s * 1000)
    retired = []
    for session_id in sorted(await store.client.smembers(keys.SESSIONS)):
        parsed = await load_def(store, session_id)
        if parsed is None or state_at(parsed, now) != "ended" or to_ms(parsed.spec.ends_at) + keep_ms > now:
            continue
        if await retire(store, session_id):
            retired.append(session_id)
    return retired


async def retire(store: Store, session_id: str) -> bool:
    """Archive the final stats, forget the orders, delete the session's keys."""
    parsed = await load_def(store, session_id)
    if parsed is None:
        return False
    k = parsed.keys
    try:
        final = await session_stats(store, session_id)
    except DomainError:
        return False  # another process retired it meanwhile
    await store.client.hset(keys.ARCHIVE, session_id, encode(final))
    order_ids = [order_id async for field, order_id in store.client.hscan_iter(k.roster, match="*|o|*")]
    # Orders first, in chunks; the last call also deletes the session's own keys.
    chunks = [order_ids[i:i + _CHUNK] for i in range(0, len(order_ids), _CHUNK)] or [[]]
    for n, chunk in enumerate(chunks):
        last = n == len(chunks) - 1
        result = await calls.retire_session(
            store.scripts, k, k.own([*parsed.skus, *parsed.dropped_skus]) if last else [], session_id=session_id,
            order_ids=chunk)
        if result.outcome == "open":
            log.info("session %s not retired yet: order %s is still open", session_id, result.value)
            return False
    # A hot SKU's buckets live in slots of their own (engine/hot_sku.py): deleted one by one.
    for product in parsed.products:
        if product.spec.buckets > 1:
            for bk in hot_sku.bucket_keys(session_id, product.spec.sku, product.spec.buckets):
                await calls.drop_bucket(store.scripts, bk)
    await store.client.srem(keys.SESSIONS, session_id)
    store.config.forget(keys.cached_session(session_id))
    log.info("session %s retired: %d orders forgotten, final stats archived", session_id, len(order_ids))
    return True
