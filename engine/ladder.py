"""The tier ladder: which tier a member's growth puts them in, and what comes next."""

from __future__ import annotations

import zlib
from bisect import bisect_right
from decimal import Decimal

from .types import LadderSpec, NextTier, Tier
from .validation import invalid, thousandths

GUEST = "guest"


class Ladder:
    """Tiers ordered by min_growth; a member's tier is the highest it has reached."""

    def __init__(self, tiers: list[Tier]) -> None:
        self.tiers = tiers
        self._thresholds = [t.min_growth for t in tiers]
        self.by_name = {t.name: t for t in tiers}
        # Names this ladder in a room's roster: a seat's tier computed under another
        # ladder is not trusted (engine/roster.py).
        self.digest = f"{zlib.crc32(repr([(t.name, t.min_growth, t.multiplier_milli) for t in tiers]).encode()):08x}"

    @classmethod
    def from_spec(cls, spec: LadderSpec) -> "Ladder":
        if not spec.tiers:
            raise invalid(("tiers",), "needs at least one tier")
        names: set[str] = set()
        tiers = []
        for i, t in enumerate(spec.tiers):
            if t.name == GUEST:
                raise invalid(("tiers", i, "name"), "`guest` is reserved for viewers who are not members")
            if t.name in names:
                raise invalid(("tiers", i, "name"), "tier names must be unique")
            names.add(t.name)
            if i == 0 and t.min_growth != 0:
                raise invalid(("tiers", i, "min_growth"), "the first tier starts at 0")
            if i > 0 and t.min_growth <= spec.tiers[i - 1].min_growth:
                raise invalid(("tiers", i, "min_growth"), "must rise strictly")
            milli = thousandths(t.points_multiplier, ("tiers", i, "points_multiplier"),
                                low=Decimal(0), high=Decimal(10), low_open=True)
            tiers.append(Tier(t.name, t.min_growth, Decimal(milli) / 1000))
        return cls(tiers)

    @property
    def lowest(self) -> Tier:
        return self.tiers[0]

    def tier_for(self, growth: int) -> Tier:
        return self.tiers[max(bisect_right(self._thresholds, growth) - 1, 0)]

    def next_tier(self, growth: int) -> NextTier | None:
        i = bisect_right(self._thresholds, growth)
        return NextTier(self.tiers[i].name, self.tiers[i].min_growth) if i < len(self.tiers) else None

    def multiplier_milli(self, tier_name: str) -> int:
        """Guests (and tiers since removed) earn at 1x."""
        tier = self.by_name.get(tier_name)
        return tier.multiplier_milli if tier else 1000


# Before an operator defines a ladder every member is "regular", multiplier 1.
DEFAULT = Ladder([Tier("regular", 0, Decimal(1))])
