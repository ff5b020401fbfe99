"""Members' display names: kept in full for operators, masked for the host's screen.

A name is its own field of the member's bucket (``<member_id>|n``, set by the import,
an operator, or the platform's ``viewer.joined``), so the packed record that every
entry and order reads does not grow. The host never sees a name whole, nor any
identity: ``王小明`` is ``王**``, a member without a name is the tail of its id
(``…0042``), and a guest is ``guest``.
"""

from __future__ import annotations

from lua_scripts import calls

from . import keys
from .errors import DomainError
from .store import Store

GUEST_NAME = "guest"
_TAIL = 4


def masked(name: str | None, member_id: str | None) -> str:
    """What the host's screen shows: the first character of the name and a star for each
    other one (at least one, so a one-character name is not shown whole); else ``…`` and
    the last four characters of the member id; else ``guest``."""
    if name:
        return name[0] + "*" * max(1, len(name) - 1)
    if member_id:
        return "…" + member_id[-_TAIL:]
    return GUEST_NAME


def _field(member_id: str) -> str:
    return f"{member_id}|n"


# The field a member's name is kept in, for a read that takes it with the record.
name_field = _field


async def full_name(store: Store, member_id: str) -> str | None:
    """The member's display name as given (operators only), or None."""
    return await store.client.hget(keys.MemberKeys(member_id).members, _field(member_id))


async def masked_name(store: Store, member_id: str | None) -> str:
    """The name the host sees for a member (None: a guest)."""
    if member_id is None:
        return GUEST_NAME
    return masked(await full_name(store, member_id), member_id)


async def set_name(store: Store, member_id: str, name: str | None, *, only_if_unset: bool = False) -> bool:
    """Set (or with None remove) a member's display name; whether it was written.

    ``only_if_unset``: the platform's nickname does not replace a name already there.
    Unknown member: ``unknown_member``.
    """
    done = await calls.name_member(store.scripts, keys.MemberKeys(member_id), member_id=member_id,
                                   name=name or "", only_if_unset=only_if_unset)
    if done < 0:
        raise DomainError("unknown_member", f"no member {member_id!r}")
    return done == 1
