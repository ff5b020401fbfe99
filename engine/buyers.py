"""Who a leader serves: a buyer's display name and its phone masked (138****0001).

A leader delivers to its members, so it sees the name in full (the host's screen sees
it masked, engine/display_names.py); never a whole phone number or any other identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import display_names, keys
from .store import Store

# Digits of a phone shown at each end; the rest are stars.
_HEAD, _TAIL = 3, 4


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str | None
    masked_phone: str | None
    growth: int = 0


def mask_phone(identity: str) -> str | None:
    """``phone:+8613800000001`` -> ``138****0001`` (a mainland number without its +86);
    another country's keeps its code's digits at the head. Not a phone: None."""
    if not identity.startswith("phone:"):
        return None
    digits = identity.removeprefix("phone:").removeprefix("+")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) <= _HEAD + _TAIL:
        return "*" * len(digits)
    return digits[:_HEAD] + "****" + digits[-_TAIL:]


def fields(member_id: str) -> list[str]:
    """What to HMGET of the member's bucket (``keys.MemberKeys(member_id).members``):
    its packed record and its display name, one read."""
    return [member_id, display_names.name_field(member_id)]


def from_fields(record: str | None, name: str | None) -> Buyer:
    """The buyer from what ``fields`` read."""
    # The packed record: growth|points|leader|identities (lua_scripts/_member_record.lua).
    parts = record.split("|", 3) if record else []
    identities = parts[3].split(",") if len(parts) == 4 else []
    phone = next((masked for i in identities if (masked := mask_phone(i))), None)
    return Buyer(name, phone, int(parts[0]) if parts else 0)


async def buyer(store: Store, member_id: str) -> Buyer:
    """The member's name and first phone, masked; one read of its bucket."""
    return from_fields(*await store.client.hmget(keys.MemberKeys(member_id).members, fields(member_id)))
