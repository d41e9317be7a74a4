"""OpenZeppelin-compatible ``StandardMerkleTree`` for proctor reward epochs.

This module is pure: no I/O, no clock, no settings. It reproduces the semantics of the npm package
``@openzeppelin/merkle-tree`` (``StandardMerkleTree``, dump format ``standard-v1``):

* leaf hash = ``keccak256(keccak256(abi.encode(types, values)))`` (static ABI types only);
* node hash = ``keccak256(min(a, b) || max(a, b))`` (sorted pairs);
* leaves sorted by hash ascending (by default), stored in reverse at the end of an array of
  ``2n - 1`` nodes; internal node ``i`` hashes nodes ``2i + 1`` and ``2i + 2``; the root is node 0.

The tree is held as one contiguous ``bytes`` object of ``(2n - 1) * 32`` bytes; proofs are derived from
it on request. Values keep their Python form: ``int`` for ``uintN``/``intN``, ``bytes`` for ``bytesN`` and
``address`` (a ``0x`` hex string is also accepted on input) and ``bool`` for ``bool``. In the JSON dump,
numbers are decimal strings (exact for any width), byte strings are ``0x``-prefixed lowercase hex and
booleans are JSON booleans, all of which the JS library's ``StandardMerkleTree.load()`` accepts.

Hashing uses pycryptodome's Keccak (``Crypto.Hash.keccak``). Because the per-call overhead of
``keccak.new(...).digest()`` dominates tree building, the module calls the one-shot entry point of the
same pycryptodome Keccak library when it is present and passes a known-answer self-test, and falls back
to the public ``keccak.new`` API otherwise.
"""

from __future__ import annotations

import functools
import operator
import re
import struct
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, TypedDict

from Crypto.Hash import keccak as _keccak

__all__ = [
    "HASH_BACKEND",
    "LEAF_ENCODING",
    "Multiproof",
    "StandardMerkleTree",
    "abi_encode",
    "keccak256",
    "leaf_hash",
    "node_hash",
    "parse_json_value",
    "process_multiproof",
    "process_proof",
    "to_json_value",
    "verify",
    "verify_multiproof",
]

#: proctor's reward leaf: (epoch, index, hotkey public key, recipient public key, amount).
LEAF_ENCODING: Final[tuple[str, ...]] = ("uint64", "uint32", "bytes32", "bytes32", "uint64")

DUMP_FORMAT: Final = "standard-v1"
_WORD: Final = 32
_KECCAK_EMPTY: Final = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")

Hasher = Callable[[bytes], bytes]
Value = Sequence[Any]
ProofInput = Sequence[str | bytes]


class Multiproof(TypedDict):
    """A multiproof in the JS library's shape: values, sibling hashes and flags."""

    leaves: list[Any]
    proof: list[str]
    proofFlags: list[bool]


# --------------------------------------------------------------------------------------------------
# keccak256
# --------------------------------------------------------------------------------------------------


def _keccak_public(data: bytes) -> bytes:
    """Hash with pycryptodome's public Keccak API."""
    return _keccak.new(digest_bits=256, data=data).digest()


def _oneshot_factory() -> Callable[[], Hasher] | None:
    """Return a factory of fast one-shot Keccak-256 hashers over pycryptodome's Keccak library, if usable."""
    try:
        from Crypto.Util import _raw_api as raw

        oneshot = _keccak._raw_keccak_lib.keccak_oneshot  # type: ignore[attr-defined]
        factory = _cffi_factory(oneshot, raw) if raw.backend == "cffi" else _portable_factory(oneshot, raw)
    except (ImportError, AttributeError):
        return None
    return factory if _self_test(factory) else None


def _cffi_factory(oneshot: Any, raw: Any) -> Callable[[], Hasher]:
    """Return a hasher factory for pycryptodome's cffi backend (plain ints, a reused output view)."""
    new_buffer, buffer_view = raw.create_string_buffer, raw.ffi.buffer

    def factory() -> Hasher:
        out = new_buffer(32)
        view = buffer_view(out)

        def keccak_cffi(data: bytes) -> bytes:
            if oneshot(data, len(data), out, 32, 64, 24, 0x01):
                raise ValueError("keccak256 failed")
            return view[:]  # type: ignore[no-any-return]

        return keccak_cffi

    return factory


def _portable_factory(oneshot: Any, raw: Any) -> Callable[[], Hasher]:
    """Return a hasher factory for any pycryptodome backend (ctypes included)."""
    size_t, ubyte = raw.c_size_t, raw.c_ubyte
    new_buffer, read_buffer = raw.create_string_buffer, raw.get_raw_buffer
    out_len, capacity, rounds, padding = size_t(32), size_t(64), ubyte(24), ubyte(0x01)

    def factory() -> Hasher:
        out = new_buffer(32)

        def keccak_portable(data: bytes) -> bytes:
            if oneshot(data, size_t(len(data)), out, out_len, capacity, rounds, padding):
                raise ValueError("keccak256 failed")
            return read_buffer(out)  # type: ignore[no-any-return]

        return keccak_portable

    return factory


def _self_test(factory: Callable[[], Hasher]) -> bool:
    """Check a candidate hasher against known answers and the public API."""
    try:
        hasher = factory()
        samples = (b"", b"abc", bytes(range(64)), bytes(200))
        return hasher(b"") == _KECCAK_EMPTY and all(hasher(s) == _keccak_public(s) for s in samples)
    except Exception:  # any failure means "do not use this backend"
        return False


_FAST_FACTORY: Final = _oneshot_factory()
#: Which Keccak entry point is in use: ``"pycryptodome-oneshot"`` or ``"pycryptodome"``.
HASH_BACKEND: Final = "pycryptodome-oneshot" if _FAST_FACTORY is not None else "pycryptodome"


def _new_hasher() -> Hasher:
    """Return a Keccak-256 function that one thread may call repeatedly (it owns its output buffer)."""
    return _FAST_FACTORY() if _FAST_FACTORY is not None else _keccak_public


def keccak256(data: bytes | bytearray | memoryview) -> bytes:
    """Return the Keccak-256 digest (Ethereum's ``keccak256``, not SHA3-256) of ``data``."""
    return _new_hasher()(bytes(data))


# --------------------------------------------------------------------------------------------------
# ABI encoding of static types
# --------------------------------------------------------------------------------------------------

_TYPE_RE: Final = re.compile(r"(?:(u?int)(\d*)|bytes(\d+)|(address)|(bool))")
_HEX_RE: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_DEC_RE: Final = re.compile(r"-?[0-9]+")
_HEX_NUMBER_RE: Final = re.compile(r"0x[0-9a-fA-F]+")

Encoder = Callable[[Any], bytes]
JsonParser = Callable[[Any], Any]
JsonRenderer = Callable[[Any], Any]


class _TypeSpec(TypedDict):
    """Parsed static ABI type: its kind (uint/int/bytes/address/bool) and size (bits or bytes)."""

    kind: str
    size: int


@functools.lru_cache(maxsize=256)
def _parse_type(name: str) -> _TypeSpec:
    """Parse one static ABI type name; raise ValueError for unsupported or dynamic types."""
    match = _TYPE_RE.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"unsupported ABI type {name!r}: only static elementary types are allowed")
    sign, bits, nbytes, address, boolean = match.groups()
    if sign is not None:
        size = int(bits) if bits else 256
        if bits.startswith("0") or size % 8 or not 8 <= size <= 256:
            raise ValueError(f"invalid integer type {name!r}")
        return {"kind": sign, "size": size}
    if nbytes is not None:
        if nbytes.startswith("0") or not 1 <= int(nbytes) <= 32:
            raise ValueError(f"invalid fixed bytes type {name!r}")
        return {"kind": "bytes", "size": int(nbytes)}
    return {"kind": "address", "size": 20} if address else {"kind": "bool", "size": 1}


def _as_int(value: Any, type_name: str) -> int:
    """Return ``value`` as an int, rejecting bools and non-integers."""
    if isinstance(value, bool):
        raise ValueError(f"{type_name}: expected an integer, got a bool")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{type_name}: expected an integer, got {type(value).__name__}") from None


def _as_bytes(value: Any, length: int, type_name: str) -> bytes:
    """Return ``value`` (bytes-like or 0x hex string) as exactly ``length`` bytes."""
    if isinstance(value, str):
        if not _HEX_RE.fullmatch(value):
            raise ValueError(f"{type_name}: invalid hex string {value!r}")
        value = bytes.fromhex(value[2:])
    elif isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value)
    else:
        raise ValueError(f"{type_name}: expected bytes or a 0x hex string, got {type(value).__name__}")
    if len(value) != length:
        raise ValueError(f"{type_name}: expected {length} bytes, got {len(value)}")
    return value


def _uint_encoder(bits: int, name: str) -> Encoder:
    """Return an encoder for ``uint<bits>``."""
    limit = 1 << bits

    def encode(value: Any) -> bytes:
        number = _as_int(value, name)
        if not 0 <= number < limit:
            raise ValueError(f"{name}: {number} is out of range")
        return number.to_bytes(_WORD, "big")

    return encode


def _int_encoder(bits: int, name: str) -> Encoder:
    """Return an encoder for ``int<bits>`` (two's complement, sign-extended to 32 bytes)."""
    limit = 1 << (bits - 1)

    def encode(value: Any) -> bytes:
        number = _as_int(value, name)
        if not -limit <= number < limit:
            raise ValueError(f"{name}: {number} is out of range")
        return number.to_bytes(_WORD, "big", signed=True)

    return encode


def _bytes_encoder(length: int, name: str) -> Encoder:
    """Return an encoder for ``bytes<length>`` (right-padded with zeros)."""
    return lambda value: _as_bytes(value, length, name).ljust(_WORD, b"\0")


def _address_encoder(name: str) -> Encoder:
    """Return an encoder for ``address`` (20 bytes, left-padded with zeros)."""
    return lambda value: _as_bytes(value, 20, name).rjust(_WORD, b"\0")


def _bool_encoder(name: str) -> Encoder:
    """Return an encoder for ``bool``."""

    def encode(value: Any) -> bytes:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected a bool, got {type(value).__name__}")
        return (b"\1" if value else b"\0").rjust(_WORD, b"\0")

    return encode


@functools.lru_cache(maxsize=256)
def _encoder_for(name: str) -> Encoder:
    """Return the 32-byte word encoder of one static ABI type."""
    spec = _parse_type(name)
    kind, size = spec["kind"], spec["size"]
    if kind == "uint":
        return _uint_encoder(size, name)
    if kind == "int":
        return _int_encoder(size, name)
    if kind == "bytes":
        return _bytes_encoder(size, name)
    return _address_encoder(name) if kind == "address" else _bool_encoder(name)


def _encoders(types: Sequence[str]) -> tuple[Encoder, ...]:
    """Return the word encoders of a leaf encoding; raise ValueError if any type is unsupported."""
    if isinstance(types, str) or not types:
        raise ValueError("leaf encoding must be a non-empty sequence of ABI type names")
    return tuple(_encoder_for(name) for name in types)


def _encode_with(encoders: tuple[Encoder, ...], value: Value) -> bytes:
    """ABI-encode one value with pre-resolved encoders."""
    if isinstance(value, str | bytes) or len(value) != len(encoders):
        raise ValueError(f"expected a sequence of {len(encoders)} values, got {value!r}")
    return b"".join(encode(item) for encode, item in zip(encoders, value, strict=True))


def abi_encode(types: Sequence[str], values: Value) -> bytes:
    """Return ``abi.encode(types..., values...)`` for static elementary types (32 bytes per value)."""
    return _encode_with(_encoders(types), values)


# --------------------------------------------------------------------------------------------------
# Leaf hashing (generic and the precompiled fast path for LEAF_ENCODING)
# --------------------------------------------------------------------------------------------------

_REWARD_PACK: Final = struct.Struct(">24xQ28xI32s32s24xQ").pack


def _hash_reward_values(values: Iterable[Value], hasher: Hasher) -> list[bytes]:
    """Return the leaf hashes of LEAF_ENCODING values, packing each with one precompiled struct."""
    generic = _generic_leaf_hasher(LEAF_ENCODING, hasher)
    pack = _REWARD_PACK
    hashes: list[bytes] = []
    append = hashes.append
    for value in values:
        try:
            epoch, index, hotkey, recipient, amount = value
            if (
                hotkey.__class__ is bytes
                and recipient.__class__ is bytes
                and len(hotkey) == 32 == len(recipient)
                and epoch.__class__ is int
                and index.__class__ is int
                and amount.__class__ is int
            ):
                append(hasher(hasher(pack(epoch, index, hotkey, recipient, amount))))
                continue
        except (ValueError, TypeError, struct.error):
            pass
        append(generic(value))  # other input forms (hex strings, ...), or raises the precise ValueError
    return hashes


def _reward_leaf_hasher(hasher: Hasher) -> Callable[[Value], bytes]:
    """Return a single-value leaf hasher for LEAF_ENCODING (the struct fast path)."""
    return lambda value: _hash_reward_values((value,), hasher)[0]


def _generic_leaf_hasher(types: Sequence[str], hasher: Hasher) -> Callable[[Value], bytes]:
    """Return a leaf hasher for any static leaf encoding."""
    encoders = _encoders(types)
    return lambda value: hasher(hasher(_encode_with(encoders, value)))


def _leaf_hasher(types: Sequence[str], hasher: Hasher) -> Callable[[Value], bytes]:
    """Return the fastest correct leaf hasher for ``types``."""
    if tuple(types) == LEAF_ENCODING:
        return _reward_leaf_hasher(hasher)
    return _generic_leaf_hasher(types, hasher)


def leaf_hash(types: Sequence[str], value: Value) -> bytes:
    """Return OpenZeppelin's standard leaf hash ``keccak256(keccak256(abi.encode(value)))``."""
    return _leaf_hasher(types, _new_hasher())(value)


def node_hash(a: bytes, b: bytes) -> bytes:
    """Return OpenZeppelin's standard node hash ``keccak256(sorted(a, b))``."""
    return keccak256(a + b if a <= b else b + a)


# --------------------------------------------------------------------------------------------------
# JSON value representation
# --------------------------------------------------------------------------------------------------


def _render_one(name: str, item: Any) -> Any:
    """Render one typed item to its JSON form (validating it)."""
    word = _encoder_for(name)(item)  # validates
    kind = _parse_type(name)["kind"]
    if kind in ("uint", "int"):
        return str(_as_int(item, name))
    if kind == "bool":
        return bool(item)
    if kind == "address":
        return "0x" + word[12:].hex()
    return "0x" + word[: _parse_type(name)["size"]].hex()


def to_json_value(types: Sequence[str], value: Value) -> list[Any]:
    """Return the JSON form of a value: decimal strings for numbers, 0x lowercase hex for bytes."""
    _encoders(types)
    if isinstance(value, str | bytes) or len(value) != len(types):
        raise ValueError(f"expected a sequence of {len(types)} values, got {value!r}")
    return [_render_one(name, item) for name, item in zip(types, value, strict=True)]


def _parse_number(name: str, item: Any) -> int:
    """Parse a JSON number item: an int, a decimal string or a 0x hex string."""
    if isinstance(item, str):
        if _DEC_RE.fullmatch(item):
            return int(item, 10)
        if _HEX_NUMBER_RE.fullmatch(item):
            return int(item, 16)
        raise ValueError(f"{name}: invalid number {item!r}")
    return _as_int(item, name)


def _parse_one(name: str, item: Any) -> Any:
    """Parse one JSON item into its Python form and validate it."""
    spec = _parse_type(name)
    kind = spec["kind"]
    if kind in ("uint", "int"):
        parsed: Any = _parse_number(name, item)
    elif kind == "bool":
        if item is not True and item is not False and item not in ("true", "false"):
            raise ValueError(f"{name}: invalid bool {item!r}")
        parsed = item is True or item == "true"
    else:
        if not isinstance(item, str):
            raise ValueError(f"{name}: expected a 0x hex string, got {item!r}")
        parsed = _as_bytes(item, spec["size"], name)
    _encoder_for(name)(parsed)
    return parsed


def parse_json_value(types: Sequence[str], value: Any) -> tuple[Any, ...]:
    """Parse a value's JSON form (as in a ``standard-v1`` dump) into Python ints/bytes/bools."""
    _encoders(types)
    if not isinstance(value, list | tuple) or len(value) != len(types):
        raise ValueError(f"expected a list of {len(types)} values, got {value!r}")
    return tuple(_parse_one(name, item) for name, item in zip(types, value, strict=True))


# --------------------------------------------------------------------------------------------------
# Proof processing
# --------------------------------------------------------------------------------------------------


def _node_bytes(node: str | bytes) -> bytes:
    """Return a proof node as 32 bytes; raise ValueError otherwise."""
    return _as_bytes(node, _WORD, "merkle node")


def _hex(node: bytes) -> str:
    """Return ``0x``-prefixed lowercase hex."""
    return "0x" + node.hex()


def process_proof(leaf: str | bytes, proof: ProofInput) -> bytes:
    """Return the root implied by a leaf hash and its single proof."""
    hasher = _new_hasher()
    current = _node_bytes(leaf)
    for sibling in map(_node_bytes, proof):
        current = hasher(current + sibling if current <= sibling else sibling + current)
    return current


def process_multiproof(
    leaves: Sequence[str | bytes], proof: ProofInput, proof_flags: Sequence[bool]
) -> bytes:
    """Return the root implied by leaf hashes, a multiproof and its flags (ValueError if malformed)."""
    stack = deque(_node_bytes(leaf) for leaf in leaves)
    siblings = deque(_node_bytes(node) for node in proof)
    if len(siblings) < sum(1 for flag in proof_flags if not flag):
        raise ValueError("invalid multiproof format")
    if len(stack) + len(siblings) != len(proof_flags) + 1:
        raise ValueError("provided leaves and multiproof are not compatible")
    hasher = _new_hasher()
    try:
        for flag in proof_flags:
            a = stack.popleft()
            b = stack.popleft() if flag else siblings.popleft()
            stack.append(hasher(a + b if a <= b else b + a))
    except IndexError:
        raise ValueError("invalid multiproof: flags do not match leaves and proof") from None
    if len(stack) + len(siblings) != 1:
        raise ValueError("invalid multiproof: leftover nodes")
    return stack.pop() if stack else siblings.popleft()


def verify(root: str | bytes, leaf_encoding: Sequence[str], value: Value, proof: ProofInput) -> bool:
    """Return whether ``proof`` proves ``value`` (typed by ``leaf_encoding``) under ``root``."""
    return _node_bytes(root) == process_proof(leaf_hash(leaf_encoding, value), proof)


def verify_multiproof(root: str | bytes, leaf_encoding: Sequence[str], multiproof: Mapping[str, Any]) -> bool:
    """Return whether a ``{leaves, proof, proofFlags}`` multiproof of values is valid under ``root``."""
    hash_leaf = _leaf_hasher(leaf_encoding, _new_hasher())
    leaves = [hash_leaf(value) for value in multiproof["leaves"]]
    implied = process_multiproof(leaves, multiproof["proof"], multiproof["proofFlags"])
    return _node_bytes(root) == implied


# --------------------------------------------------------------------------------------------------
# Tree construction
# --------------------------------------------------------------------------------------------------


def _sibling(index: int) -> int:
    """Return the sibling position of a non-root node."""
    return index + 1 if index & 1 else index - 1


def _depth(index: int) -> int:
    """Return the depth of a node position (root = 0)."""
    return (index + 1).bit_length() - 1


def _hash_pairs(children: list[bytes], hasher: Hasher) -> list[bytes]:
    """Hash consecutive pairs of nodes with the sorted-pair node hash."""
    pairs = iter(children)
    return [hasher(a + b if a <= b else b + a) for a, b in zip(pairs, pairs, strict=True)]


def _build_nodes(leaves_desc: list[bytes], hasher: Hasher) -> bytes:
    """Build the flat node array whose leaf region (positions n-1 .. 2n-2) is ``leaves_desc``."""
    n = len(leaves_desc)
    size = 2 * n - 1
    first_leaf = n - 1
    depth = _depth(size - 1)
    level = leaves_desc[(1 << depth) - 1 - first_leaf :]
    levels = [b"".join(level)]
    for d in range(depth - 1, -1, -1):
        start, end = (1 << d) - 1, min((1 << (d + 1)) - 1, size)
        parents = _hash_pairs(level, hasher)
        level = parents + leaves_desc[start + len(parents) - first_leaf : end - first_leaf]
        levels.append(b"".join(level))
    levels.reverse()
    return b"".join(levels)


def _hash_values(values: Sequence[Value], leaf_encoding: Sequence[str], hasher: Hasher) -> list[bytes]:
    """Return every value's leaf hash, in value order."""
    if tuple(leaf_encoding) == LEAF_ENCODING:
        return _hash_reward_values(values, hasher)
    hash_leaf = _leaf_hasher(leaf_encoding, hasher)
    return [hash_leaf(value) for value in values]


def _tree_indices(order: Sequence[int], n: int) -> array[int]:
    """Return each value's tree position, given value indices in leaf (rank) order."""
    positions = array("q", bytes(8 * n))
    last = 2 * n - 2
    for rank, value_index in enumerate(order):
        positions[value_index] = last - rank
    return positions


# --------------------------------------------------------------------------------------------------
# StandardMerkleTree
# --------------------------------------------------------------------------------------------------


class StandardMerkleTree:
    """An OpenZeppelin ``StandardMerkleTree`` held as one flat buffer of 32-byte nodes."""

    __slots__ = ("_nodes", "_values", "_leaf_encoding", "_tree_index", "_lookup")

    def __init__(
        self,
        nodes: bytes,
        values: Sequence[Value],
        leaf_encoding: Sequence[str],
        tree_indices: Sequence[int],
    ) -> None:
        """Wrap already-built nodes; prefer ``of``, ``from_nodes`` or ``load``."""
        self._nodes = bytes(nodes)
        self._values: tuple[Value, ...] = tuple(values)
        self._leaf_encoding: tuple[str, ...] = tuple(leaf_encoding)
        self._tree_index = array("q", tree_indices)
        self._lookup: dict[bytes, int] | None = None
        self._check_shape()

    # ---- construction ----------------------------------------------------------------------------

    @classmethod
    def of(
        cls,
        values: Iterable[Value],
        leaf_encoding: Sequence[str] = LEAF_ENCODING,
        *,
        sort_leaves: bool = True,
    ) -> StandardMerkleTree:
        """Build a tree of ``values`` (like JS ``StandardMerkleTree.of``); ValueError on bad values."""
        values = tuple(values)
        if not values:
            raise ValueError("expected a non-zero number of values")
        hasher = _new_hasher()
        hashes = _hash_values(values, leaf_encoding, hasher)
        order: Sequence[int] = range(len(values))
        if sort_leaves:
            order = sorted(order, key=hashes.__getitem__)
        leaves_desc = [hashes[i] for i in reversed(order)]
        del hashes
        nodes = _build_nodes(leaves_desc, hasher)
        return cls(nodes, values, leaf_encoding, _tree_indices(order, len(values)))

    @classmethod
    def from_nodes(
        cls,
        nodes: bytes,
        values: Sequence[Value],
        tree_indices: Sequence[int],
        leaf_encoding: Sequence[str] = LEAF_ENCODING,
        *,
        verify: bool = False,
    ) -> StandardMerkleTree:
        """Rebuild a tree from stored ``nodes``/``tree_indices`` without rehashing (unless ``verify``)."""
        tree = cls(nodes, values, leaf_encoding, tree_indices)
        if verify:
            tree.validate()
        return tree

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Load and fully validate a ``standard-v1`` dump (ours or the JS library's)."""
        if not isinstance(data, Mapping):
            raise ValueError("expected a standard-v1 dump (a mapping)")
        if data.get("format") != DUMP_FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        encoding, tree, entries = data.get("leafEncoding"), data.get("tree"), data.get("values")
        if not isinstance(encoding, list | tuple) or not all(isinstance(t, str) for t in encoding):
            raise ValueError("expected leafEncoding to be a list of ABI type names")
        if not isinstance(tree, list | tuple) or not isinstance(entries, list | tuple):
            raise ValueError("expected tree and values to be lists")
        nodes = b"".join(_node_bytes(node) for node in tree)
        values, indices = [], []
        for entry in entries:
            if not isinstance(entry, Mapping) or set(entry) != {"value", "treeIndex"}:
                raise ValueError(f"invalid value entry {entry!r}")
            index = entry["treeIndex"]
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"invalid treeIndex {index!r}")
            values.append(parse_json_value(encoding, entry["value"]))
            indices.append(index)
        return cls.from_nodes(nodes, values, indices, encoding, verify=True)

    # ---- validation ------------------------------------------------------------------------------

    def _check_shape(self) -> None:
        """Check sizes and that every tree index lies in the leaf region (cheap, no hashing)."""
        _encoders(self._leaf_encoding)
        n = len(self._values)
        if n == 0:
            raise ValueError("expected a non-zero number of values")
        if len(self._nodes) != (2 * n - 1) * _WORD:
            raise ValueError(f"expected {(2 * n - 1) * _WORD} bytes of nodes for {n} values")
        if len(self._tree_index) != n:
            raise ValueError("expected one tree index per value")
        if min(self._tree_index) < n - 1 or max(self._tree_index) > 2 * n - 2:
            raise ValueError("tree index out of the leaf range")

    def validate(self) -> None:
        """Rehash everything: raise ValueError unless leaves, positions and internal nodes are consistent."""
        n = len(self._values)
        seen = bytearray(n)
        for position in self._tree_index:
            if seen[position - (n - 1)]:
                raise ValueError(f"tree index {position} is used twice")
            seen[position - (n - 1)] = 1
        hasher = _new_hasher()
        hashes = _hash_values(self._values, self._leaf_encoding, hasher)
        for value_index, (digest, position) in enumerate(zip(hashes, self._tree_index, strict=True)):
            if digest != self._node(position):
                raise ValueError(f"value {value_index} does not match its leaf")
        del hashes
        leaves_desc = [self._node(p) for p in range(n - 1, 2 * n - 1)]
        if _build_nodes(leaves_desc, hasher) != self._nodes:
            raise ValueError("merkle tree is invalid")

    # ---- accessors -------------------------------------------------------------------------------

    @property
    def nodes(self) -> bytes:
        """The flat node array: ``(2n - 1) * 32`` bytes, root first."""
        return self._nodes

    @property
    def tree_indices(self) -> array[int]:
        """Each value's node position (``array('q')``), to persist next to ``nodes``."""
        return array("q", self._tree_index)

    @property
    def leaf_encoding(self) -> tuple[str, ...]:
        """The ABI types of each value."""
        return self._leaf_encoding

    @property
    def values(self) -> tuple[Value, ...]:
        """The values in input order."""
        return self._values

    @property
    def root(self) -> str:
        """The root as ``0x`` hex."""
        return _hex(self._nodes[:_WORD])

    @property
    def root_bytes(self) -> bytes:
        """The root as 32 bytes."""
        return self._nodes[:_WORD]

    def __len__(self) -> int:
        """Number of values (leaves)."""
        return len(self._values)

    def at(self, value_index: int) -> Value:
        """Return the value at ``value_index``."""
        return self._values[value_index]

    def tree_index(self, value_index: int) -> int:
        """Return the node position of the value at ``value_index``."""
        self._check_index(value_index)
        return self._tree_index[value_index]

    def leaf_hash(self, value_index: int) -> bytes:
        """Return the stored leaf hash of the value at ``value_index``."""
        return self._node(self.tree_index(value_index))

    def leaf_lookup(self, value: Value) -> int:
        """Return the index of ``value`` (builds a hash index on first use); ValueError if absent."""
        if self._lookup is None:
            self._lookup = {self._node(p): i for i, p in enumerate(self._tree_index)}
        found = self._lookup.get(leaf_hash(self._leaf_encoding, value))
        if found is None:
            raise ValueError("leaf is not in tree")
        return found

    def _node(self, position: int) -> bytes:
        """Return the node at ``position`` as 32 bytes."""
        return self._nodes[position * _WORD : position * _WORD + _WORD]

    def _check_index(self, value_index: int) -> None:
        """Raise IndexError unless ``value_index`` is a valid value index (no negative indexing)."""
        if isinstance(value_index, bool) or not 0 <= operator.index(value_index) < len(self._values):
            raise IndexError(f"value index {value_index!r} out of bounds")

    # ---- proofs ----------------------------------------------------------------------------------

    def get_proof(self, value_index: int) -> list[str]:
        """Return the proof (sibling hashes, leaf to root, ``0x`` hex) of the value at ``value_index``."""
        position = self.tree_index(value_index)
        proof = []
        while position > 0:
            proof.append(_hex(self._node(_sibling(position))))
            position = (position - 1) >> 1
        return proof

    def iter_proofs(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(value_index, proof)`` for every value, in leaf order, sharing work between proofs."""
        n = len(self._values)
        value_at = array("q", bytes(8 * n))
        for value_index, position in enumerate(self._tree_index):
            value_at[position - (n - 1)] = value_index
        cache_node = [-1] * (_depth(2 * n - 2) + 1)
        cache_proof: list[list[str]] = [[] for _ in cache_node]
        cache_node[0] = 0
        for position in range(2 * n - 2, n - 2, -1):
            yield value_at[position - (n - 1)], self._proof_from(position, cache_node, cache_proof)

    def _proof_from(self, position: int, cache_node: list[int], cache_proof: list[list[str]]) -> list[str]:
        """Return a fresh proof list for ``position``, reusing the cached proofs of its ancestors."""
        chain = []
        while cache_node[depth := _depth(position)] != position:
            chain.append((position, depth))
            position = (position - 1) >> 1
        proof = cache_proof[depth]
        nodes = self._nodes
        for position, depth in reversed(chain):
            start = _sibling(position) * _WORD
            proof = ["0x" + nodes[start : start + _WORD].hex(), *proof]
            cache_node[depth], cache_proof[depth] = position, proof
        return proof[:] if not chain else proof

    def get_multiproof(self, value_indices: Sequence[int]) -> Multiproof:
        """Return the ``{leaves, proof, proofFlags}`` multiproof of several values, as the JS library does."""
        positions = sorted(((self.tree_index(i), i) for i in value_indices), reverse=True)
        if any(a[0] == b[0] for a, b in zip(positions, positions[1:], strict=False)):
            raise ValueError("cannot prove duplicated index")
        stack = deque(position for position, _ in positions)
        proof: list[str] = []
        flags: list[bool] = []
        while stack and stack[0] > 0:
            j = stack.popleft()
            sibling = _sibling(j)
            if stack and stack[0] == sibling:
                flags.append(True)
                stack.popleft()
            else:
                flags.append(False)
                proof.append(_hex(self._node(sibling)))
            stack.append((j - 1) >> 1)
        if not positions:
            proof.append(self.root)
        return {"leaves": [self._values[i] for _, i in positions], "proof": proof, "proofFlags": flags}

    # ---- verification (static, like the JS library) ------------------------------------------------

    verify = staticmethod(verify)
    verify_multiproof = staticmethod(verify_multiproof)

    # ---- serialisation ---------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Return the JSON-able ``standard-v1`` dump that JS ``StandardMerkleTree.load`` accepts."""
        encoding = list(self._leaf_encoding)
        return {
            "format": DUMP_FORMAT,
            "leafEncoding": encoding,
            "tree": [_hex(self._node(p)) for p in range(2 * len(self._values) - 1)],
            "values": [
                {"value": to_json_value(encoding, value), "treeIndex": position}
                for value, position in zip(self._values, self._tree_index, strict=True)
            ],
        }
