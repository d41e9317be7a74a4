"""Pool's window clock: wall time at 12 s per block, or the chain's block from the metagraph sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from proctor.config import Settings
from proctor.core.cache import Caches
from proctor.core.identity.registry import Registry, SourceView
from proctor.core.pool import flows
from proctor.core.pool.windows import window_at


def test_clock_windows() -> None:
    t = datetime.fromtimestamp(7200 * 12 * 1144 + 60, UTC)  # one minute into window 1144 of 7200 blocks
    w = window_at(t, window_blocks=7200, block_seconds=12.0)
    assert (w.number, w.current_block, w.block_source) == (1144, 7200 * 1144 + 5, "clock")
    assert w.time_remaining_s == 7200 * 12 - 60
    nxt = window_at(t + timedelta(seconds=w.time_remaining_s), window_blocks=7200, block_seconds=12.0)
    assert nxt.number == 1145


def test_chain_block_is_used_when_the_registry_knows_it() -> None:
    # The live fixture in the reference: window 1144 at block 8239292 with 7200-block windows.
    w = window_at(datetime.now(UTC), window_blocks=7200, block_seconds=12.0, chain_block=8239292)
    assert (w.number, w.current_block, w.block_source) == (1144, 8239292, "chain")


async def test_current_window_follows_the_synced_head(tmp_path: Any) -> None:
    class Source:
        name = "chain:test"

        async def load(self) -> SourceView:
            return SourceView(neurons={}, block=8239292, block_at=now.timestamp() - 120)

    async def no_overrides() -> Any:
        from proctor.core.identity.registry import Overrides

        return Overrides()

    now = datetime(2026, 12, 1, tzinfo=UTC)
    registry = Registry(Source(), no_overrides)
    await registry.refresh()
    core: Any = SimpleNamespace(
        registry=registry, settings=Settings(data_dir=tmp_path, pool_window_blocks=7200), caches=Caches()
    )
    w = flows.current_window(core, now)
    assert (w.current_block, w.number, w.block_source) == (8239292 + 10, 1144, "chain")  # 120 s = 10 blocks
