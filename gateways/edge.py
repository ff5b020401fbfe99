"""Helpers every route uses: decode a body, check a path id, encode a result.

The checks take plain values (a header's text, a path segment, the ASGI ``receive``)
so the hot routes (gateways/hot.py) apply the very same rules without a Request.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive

from engine import leader_orders
from engine.store import Store
from engine.types import ID_PATTERN, encode, validation_message

from .problems import invalid_request, payload_too_large

T = TypeVar("T")
_ID = re.compile(ID_PATTERN)
# What a JSON body may weigh unless its route says otherwise: an operator's tiers,
# settings, leader or stock change is a few hundred bytes.
JSON_LIMIT = 16 * 1024
# msgspec raises RecursionError, not a DecodeError, for JSON nested past its depth limit.
NESTED_TOO_DEEPLY = "body is not valid JSON: nested too deeply"
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def store(request: Request) -> Store:
    return request.state.store


def checked_id(name: str, value: str) -> str:
    """``value`` of the path parameter ``name`` if it is an id; else 422."""
    if not _ID.match(value):
        raise invalid_request(f"`{name}` must be an id: 1-64 characters of letters, digits and . _ : - "
                              f"- at `$.path.{name}`")
    return value


def path_id(request: Request, name: str) -> str:
    return checked_id(name, request.path_params[name])


def decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """The one decoder of ``kind``, built the first time it is asked for."""
    found = _decoders.get(kind)
    if found is None:
        found = _decoders[kind] = msgspec.json.Decoder(kind)
    return found


def decoded(raw: bytes, kind: type[T], *, optional: bool = False) -> T:
    """``raw`` as a ``kind``; ``optional``: an empty body is ``kind()``. Anything else is 422."""
    if optional and not raw.strip():
        return kind()
    try:
        return decoder(kind).decode(raw)
    except msgspec.ValidationError as exc:
        raise invalid_request(validation_message(exc)) from None
    except msgspec.DecodeError as exc:
        raise invalid_request(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid_request(NESTED_TOO_DEEPLY) from None


async def read_capped(receive: Receive, content_length: str | None, limit: int) -> bytes:
    """The request body, refused with 413 before buffering more than ``limit`` bytes."""
    if content_length is not None and content_length.isascii() and content_length.isdigit() \
            and (len(content_length) > 12 or int(content_length) > limit):
        raise payload_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise payload_too_large(limit)
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


async def body(request: Request, kind: type[T], *, optional: bool = False, limit: int = JSON_LIMIT) -> T:
    """The request's JSON body as a ``kind``: 413 past ``limit`` bytes (before reading them), 422 if not a ``kind``."""
    raw = await read_capped(request.receive, request.headers.get("content-length"), limit)
    return decoded(raw, kind, optional=optional)


def json(value: Any, status: int = 200) -> Response:
    return Response(encode(value), status_code=status, media_type="application/json")


def query_limit(request: Request) -> int:
    """``?limit=``: 1-500, default 100; anything else is 422 naming it (every paged list)."""
    raw = request.query_params.get("limit", "100")
    # ASCII digits only: str.isdigit() also takes "²" and "٣", which int() then refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= 500):
        raise invalid_request("`limit` must be a whole number 1-500 in ASCII digits - at `$.query.limit`")
    return int(raw)


def cursor_param(text: str, name: str, where: str) -> leader_orders.Cursor:
    """A cursor this engine gave out, or 422 naming ``name``, the field it came in, at ``where``."""
    found = leader_orders.parse_cursor(text)
    if found is None:
        raise invalid_request(f"`{name}` is not a cursor this engine gave out: <ms>-<seq>, "
                              f"ASCII digits, each at most {leader_orders.CURSOR_PART_MAX} - at `{where}`")
    return found


def query_after(request: Request) -> leader_orders.Cursor | None:
    """``?after=``: the ``next`` of the previous page (every paged list)."""
    after = request.query_params.get("after")
    return None if after is None else cursor_param(after, "after", "$.query.after")


def resume_cursor(request: Request) -> leader_orders.Cursor | None:
    """Where an event stream resumes: EventSource's Last-Event-ID header, else ``?after=``
    for clients that cannot set it."""
    header = request.headers.get("last-event-id")
    return cursor_param(header, "Last-Event-ID", "$.headers.Last-Event-ID") if header else query_after(request)


def query_id_after(request: Request) -> str | None:
    """``?after=`` of a list paged by id (a leader's members): the ``next`` of the previous page."""
    after = request.query_params.get("after")
    if after is not None and not _ID.match(after):
        raise invalid_request("`after` must be an id: 1-64 characters of letters, digits and . _ : - "
                              "- at `$.query.after`")
    return after
