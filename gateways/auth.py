"""Who is calling: the bearer token's role and subject, checked against what a route needs."""

from __future__ import annotations

from starlette.requests import Request

from engine.errors import DomainError
from engine.identity import InvalidIdentity, normalise
from engine.tokens import InvalidToken, Principal, TokenVerifier


def _unauthorized(detail: str) -> DomainError:
    return DomainError("unauthorized", detail, status=401)


def principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send Authorization: Bearer <token>")
    verifier: TokenVerifier = request.state.verifier
    try:
        return verifier.verify(token.strip())
    except InvalidToken as exc:
        raise _unauthorized(f"invalid token: {exc}") from None


def require(request: Request, *roles: str) -> Principal:
    """The caller, if its role is one of ``roles``; else 401 (no valid token) or 403."""
    who = principal(request)
    if who.role not in roles:
        raise DomainError("forbidden", f"this needs the {' or '.join(roles)} role", status=403)
    return who


def viewer_identity(request: Request) -> str:
    """The viewer's normalised identity (``phone:+86...``) from its token's subject."""
    who = require(request, "viewer")
    try:
        return normalise(who.sub)
    except InvalidIdentity as exc:
        raise _unauthorized(f"token subject is not an identity: {exc}") from None
