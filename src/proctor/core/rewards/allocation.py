"""Splitting an epoch's budget over scores, in exact integer arithmetic (reference pool-api §5.3).

Pure: plain data in, plain data out. The rule, for a budget `B` (integer units):

1. Enabled competitions with a positive weight share `B` by weight:
   `competition_amount_c = B × w_c / Σ w_enabled`.
2. Inside a competition, miners share that by score: `miner_c = competition_amount_c × s / Σ s_c`.
   A miner in several competitions gets the sum.
3. Every quantity is an exact rational (weights and scores arrive as exact ratios parsed from the
   snapshot's decimal text, never through binary floats). Each miner gets the floor of its exact
   amount; the units lost to flooring, `floor(Σ exact) − Σ floor(exact)`, go one each to the miners
   with the largest fractional parts, ties broken by hotkey (ascending). The result is the same
   whatever the order of competitions and miners in the input.

So the allocated total is `floor(B × Σ w_c / Σ w_enabled)` over the competitions that have at least one
positive score: exactly `B` when every enabled competition has scored miners, never more. The share of
an enabled competition with nobody scored stays unallocated (it is not handed to the others, which
would silently change the operator's weights).

Amounts are cumulative across epochs: `accumulate` adds an allocation to the previous epoch's amounts,
so a hotkey's amount never decreases and a hotkey absent from later scores keeps its total.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple, Protocol

#: Largest amount and total proctor publishes: leaves are uint64, the database columns signed BIGINT.
MAX_UNITS = 2**63 - 1


class Rational(Protocol):
    """An exact number: `int`, `Fraction` or `Exact` (anything with an integer numerator/denominator)."""

    @property
    def numerator(self) -> int: ...

    @property
    def denominator(self) -> int: ...


class Exact(NamedTuple):
    """A rational as parsed from decimal text, unnormalised: far cheaper to build than a `Fraction`
    (a snapshot carries a score per miner, a million of them)."""

    numerator: int
    denominator: int


@dataclass(frozen=True)
class Competition:
    """One competition of a score snapshot: its weight and each miner's score (both exact, ≥ 0)."""

    weight: Rational
    scores: Mapping[str, Rational]
    name: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Allocation:
    """The units each hotkey receives from one budget (only positive amounts are listed)."""

    budget_units: int
    amounts: dict[str, int] = field(default_factory=dict)

    @property
    def allocated_units(self) -> int:
        return sum(self.amounts.values())


def _fraction(value: Rational, competition: str, what: str) -> Fraction:
    number = Fraction(value.numerator, value.denominator)
    if number < 0:
        raise ValueError(f"competition {competition!r}: {what} must not be negative")
    return number


def allocate(budget_units: int, competitions: Sequence[Competition]) -> Allocation:
    """Split `budget_units` over `competitions` (rules in the module docstring)."""
    if budget_units < 0 or budget_units > MAX_UNITS:
        raise ValueError(f"budget must be between 0 and {MAX_UNITS} units")
    weights = [(c, _fraction(c.weight, c.name, "weight")) for c in competitions if c.enabled]
    enabled = [(c, w) for c, w in weights if w > 0]
    total_weight = sum((w for _, w in enabled), Fraction(0))
    if budget_units == 0 or total_weight == 0:
        return Allocation(budget_units)
    # Miner amount = budget·(w/W)·(s'/S') = numerator·s' / denominator, with scores s' scaled to integers.
    parts: list[tuple[int, int, dict[str, int]]] = []
    for competition, weight in enabled:
        scores, total = _integer_scores(competition)
        if total:
            share = weight / total_weight
            parts.append((budget_units * share.numerator, share.denominator * total, scores))
    if not parts:
        return Allocation(budget_units)
    common = math.lcm(*(denominator for _, denominator, _ in parts))
    exact: dict[str, int] = {}  # each miner's exact amount × common
    for numerator, denominator, scores in parts:
        factor = numerator * (common // denominator)
        get = exact.get
        for hotkey, score in scores.items():
            exact[hotkey] = get(hotkey, 0) + factor * score
    return Allocation(budget_units, _round(exact, common))


def _round(exact: dict[str, int], common: int) -> dict[str, int]:
    """Floor every amount, then hand the flooring loss out by largest remainder (ties: hotkey order)."""
    target = sum(exact.values()) // common
    amounts: dict[str, int] = {}
    ranked: list[tuple[int, str]] = []  # (−remainder, hotkey): ascending = largest remainder, then hotkey
    for hotkey, value in exact.items():
        units, remainder = divmod(value, common)
        amounts[hotkey] = units
        if remainder:
            ranked.append((-remainder, hotkey))
    leftover = target - sum(amounts.values())
    chosen = heapq.nsmallest(leftover, ranked) if leftover * 8 < len(ranked) else sorted(ranked)[:leftover]
    for _, hotkey in chosen:
        amounts[hotkey] += 1
    return {hotkey: units for hotkey, units in amounts.items() if units > 0}


def _integer_scores(competition: Competition) -> tuple[dict[str, int], int]:
    """The positive scores scaled to integers over one common denominator, and their sum."""
    positive: dict[str, tuple[int, int]] = {}
    for hotkey, score in competition.scores.items():
        numerator, denominator = score.numerator, score.denominator
        if numerator < 0 or denominator <= 0:
            raise ValueError(f"competition {competition.name!r}: the score of {hotkey} must not be negative")
        if numerator:
            positive[hotkey] = (numerator, denominator)
    if not positive:
        return {}, 0
    scale = math.lcm(*{denominator for _, denominator in positive.values()})
    scaled = {hotkey: n * (scale // d) for hotkey, (n, d) in positive.items()}
    return scaled, sum(scaled.values())


def accumulate(previous: Mapping[str, int], allocation: Mapping[str, int]) -> dict[str, int]:
    """Cumulative amounts: `previous` plus this epoch's allocation (ValueError past MAX_UNITS)."""
    amounts = dict(previous)
    for hotkey, units in allocation.items():
        if units < 0:
            raise ValueError(f"negative allocation for {hotkey}")
        amounts[hotkey] = amounts.get(hotkey, 0) + units
        if amounts[hotkey] > MAX_UNITS:
            raise ValueError(f"cumulative amount of {hotkey} would exceed {MAX_UNITS} units")
    if sum(amounts.values()) > MAX_UNITS:
        raise ValueError(f"the epoch total would exceed {MAX_UNITS} units")
    return amounts
