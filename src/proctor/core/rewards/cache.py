"""An in-process cache of published trees' node arrays, bounded in bytes.

A published epoch never changes, so a cached node array can never be stale: entries are keyed by
`(epoch number, root)` and need no invalidation, on one replica or many. Proofs are then a dictionary
lookup plus ~20 slices. The first request for an epoch loads its blob once (concurrent first requests
share that load); the least recently used epochs are dropped past the byte budget, but the epoch just
requested is always kept, so even a tree larger than the budget is served from memory.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

Key = tuple[int, str]


class NodeCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Key, bytes] = OrderedDict()
        self._loading: dict[Key, asyncio.Future[bytes]] = {}

    @property
    def size_bytes(self) -> int:
        return sum(len(nodes) for nodes in self._items.values())

    async def get(self, key: Key, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """The nodes of `key`, loading them with `load()` on a miss."""
        nodes = self._items.get(key)
        if nodes is not None:
            self._items.move_to_end(key)
            return nodes
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            nodes = await load()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, an unwatched future logs nothing
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._loading.pop(key, None)
        future.set_result(nodes)
        self._put(key, nodes)
        return nodes

    def _put(self, key: Key, nodes: bytes) -> None:
        self._items[key] = nodes
        self._items.move_to_end(key)
        total = self.size_bytes
        while total > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            total -= len(dropped)
