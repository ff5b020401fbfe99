"""The operator's rules, each set as a whole: the tier ladder and the program rules.

Each is checked, stored as the JSON the operator sent, and put in this process's
configuration cache at once (other processes see it within ``config_ttl_s``).
"""

from __future__ import annotations

from . import keys, sessions
from .errors import InvalidInput
from .ladder import Ladder
from .program_rules import Program
from .store import Store
from .types import LadderSpec, ProgramSpec, encode


async def put_ladder(store: Store, spec: LadderSpec) -> LadderSpec:
    """Replace the tier ladder; InvalidInput names the first bad field.

    A members-only room admits its ``min_tier`` and the tiers above it, in the ladder's
    order, written into its products when it was defined: each such room is defined
    again under the new ladder, so the order script admits by the new order. A ladder
    that drops a tier such a room still names is refused (the room would admit nobody,
    or everybody).
    """
    ladder = Ladder.from_spec(spec)
    rooms = [parsed for parsed in [await sessions.load_def(store, sid)
                                   for sid in sorted(await store.client.smembers(keys.SESSIONS))]
             if parsed is not None and parsed.spec.min_tier is not None]
    for parsed in rooms:
        try:
            sessions.check_tier_names(parsed.spec, ladder)
        except InvalidInput as exc:
            raise InvalidInput(("tiers",), f"session {parsed.session_id!r} is members-only and names a tier "
                                           f"this ladder drops: {exc.detail}") from None
    await store.client.set(keys.LADDER, encode(spec))
    store.config.put(keys.CACHE_LADDER, ladder)
    for parsed in rooms:
        await sessions.define(store, parsed.session_id, parsed.spec, ladder)
    return spec


async def put_rules(store: Store, spec: ProgramSpec) -> ProgramSpec:
    """Replace the program rules (points, point value, growth); InvalidInput names the first bad field."""
    rules = Program.from_spec(spec)
    await store.client.set(keys.PROGRAM, encode(spec))
    store.config.put(keys.CACHE_PROGRAM, rules)
    return spec
