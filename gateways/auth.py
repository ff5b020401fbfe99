"""Who is calling: the bearer token's role and subject, checked against what a route needs.

The checks take the Authorization header's text and the verifier, so the hot routes
(gateways/hot.py) share them without building a Request.
"""

from __future__ import annotations

import functools

from starlette.requests import Request

from engine.errors import DomainError
from engine.identity import InvalidIdentity, normalise
from engine.tokens import InvalidToken, Principal, TokenVerifier

# A viewer sends the same subject with every request; normalising runs regexes. Bounded
# like the verifier's token cache (an invalid subject raises, and is not remembered).
_normalised = functools.lru_cache(maxsize=100_000)(normalise)


def _unauthorized(detail: str) -> DomainError:
    return DomainError("unauthorized", detail)


def bearer(authorization: str, verifier: TokenVerifier) -> Principal:
    """The principal of an ``Authorization: Bearer <token>`` header's value; else 401."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send Authorization: Bearer <token>")
    try:
        return verifier.verify(token.strip())
    except InvalidToken as exc:
        raise _unauthorized(f"invalid token: {exc}") from None


def principal(request: Request) -> Principal:
    return bearer(request.headers.get("authorization", ""), request.state.verifier)


def _role(who: Principal, roles: tuple[str, ...]) -> Principal:
    if who.role not in roles:
        raise DomainError("forbidden", f"this needs the {' or '.join(roles)} role")
    return who


def require(request: Request, *roles: str) -> Principal:
    """The caller, if its role is one of ``roles``; else 401 (no valid token) or 403."""
    return _role(principal(request), roles)


def viewer_of(authorization: str, verifier: TokenVerifier) -> str:
    """The viewer's normalised identity (``phone:+86...``) from its token's subject."""
    who = _role(bearer(authorization, verifier), ("viewer",))
    try:
        return _normalised(who.sub)
    except InvalidIdentity as exc:
        raise _unauthorized(f"token subject is not an identity: {exc}") from None


def viewer_identity(request: Request) -> str:
    """The viewer's normalised identity (``phone:+86...``) from its token's subject."""
    return viewer_of(request.headers.get("authorization", ""), request.state.verifier)
