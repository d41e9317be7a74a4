"""Prebuilt statements other domains run against operator state (kept free of flow imports)."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, or_, select, true

from proctor.models import ValidatorPause

_P = ValidatorPause.__table__.c

# A row when validator claims are paused right now (the andon cord is pulled and not auto-released).
CLAIMS_PAUSED = select(_P.id).where(
    _P.id == 1,
    _P.active.is_(true()),
    or_(_P.auto_release_at.is_(None), _P.auto_release_at > bindparam("now", type_=_P.auto_release_at.type)),
)

# The same test inside the claim statement (`evaluations.statements.CLAIM`): no extra round trip.
CLAIMS_ARE_PAUSED = exists(CLAIMS_PAUSED)
