"""The operator's rules, each set as a whole: the tier ladder and the program rules.

Each is checked, stored as the JSON the operator sent, and put in this process's
configuration cache at once (other processes see it within ``config_ttl_s``).
"""

from __future__ import annotations

from . import keys
from .ladder import Ladder
from .program_rules import Program
from .store import Store
from .types import LadderSpec, ProgramSpec, encode


async def put_ladder(store: Store, spec: LadderSpec) -> LadderSpec:
    """Replace the tier ladder; InvalidInput names the first bad field."""
    ladder = Ladder.from_spec(spec)
    await store.client.set(keys.LADDER, encode(spec))
    store.config.put(keys.CACHE_LADDER, ladder)
    return spec


async def put_rules(store: Store, spec: ProgramSpec) -> ProgramSpec:
    """Replace the program rules (points, point value, growth); InvalidInput names the first bad field."""
    rules = Program.from_spec(spec)
    await store.client.set(keys.PROGRAM, encode(spec))
    store.config.put(keys.CACHE_PROGRAM, rules)
    return spec
