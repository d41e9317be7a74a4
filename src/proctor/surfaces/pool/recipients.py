"""Pool's recipient-coldkey routes: four update routes (one at the root) and two lookups."""

from __future__ import annotations

from fastapi import APIRouter, Request

from proctor.auth.verifier import is_valid_ss58
from proctor.core.rewards import recipients as recipient_service
from proctor.errors import ValidationFailed
from proctor.http.deps import SessionDep
from proctor.http.params import Hotkey
from proctor.storage.base import utcnow
from proctor.surfaces.pool import wire
from proctor.surfaces.pool.auth import WalletAuth, authenticate

router = APIRouter(tags=["pool: miners"])  # mounted at /api/v1/miners
root_router = APIRouter(tags=["pool: compat"])  # mounted at /coldkey_address

HISTORY_LIMIT = 20


# One handler, four addresses: the current route and the compatibility forms Pool clients still call
# (the legacy `coldkey_address` body is accepted by the request model on every one of them).
@router.put("/recipient-coldkey", response_model=wire.RecipientUpdateResponse)
@router.post(
    "/recipient-coldkey", response_model=wire.RecipientUpdateResponse, summary="Compatibility form (POST)"
)
@router.post(
    "/coldkey_address/update",
    response_model=wire.RecipientUpdateResponse,
    summary="Compatibility form (legacy `coldkey_address` body)",
)
@root_router.post(
    "/update",
    response_model=wire.RecipientUpdateResponse,
    summary="Root compatibility route the Pool GUI calls before mining (`POST /coldkey_address/update`)",
)
async def update_recipient_coldkey(
    request: Request, session: SessionDep, body: wire.RecipientUpdateRequest
) -> wire.RecipientUpdateResponse:
    """Set the signer's payout recipient for epochs published from now on (recipient-update signed)."""
    raw = body.raw_recipient
    # The client strips whitespace before signing; the raw spelling is a fallback for one that did not.
    signer = authenticate(request, recipient_coldkeys=(raw.strip(), raw), body=body.auth_fields())
    update = await recipient_service.set_recipient(
        session, hotkey=signer.hotkey, recipient_coldkey=raw, signed_at=signer.timestamp, now=utcnow()
    )
    return wire.RecipientUpdateResponse(
        miner_hotkey=update.hotkey,
        recipient_coldkey=update.recipient_coldkey,
        previous_recipient_coldkey=update.previous_recipient_coldkey,
        changed=update.changed,
        updated_at=update.updated_at,
    )


@router.get("/recipient-coldkey", response_model=wire.RecipientResponse)
async def get_own_recipient_coldkey(hotkey: WalletAuth, session: SessionDep) -> wire.RecipientResponse:
    """The signer's own mapping, with its latest changes (wallet signed)."""
    view = await recipient_service.get_recipient(session, hotkey=hotkey, history_limit=HISTORY_LIMIT)
    return _to_wire(view, with_history=True)


@router.get("/recipient-coldkey/{miner_hotkey}", response_model=wire.RecipientResponse)
async def get_recipient_coldkey(miner_hotkey: Hotkey, session: SessionDep) -> wire.RecipientResponse:
    """Public lookup of a hotkey's mapping."""
    if not is_valid_ss58(miner_hotkey):
        raise ValidationFailed("miner_hotkey is not a valid SS58 address")
    view = await recipient_service.get_recipient(session, hotkey=miner_hotkey)
    return _to_wire(view, with_history=False)


def _to_wire(view: recipient_service.RecipientView, *, with_history: bool) -> wire.RecipientResponse:
    history = (
        [
            wire.RecipientChangeWire(
                recipient_coldkey=c.recipient_coldkey,
                previous_recipient_coldkey=c.previous_recipient_coldkey,
                changed_at=c.changed_at,
            )
            for c in view.history
        ]
        if with_history
        else None
    )
    return wire.RecipientResponse(
        miner_hotkey=view.hotkey,
        recipient_coldkey=view.recipient_coldkey,
        effective_recipient_coldkey=view.effective_recipient,
        is_set=view.recipient_coldkey is not None,
        updated_at=view.updated_at,
        history=history,
    )
