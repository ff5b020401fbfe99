"""Checks shared by the operator's documents (ladder, rules, leaders, sessions): each
refuses with InvalidInput naming the field, which the gateway turns into a 422."""

from __future__ import annotations

from decimal import Decimal

from .errors import Field, InvalidInput


def invalid(field: Field, message: str) -> InvalidInput:
    return InvalidInput(field, message)


def thousandths(value: Decimal, field: Field, *, low: Decimal, high: Decimal, low_open: bool = False) -> int:
    """A decimal with at most three places as integer thousandths, bounds checked."""
    if not value.is_finite() or value < low or value > high or (low_open and value == low):
        op = ">" if low_open else ">="
        raise invalid(field, f"must be {op} {low} and <= {high}")
    if value != value.quantize(Decimal("0.001")):
        raise invalid(field, "must have at most 3 decimal places")
    return int(value * 1000)
