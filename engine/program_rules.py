"""Program rules (points, point value, growth), set by the operator as a whole."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .validation import thousandths
from .types import ProgramSpec


@dataclass(frozen=True, slots=True)
class Program:
    spec: ProgramSpec
    max_points_discount_milli: int

    @classmethod
    def from_spec(cls, spec: ProgramSpec) -> "Program":
        """The rules, checked: the ratio is a decimal in [0, 1] with at most 3 places."""
        milli = thousandths(spec.max_points_discount_ratio, ("max_points_discount_ratio",),
                            low=Decimal(0), high=Decimal(1))
        return cls(spec, milli)


DEFAULT = Program.from_spec(ProgramSpec())
