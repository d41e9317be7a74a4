"""Pool's window clock (reference pool-api §5.4): `window = block // PROCTOR_POOL_WINDOW_BLOCKS`.

The block is the chain's when the registry follows the chain and knows its head; otherwise it is
derived from wall time at `PROCTOR_POOL_BLOCK_SECONDS` (12 s) per block since the Unix epoch, so every
replica agrees on the window without talking to each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Window:
    number: int
    current_block: int
    time_remaining_s: int
    block_source: str  # "chain" or "clock"


def window_at(
    now: datetime, *, window_blocks: int, block_seconds: float, chain_block: int | None = None
) -> Window:
    """The window `now` falls in, with its current block and the seconds left in it."""
    if chain_block is not None:
        block, source = chain_block, "chain"
        remaining_blocks = window_blocks - block % window_blocks
        remaining = int(remaining_blocks * block_seconds)
    else:
        elapsed = now.timestamp() / block_seconds
        block, source = math.floor(elapsed), "clock"
        end = (block // window_blocks + 1) * window_blocks
        remaining = max(0, math.ceil((end - elapsed) * block_seconds))
    return Window(block // window_blocks, block, remaining, source)
