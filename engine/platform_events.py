"""Events the livestream platform pushes, decoded in one step as a tagged union.

Platform structs are tolerant: unknown fields are ignored (the platform adds fields
over time), unlike our own API's.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from .types import DeliveryContact, Fen, Id

Identity = Annotated[str, Meta(min_length=1, max_length=200)]


class SessionData(msgspec.Struct):
    session_id: Id


class JoinedData(msgspec.Struct):
    session_id: Id
    identities: Annotated[list[Identity], Meta(min_length=1, max_length=20)]
    leader_ref: str | None = None
    # The viewer's name on the platform: a member's display name unless it has one
    # (engine/display_names.py); cut to 64 characters, ignored for a guest.
    display_name: str | None = None


class ViewerData(msgspec.Struct):
    session_id: Id
    identity: Identity


class WatchedData(msgspec.Struct):
    session_id: Id
    identity: Identity
    minutes: Annotated[int, Meta(ge=0, le=24 * 60)]


class InteractedData(msgspec.Struct):
    """Likes, comments... a viewer made; ``kind`` outside engine/heat.py's KINDS counts as "other"."""
    session_id: Id
    identity: Identity
    kind: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}(?!\n)$")]
    count: Annotated[int, Meta(ge=1, le=1_000_000)] = 1


class PaidData(msgspec.Struct):
    order_id: Id
    amount: Fen
    # Optional: the buyer's delivery contact, for its leader (engine/buyers.py).
    contact: DeliveryContact | None = None


class OrderData(msgspec.Struct):
    order_id: Id


class Event(msgspec.Struct, tag_field="type"):
    pass


class LiveStarted(Event, tag="live.started"):
    data: SessionData


class LiveEnded(Event, tag="live.ended"):
    data: SessionData


class ViewerJoined(Event, tag="viewer.joined"):
    data: JoinedData


class ViewerLeft(Event, tag="viewer.left"):
    data: ViewerData


class ViewerWatched(Event, tag="viewer.watched"):
    data: WatchedData


class ViewerShared(Event, tag="viewer.shared"):
    data: ViewerData


class ViewerInteracted(Event, tag="viewer.interacted"):
    data: InteractedData


class OrderPaid(Event, tag="order.paid"):
    data: PaidData


class OrderRefunded(Event, tag="order.refunded"):
    data: OrderData


PlatformEvent = (LiveStarted | LiveEnded | ViewerJoined | ViewerLeft | ViewerWatched | ViewerShared
                 | ViewerInteracted | OrderPaid | OrderRefunded)
KNOWN_TYPES = frozenset(cls.__struct_config__.tag for cls in PlatformEvent.__args__)  # type: ignore[union-attr]


class Envelope(msgspec.Struct):
    type: str = ""


decode_event = msgspec.json.Decoder(PlatformEvent).decode
decode_envelope = msgspec.json.Decoder(Envelope).decode
