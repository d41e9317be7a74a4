"""Turning cumulative amounts into an epoch's leaves and tree, and proofs back out of the stored tree.

Pure: no session, no clock, no settings.

A leaf is OpenZeppelin's standard leaf over `LEAF_ENCODING`:
`(uint64 epoch, uint32 index, bytes32 hotkey public key, bytes32 recipient public key, uint64 amount)`.
Leaf indices follow the hotkeys' sorted order (so an epoch is a deterministic function of its
amounts and recipients); the tree itself orders leaves by hash, as the JS library does by default.

Proofs are never stored: the tree is kept as its flat node array (root at 0, children of `i` at
`2i + 1` and `2i + 2`), and a proof is the sibling of each node on the path from the leaf's position to
the root, about 20 slices of 32 bytes for a million leaves.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from proctor.auth.verifier import public_key
from proctor.core.rewards.errors import InvalidScores
from proctor.core.rewards.merkle import LEAF_ENCODING, StandardMerkleTree

WORD = 32
DUMP_FORMAT = "standard-v1"
LeafRow = tuple[int, str, int, str, int, int, bytes, bytes]


@dataclass(frozen=True)
class EpochPlan:
    """Everything a new epoch stores: the tree's nodes and, per leaf index, its fields and position."""

    number: int
    root: str
    nodes: bytes
    hotkeys: list[str]
    recipients: list[str]
    amounts: list[int]
    hotkey_pubkeys: list[bytes]
    recipient_pubkeys: list[bytes]
    tree_indices: array[int]

    @property
    def leaf_count(self) -> int:
        return len(self.hotkeys)

    @property
    def total_units(self) -> int:
        return sum(self.amounts)

    def rows(self) -> Iterator[LeafRow]:
        """(epoch, hotkey, index, recipient, amount, tree index, hotkey key, recipient key) per leaf."""
        for i, hotkey in enumerate(self.hotkeys):
            yield (
                self.number,
                hotkey,
                i,
                self.recipients[i],
                self.amounts[i],
                self.tree_indices[i],
                self.hotkey_pubkeys[i],
                self.recipient_pubkeys[i],
            )


def plan_epoch(
    number: int,
    amounts: Mapping[str, int],
    recipients: Mapping[str, str],
    known_pubkeys: Mapping[str, bytes],
) -> EpochPlan:
    """Build epoch `number` over the positive `amounts`; recipients default to the hotkey itself."""
    decode = _decoder(known_pubkeys)
    hotkeys = sorted(hotkey for hotkey, units in amounts.items() if units > 0)
    chosen = [recipients.get(hotkey, hotkey) for hotkey in hotkeys]
    hotkey_keys = [decode(hotkey) for hotkey in hotkeys]
    recipient_keys = [
        key if recipient == hotkey else decode(recipient)
        for hotkey, recipient, key in zip(hotkeys, chosen, hotkey_keys, strict=True)
    ]
    units = [amounts[hotkey] for hotkey in hotkeys]
    values = zip(
        [number] * len(hotkeys), range(len(hotkeys)), hotkey_keys, recipient_keys, units, strict=True
    )
    tree = StandardMerkleTree.of(values, LEAF_ENCODING)
    return EpochPlan(
        number=number,
        root=tree.root,
        nodes=tree.nodes,
        hotkeys=hotkeys,
        recipients=chosen,
        amounts=units,
        hotkey_pubkeys=hotkey_keys,
        recipient_pubkeys=recipient_keys,
        tree_indices=tree.tree_indices,
    )


def _decoder(known: Mapping[str, bytes]) -> Callable[[str], bytes]:
    def decode(address: str) -> bytes:
        key = known.get(address)
        if key is not None:
            return key
        try:
            return public_key(address)
        except (ValueError, TypeError):
            raise InvalidScores(f"{address!r} is not a valid SS58 address") from None

    return decode


def sibling_path(nodes: bytes | memoryview, position: int) -> list[str]:
    """The proof of the node at `position`: sibling hashes from the leaf up to the root, `0x` hex."""
    proof = []
    while position > 0:
        sibling = position + 1 if position & 1 else position - 1
        proof.append("0x" + bytes(nodes[sibling * WORD : sibling * WORD + WORD]).hex())
        position = (position - 1) >> 1
    return proof


def node_at(nodes: bytes | memoryview, position: int) -> bytes:
    """The 32-byte node at `position`."""
    return bytes(nodes[position * WORD : position * WORD + WORD])


def json_value(epoch: int, index: int, hotkey_key: bytes, recipient_key: bytes, amount: int) -> list[str]:
    """A leaf value in the `standard-v1` JSON form: decimal strings for numbers, 0x hex for bytes32."""
    return [str(epoch), str(index), "0x" + hotkey_key.hex(), "0x" + recipient_key.hex(), str(amount)]


def dump_head(nodes: bytes | memoryview) -> Iterator[bytes]:
    """The `standard-v1` dump up to the opening of `values`, in chunks (identical to `tree.dump()`)."""
    encoding = ", ".join(f'"{name}"' for name in LEAF_ENCODING)
    yield f'{{"format": "{DUMP_FORMAT}", "leafEncoding": [{encoding}], "tree": ['.encode()
    count = len(nodes) // WORD
    step = 8192
    for start in range(0, count, step):
        stop = min(start + step, count)
        hexes = ", ".join(f'"0x{bytes(nodes[p * WORD : p * WORD + WORD]).hex()}"' for p in range(start, stop))
        yield (hexes + (", " if stop < count else "")).encode()
    yield b'], "values": ['


def dump_values(rows: list[tuple[int, bytes, bytes, int, int]], epoch: int, *, first: bool) -> bytes:
    """One chunk of `values` entries from (index, hotkey key, recipient key, amount, tree index) rows."""
    entries = ", ".join(
        f'{{"value": ["{epoch}", "{index}", "0x{hk.hex()}", "0x{rk.hex()}", "{amount}"], "treeIndex": {pos}}}'
        for index, hk, rk, amount, pos in rows
    )
    return (entries if first else ", " + entries).encode() if entries else b""


DUMP_TAIL = b"]}"
