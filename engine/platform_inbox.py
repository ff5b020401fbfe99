"""Applying platform webhooks: each event once, whatever the retries.

A webhook id is claimed before its event is applied ("pending", 60 s) and marked
"done" (25 h) after: a duplicate of a done event is acknowledged and not applied, a
duplicate of one still running is told to come back (409), and a claim whose process
died lapses so the platform's retry applies it. Effects that are not idempotent by
themselves (growth for watching and sharing) also remember the event id in the
member's slot, atomically with the effect, so even that lapse cannot apply them twice.
"""

from __future__ import annotations

import logging

from lua_scripts import calls

from . import display_names, entry, heat, keys, members, metrics, payments, roster, sessions
from .clock import now_ms, to_ms
from .errors import DomainError, Field, InvalidInput
from .identity import InvalidIdentity, normalise
from .platform_events import (LiveEnded, LiveStarted, OrderPaid, OrderRefunded, PlatformEvent,
                              ViewerInteracted, ViewerJoined, ViewerLeft, ViewerShared, ViewerWatched)
from .sessions import SessionDef
from .store import Store

log = logging.getLogger("livebenefits.platform")
# The result of an ``order.paid`` that the platform must refund.
PAID_AFTER_RELEASE = "paid_after_release"
_PENDING_S = 60
_DONE_S = 25 * 3600


async def receive(store: Store, webhook_id: str, event: PlatformEvent) -> str:
    """Apply ``event`` once; returns the result for the webhooks metric."""
    seen = keys.webhook_seen(webhook_id)
    if not await store.client.set(seen, "pending", ex=_PENDING_S, nx=True):
        done, _, kept = (await store.client.get(seen) or "").partition("|")
        if done == "done":
            # A repeat is told what needs acting on again: a refund is not lost with an answer.
            return kept or "duplicate"
        raise DomainError("request_in_progress", "this webhook-id is being applied; retry later")
    try:
        result = await _apply_unless_erased(store, webhook_id, event)
    except BaseException:
        await store.client.delete(seen)
        raise
    await store.client.set(seen, f"done|{result}" if result == PAID_AFTER_RELEASE else "done", ex=_DONE_S)
    return result


def _identity(raw: str, field: Field) -> str:
    try:
        return normalise(raw)
    except InvalidIdentity as exc:
        raise InvalidInput(field, str(exc)) from None


def _unknown_session(session_id: str) -> DomainError:
    return InvalidInput(("data", "session_id"), f"no session {session_id!r}")


async def _require_session(store: Store, session_id: str) -> None:
    if await sessions.load_def(store, session_id) is None:
        raise _unknown_session(session_id)


async def _apply_unless_erased(store: Store, webhook_id: str, event: PlatformEvent) -> str:
    """An event about a viewer whose member was erased is acknowledged and ignored: the
    platform cannot un-send it, and a refusal would only make it retry."""
    try:
        return await apply(store, webhook_id, event)
    except DomainError as exc:
        if exc.code == "member_erased":
            return "ignored"
        raise


async def apply(store: Store, webhook_id: str, event: PlatformEvent) -> str:
    match event:
        case LiveStarted(data=d) | LiveEnded(data=d):
            state = "live" if isinstance(event, LiveStarted) else "ended"
            try:
                await sessions.set_state(store, d.session_id, state)
            except DomainError as exc:
                raise _unknown_session(d.session_id) if exc.code == "unknown_session" else exc
            return "applied"
        case ViewerJoined(data=d):
            return await _joined(store, webhook_id, d.session_id,
                                 [_identity(i, ("data", "identities", n)) for n, i in enumerate(d.identities)],
                                 d.leader_ref, d.display_name)
        case ViewerLeft(data=d):
            await _require_session(store, d.session_id)
            identity = _identity(d.identity, ("data", "identity"))
            member_id, _ = await members.resolve(store, identity)
            k = keys.SessionKeys(d.session_id)
            left = await calls.leave_session(store.scripts, k, viewer=member_id or identity)
            return "applied" if left else "ignored"
        case ViewerWatched(data=d) | ViewerShared(data=d):
            return await _growth(store, webhook_id, event)
        case ViewerInteracted(data=d):
            identity = _identity(d.identity, ("data", "identity"))
            try:
                # The webhook id goes into the script too: a claim that lapsed after the
                # count was written cannot count it twice.
                await heat.count(store, d.session_id, identity, d.kind, d.count, webhook_id)
            except DomainError as exc:
                raise _unknown_session(d.session_id) if exc.code == "unknown_session" else exc
            return "applied"
        case OrderPaid(data=d):
            paid = await payments.pay(store, d.order_id, d.amount, d.contact)
            # Any payment of an order whose reservation was released, the first or a repeat,
            # is answered so the platform refunds it: the stock has gone back on sale.
            return PAID_AFTER_RELEASE if paid.order.status == PAID_AFTER_RELEASE else paid.status
        case OrderRefunded(data=d):
            return (await payments.refund(store, d.order_id)).status
    raise DomainError("invalid_request", f"unhandled event {type(event).__name__}")


async def _joined(store: Store, webhook_id: str, session_id: str, identities: list[str],
                  leader_ref: str | None, display_name: str | None = None) -> str:
    """One ID, then exactly what entering does (the entry counted once per webhook id)."""
    member_id, conflict = await members.link_identities(store, identities)
    name = (display_name or "").strip()[:64]
    if member_id and name:
        # Before entering, so a VIP's arrival on the host's screen carries it. An
        # operator's or an import's name is kept: the platform's nickname only fills a gap.
        try:
            await display_names.set_name(store, member_id, name, only_if_unset=True)
        except DomainError as exc:
            if exc.code != "unknown_member":
                raise
    as_viewer = f"member:{member_id}" if member_id else identities[0]
    try:
        await entry.enter(store, as_viewer, session_id, leader_ref, webhook_id)
    except DomainError as exc:
        if exc.code == "unknown_session":
            raise _unknown_session(session_id) from None
        if exc.code in ("session_ended", "members_only"):
            # Nothing to apply (a members-only room does not let this viewer in), and
            # nothing for the platform to send again.
            return "ignored"
        raise
    return "conflict" if conflict else "applied"


async def _live_session(store: Store, session_id: str, now: int) -> SessionDef:
    """The session a viewer watches or shares: growth comes only from a live one."""
    parsed = await sessions.load_def(store, session_id)
    if parsed is None:
        raise _unknown_session(session_id)
    state = sessions.state_at(parsed, now)
    if state == "ended":
        raise DomainError("session_ended", f"session {session_id!r} has ended: watching and sharing earn nothing")
    if state != "live":
        raise DomainError("session_not_live", f"session {session_id!r} is not live yet")
    return parsed


def _day(now: int, offset_minutes: int) -> int:
    """Days since the epoch, counted in the session's own UTC offset."""
    return (now + offset_minutes * 60_000) // 86_400_000


async def _growth(store: Store, webhook_id: str, event: ViewerWatched | ViewerShared) -> str:
    d = event.data
    now = now_ms()
    parsed = await _live_session(store, d.session_id, now)
    identity = _identity(d.identity, ("data", "identity"))
    member_id, _ = await members.resolve(store, identity)
    if member_id is None:
        return "ignored"  # growth needs a member; a guest's minutes are not kept
    rules = (await store.config.program()).spec
    if isinstance(event, ViewerWatched):
        kind, units, per_unit, most = "watch", event.data.minutes, rules.growth_per_30_watch_minutes, 0
    else:
        kind, units, per_unit, most = "share", 1, rules.growth_per_share, rules.max_shares_per_session
    # No member watches a session longer than it lasts (rounded up to a whole minute).
    length = -(-(to_ms(parsed.spec.ends_at) - to_ms(parsed.spec.starts_at)) // 60_000)
    result = await calls.add_growth(store.scripts, keys.MemberKeys(member_id), member_id=member_id,
                                    webhook_id=webhook_id, now=now, kind=kind, session_id=d.session_id,
                                    units=units, growth_per_unit=per_unit, most_shares=most, most_minutes=length,
                                    day=_day(now, parsed.offset_minutes),
                                    daily_cap=store.settings.daily_activity_growth_cap)
    if result.outcome == "err":
        return "ignored"
    if result.outcome == "ok":
        ladder = await store.config.ladder()
        metrics.count_growth(ladder, result.growth_before, result.growth_after)
        if ladder.tier_for(result.growth_before) != ladder.tier_for(result.growth_after):
            await roster.reseat(store, d.session_id, member_id, result.growth_after)
    return "applied" if result.outcome == "ok" else "duplicate"
