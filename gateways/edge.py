"""Helpers every route uses: decode a body, check a path id, encode a result."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from engine.codec import encode
from engine.store import Store
from engine.types import ID_PATTERN

from .problems import invalid_request

T = TypeVar("T")
_ID = re.compile(ID_PATTERN)
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def store(request: Request) -> Store:
    return request.state.store


def path_id(request: Request, name: str) -> str:
    value = request.path_params[name]
    if not _ID.match(value):
        raise invalid_request(f"`{name}` must be 1-64 characters of [A-Za-z0-9._:-] - at `$.path.{name}`")
    return value


async def body(request: Request, kind: type[T], *, optional: bool = False) -> T:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    raw = await request.body()
    if optional and not raw.strip():
        return kind()
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise invalid_request(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise invalid_request(f"body is not valid JSON: {exc}") from None


def json(value: Any, status: int = 200) -> Response:
    return Response(encode(value), status_code=status, media_type="application/json")
