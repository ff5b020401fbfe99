"""Bearer tokens: HS256 JWTs with a role, a subject and an expiry (PyJWT).

Verified tokens are cached until they expire: a flash sale sends the same token many
times a second, and HMAC plus JSON parsing per request is a measurable share of the
order path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import jwt

from .settings import DEFAULT_TOKEN_MAX_TTL_S

ROLES = ("viewer", "leader", "operator", "host")
_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    # A viewer's subject is its phone number or another identity: kept out of logs.
    sub: str = field(repr=False)
    exp: int


class InvalidToken(Exception):
    pass


def mint(secret: str, role: str, sub: str, ttl_s: int = 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = int(time.time())
    return jwt.encode({"role": role, "sub": sub, "iat": now, "exp": now + ttl_s}, secret, algorithm="HS256")


class TokenVerifier:
    """Checks signature, expiry and claims; remembers tokens it has verified."""

    def __init__(self, secret: str, max_ttl_s: float = DEFAULT_TOKEN_MAX_TTL_S) -> None:
        self._secret = secret
        self._max_ttl_s = max_ttl_s
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    def __repr__(self) -> str:
        # Neither the secret nor the tokens: uvicorn logs lifespan state at its trace level.
        return f"TokenVerifier({len(self._verified)} tokens cached)"

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            if cached.exp > time.time():
                return cached
            del self._verified[token]
            raise InvalidToken("token expired")
        if not self._secret:
            raise InvalidToken("this engine has no LIVEBENEFITS_JWT_SECRET")
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"],
                                options={"require": ["exp", "sub", "role"]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        role, sub, exp = claims.get("role"), claims.get("sub"), claims.get("exp")
        if role not in ROLES or not isinstance(sub, str) or not sub or not isinstance(exp, int):
            raise InvalidToken("claims must carry role, sub and exp")
        # PyJWT has checked that iat, when there is one, is a number and not in the future.
        issued = claims.get("iat")
        lifetime = exp - min(issued, time.time()) if isinstance(issued, (int, float)) else exp - time.time()
        if lifetime > self._max_ttl_s:
            raise InvalidToken(f"token lives longer than the {self._max_ttl_s:g} s this engine accepts")
        principal = Principal(role, sub, exp)
        self._verified[token] = principal
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal
