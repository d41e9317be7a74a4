"""Exact money: amounts are integer micro-units (1 AITBC = 1,000,000 µ); decimals only at the edges.

Wire values arrive as decimals with at most six places and leave as decimals; nothing in between is a
float, so the ledger never drifts (0.1 + 0.2 is exactly 0.3 here).
"""

from __future__ import annotations

from decimal import Decimal

MICRO = 1_000_000
PLACES = 6
CURRENCY = "AITBC"
_QUANTUM = Decimal(1).scaleb(-PLACES)


def to_micro(amount: Decimal) -> int:
    """A decimal amount as integer micro-units; ValueError when it is negative, not finite or too precise."""
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"amount must be a finite, non-negative number, not {amount}")
    scaled = amount * MICRO
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {amount} has more than {PLACES} decimal places")
    return int(scaled)


def from_micro(micro: int) -> Decimal:
    """Integer micro-units as an exact decimal with six places."""
    return (Decimal(micro) / MICRO).quantize(_QUANTUM)


def ratio(numerator_micro: int, denominator: Decimal) -> Decimal:
    """micro-units ÷ a positive quantity, in whole currency with six places (0 when the quantity is 0)."""
    if denominator <= 0:
        return Decimal(0).quantize(_QUANTUM)
    return (Decimal(numerator_micro) / MICRO / denominator).quantize(_QUANTUM)
