"""The hotkey's revealed commitment read from the chain (`PROCTOR_REGISTRY=chain`, the `bittensor` SDK)."""

from __future__ import annotations

import asyncio

from proctor.config import Settings


async def revealed_commitment(settings: Settings, hotkey: str) -> str | None:
    """The hotkey's newest revealed commitment on the subnet; None when it has none or the chain fails."""
    return await asyncio.to_thread(_read, settings.chain_network, settings.chain_netuid, hotkey)


def _read(network: str, netuid: int, hotkey: str) -> str | None:  # pragma: no cover - needs a chain
    try:
        import bittensor

        commitments = bittensor.Subtensor(network=network).get_revealed_commitment_by_hotkey(
            netuid=netuid, hotkey_ss58_address=hotkey
        )
    except Exception:  # the SDK raises many types; every one means "no valid commitment"
        return None
    if not commitments:
        return None
    return str(commitments[-1][1])
