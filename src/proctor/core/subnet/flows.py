"""The subnet's public facts beyond evaluation: the top miner's payout, the inference models validators
may use, and the site's waitlist (ORO's `top-miner-payout`, `inference/models`, `waitlist`).

Nothing here reaches the network: the emission and the TAO price are what the operator configures
(PROCTOR_MINER_TAO_PER_DAY, PROCTOR_TAO_PRICE_USD), and unknown values are answered as null rather
than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.config import Settings
from proctor.core.evaluations import top as top_service
from proctor.core.suites import service as suite_service
from proctor.errors import SuiteNotFound, ValidationFailed
from proctor.models import WaitlistSignup

EMAIL_RE = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
SOURCE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class Payout:
    as_of: datetime
    miner_hotkey: str | None = None
    agent_name: str | None = None
    tao_per_day: float | None = None
    usd_per_day: float | None = None
    tao_price_usd: float | None = None


async def top_miner_payout(session: AsyncSession, settings: Settings, *, now: datetime) -> Payout:
    """What the current top miner earns per day: the top's share of the configured miner emission."""
    try:
        suite = await suite_service.current_suite(session)
    except SuiteNotFound:
        return Payout(as_of=now, tao_price_usd=settings.tao_price_usd)
    top = await top_service.current(session, suite_id=suite.id, margin=settings.top_margin)
    if top.version is None:
        return Payout(as_of=now, tao_price_usd=settings.tao_price_usd)
    tao = (
        None
        if settings.miner_tao_per_day is None
        else round(settings.miner_tao_per_day * settings.top_emission_weight, 9)
    )
    usd = None if tao is None or settings.tao_price_usd is None else round(tao * settings.tao_price_usd, 2)
    return Payout(
        as_of=now,
        miner_hotkey=top.version.miner_hotkey,
        agent_name=top.agent.name if top.agent else None,
        tao_per_day=tao,
        usd_per_day=usd,
        tao_price_usd=settings.tao_price_usd,
    )


def inference_models(settings: Settings, *, provider: str) -> list[str]:
    """The models validators may call through `provider` (PROCTOR_INFERENCE_MODELS lists Chutes')."""
    return list(settings.inference_models) if provider.strip().lower() == "chutes" else []


async def join_waitlist(session: AsyncSession, *, email: str, source: str, now: datetime) -> None:
    """Keep an address once; signing up again only refreshes it (the answer is the same either way, so
    the route tells nobody whether an address was already listed)."""
    address = email.strip().lower()
    if len(address) > 254 or not EMAIL_RE.match(address):
        raise ValidationFailed("email must be an email address")
    if not SOURCE_RE.match(source):
        raise ValidationFailed("source must be 1-64 letters, digits, '.', '_' or '-'")
    # One statement, so two sign-ups of one address at once cannot collide on the key.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(WaitlistSignup).values(email=address, source=source, created_at=now, updated_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[WaitlistSignup.email], set_={"updated_at": statement.excluded.updated_at}
        )
    )
