"""Identities (One ID): ``kind:value`` strings, normalised so one person is one key.

Phones become E.164: ``138 0000 0000``, ``+86 138-0000-0000`` and ``8613800000000`` are
all ``phone:+8613800000000``. A bare 11-digit number starting with 1 is a mainland
China mobile.
"""

from __future__ import annotations

import re
import unicodedata

KINDS = ("phone", "wechat", "unionid", "douyin", "kuaishou", "card", "member")
_VALUE = re.compile(r"^[A-Za-z0-9._@+=-]{1,128}$")
_PHONE_NOISE = re.compile(r"[\s()\-.]")
# ASCII digits only: Python's \d also matches "３" and "٣".
_CN_MOBILE = re.compile(r"^1[0-9]{10}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_MEMBER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class InvalidIdentity(ValueError):
    pass


def normalise(identity: str) -> str:
    """The canonical form of ``kind:value``, or InvalidIdentity saying what is wrong."""
    kind, sep, value = identity.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in KINDS:
        raise InvalidIdentity(f"identity must be kind:value with kind one of {', '.join(KINDS)}")
    value = value.strip()
    if kind == "phone":
        return "phone:" + _phone(value)
    if kind == "member":
        if not _MEMBER_ID.fullmatch(value):
            raise InvalidIdentity("member id must be 1-64 characters of letters, digits and . _ : -")
        return "member:" + value
    if not _VALUE.fullmatch(value):
        raise InvalidIdentity(f"{kind} value must be 1-128 chars of [A-Za-z0-9._@+=-]")
    return f"{kind}:{value}"


def _ascii(raw: str) -> str:
    """Full-width and other scripts' digits (and a full-width plus) as ASCII: a phone typed
    "1３800000001" is the same phone as "13800000001"."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in text)


def _phone(raw: str) -> str:
    if raw.isascii() and raw[:1] == "+" and _E164.fullmatch(raw):
        return raw  # already E.164: the common case in bulk imports
    digits = _PHONE_NOISE.sub("", _ascii(raw))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if _CN_MOBILE.fullmatch(digits):
        return "+86" + digits
    if digits.startswith("86") and _CN_MOBILE.fullmatch(digits[2:]):
        return "+" + digits
    if _E164.fullmatch(digits):
        return digits
    raise InvalidIdentity(f"phone {raw!r} is not a phone number")


def member_named(identity: str) -> str | None:
    """The member id a ``member:<id>`` identity names directly, else None."""
    return identity[7:] if identity.startswith("member:") else None
