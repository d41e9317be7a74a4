"""Where an epoch's scores come from.

* A snapshot in the autoresearch format (reference pool-api §5.3), from a file or an http(s) URL:

      {"competitions": [{"weight": 0.7, "enabled": true, "name": "…",
                         "miners": [{"hotkey": "5…", "score": 12.5}, …]}, …]}

  `weight` defaults to 1 and `enabled` to true; other keys are ignored. Numbers are read from their
  decimal text (never through binary floats), so `0.1` is exactly one tenth. Weights and scores must be
  finite and non-negative, a hotkey may appear once per competition; anything else refuses the whole
  snapshot with a message naming the offending entry, before anything is written.
* proctor's own scores: the ORO top-agent policy. The current top miner of the active suite gets
  `top_emission_weight` of the budget; the rest of the budget is not allocated (ORO burns it).

Each source carries a label and the SHA-256 of its canonical content, stored with the epoch for audit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.evaluations import top as top_service
from proctor.core.rewards.allocation import Competition, Exact
from proctor.core.rewards.errors import InvalidScores, ScoresUnavailable
from proctor.core.suites import service as suite_service
from proctor.errors import SuiteNotFound

MAX_EXPONENT = 100  # numbers beyond 10**±100 are refused (they only make big integers bigger)
MAX_BITS = 4 * MAX_EXPONENT
PROCTOR_SOURCE = "proctor:top"
POOL_SOURCE = "pool"


@dataclass(frozen=True)
class ScoreSource:
    label: str
    sha256: str
    competitions: tuple[Competition, ...]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


def parse_snapshot(data: bytes, *, label: str) -> ScoreSource:
    """Parse an autoresearch reward snapshot; `InvalidScores` on any malformed entry."""
    try:
        document = json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidScores(f"score snapshot {label} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("competitions"), list):
        raise InvalidScores(f"score snapshot {label} has no `competitions` list")
    competitions = tuple(_competition(item, i) for i, item in enumerate(document["competitions"]))
    return ScoreSource(label=label, sha256=hashlib.sha256(data).hexdigest(), competitions=competitions)


def _competition(item: Any, position: int) -> Competition:
    where = f"competitions[{position}]"
    if not isinstance(item, dict):
        raise InvalidScores(f"{where} must be an object")
    name = str(item.get("name") or item.get("id") or item.get("slug") or position)
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidScores(f"{where}.enabled must be true or false")
    miners = item.get("miners", [])
    if not isinstance(miners, list):
        raise InvalidScores(f"{where}.miners must be a list")
    scores: dict[str, Exact] = {}
    for index, miner in enumerate(miners):
        spot = f"{where}.miners[{index}]"
        if not isinstance(miner, dict):
            raise InvalidScores(f"{spot} must be an object")
        hotkey = miner.get("hotkey")
        if not isinstance(hotkey, str) or not 0 < len(hotkey) <= 64:
            raise InvalidScores(f"{spot}.hotkey must be an SS58 address")
        if hotkey in scores:
            raise InvalidScores(f"{spot}: hotkey {hotkey} appears twice in {where}")
        scores[hotkey] = exact_number(miner.get("score"), f"{spot}.score")
    weight = exact_number(item.get("weight", 1), f"{where}.weight")
    return Competition(weight=weight, scores=scores, name=name, enabled=enabled)


def exact_number(value: Any, where: str) -> Exact:
    """A finite, non-negative number from JSON (int, decimal text or numeric string), exactly."""
    if value.__class__ is int:  # not bool
        if value < 0:
            raise InvalidScores(f"{where} must not be negative")
        if value.bit_length() > MAX_BITS:
            raise InvalidScores(f"{where} is out of range")
        return Exact(value, 1)
    if value.__class__ is Decimal:
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidScores(f"{where} must be a number") from None
    else:
        raise InvalidScores(f"{where} must be a number")
    if not number.is_finite():
        raise InvalidScores(f"{where} must be finite")
    if number and abs(number.adjusted()) > MAX_EXPONENT:  # checked before building any big integer
        raise InvalidScores(f"{where} is out of range")
    numerator, denominator = number.as_integer_ratio()
    if numerator < 0:
        raise InvalidScores(f"{where} must not be negative")
    if denominator.bit_length() > MAX_BITS:
        raise InvalidScores(f"{where} has too many digits")
    return Exact(numerator, denominator)


async def load_snapshot(location: str, *, max_bytes: int, timeout_seconds: float) -> ScoreSource:
    """Read a snapshot from an http(s) URL or a file path."""
    if location.startswith(("http://", "https://")):
        data = await _download(location, max_bytes=max_bytes, timeout_seconds=timeout_seconds)
    else:
        path = Path(location.removeprefix("file://")).expanduser()
        try:
            if path.stat().st_size > max_bytes:
                raise ScoresUnavailable(f"score snapshot {path} is larger than {max_bytes} bytes")
            data = path.read_bytes()
        except OSError as exc:
            raise ScoresUnavailable(f"cannot read score snapshot {path}: {exc.strerror or exc}") from None
        location = str(path.resolve())
    return parse_snapshot(data, label=location)


async def _download(url: str, *, max_bytes: int, timeout_seconds: float) -> bytes:
    try:
        async with (
            httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=True) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise ScoresUnavailable(f"score snapshot {url} answered HTTP {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ScoresUnavailable(f"score snapshot {url} is larger than {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ScoresUnavailable(f"cannot fetch score snapshot {url}: {exc}") from None
    return b"".join(chunks)


async def proctor_scores(session: AsyncSession, *, margin: float, emission_weight: float) -> ScoreSource:
    """proctor's own scores: the active suite's top miner takes `emission_weight` of the budget."""
    exact = exact_number(str(emission_weight), "top_emission_weight")
    weight = Fraction(exact.numerator, exact.denominator)
    if weight > 1:
        raise InvalidScores("top_emission_weight must be between 0 and 1")
    try:
        suite = await suite_service.current_suite(session)
    except SuiteNotFound:
        return _own_source({}, weight, suite_id=None)
    top = await top_service.current(session, suite_id=suite.id, margin=margin)
    if top.version is None:
        return _own_source({}, weight, suite_id=suite.id)
    return _own_source({top.version.miner_hotkey: Fraction(1)}, weight, suite_id=suite.id)


def _own_source(scores: dict[str, Fraction], weight: Fraction, *, suite_id: int | None) -> ScoreSource:
    competitions = (
        Competition(weight=weight, scores=scores, name="top"),
        Competition(weight=1 - weight, scores={}, name="burn"),
    )
    canonical = json.dumps(
        {"suite_id": suite_id, "top": sorted(scores), "weight": str(weight)}, sort_keys=True
    ).encode()
    label = f"{PROCTOR_SOURCE}(suite={suite_id})"
    return ScoreSource(label=label, sha256=hashlib.sha256(canonical).hexdigest(), competitions=competitions)


async def load_scores(
    session: AsyncSession,
    *,
    location: str,
    max_bytes: int,
    timeout_seconds: float,
    margin: float,
    emission_weight: float,
) -> ScoreSource:
    """The snapshot at `location` (file or URL), Pool's consensus points (`pool`), or proctor's own
    scores when `location` is empty."""
    if location.strip() == POOL_SOURCE:
        return await pool_scores(session)
    if location.strip():
        return await load_snapshot(location.strip(), max_bytes=max_bytes, timeout_seconds=timeout_seconds)
    return await proctor_scores(session, margin=margin, emission_weight=emission_weight)


async def pool_scores(session: AsyncSession) -> ScoreSource:
    """Pool's own consensus: each hotkey's points in the windows closed since the latest epoch."""
    from proctor.core.pool.reads import epoch_scores

    points = await epoch_scores(session)
    scores = {
        hotkey: exact_number(repr(value), f"pool points of {hotkey}") for hotkey, value in points.items()
    }
    canonical = json.dumps(sorted(points.items()), sort_keys=True).encode()
    return ScoreSource(
        label="pool:consensus",
        sha256=hashlib.sha256(canonical).hexdigest(),
        competitions=(Competition(weight=Exact(1, 1), scores=scores, name="pool"),),
    )
