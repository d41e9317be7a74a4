"""proctor.core.rewards.merkle against the real @openzeppelin/merkle-tree, plus pure-Python checks."""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

import pytest

from proctor.core.rewards import merkle
from proctor.core.rewards.merkle import (
    LEAF_ENCODING,
    StandardMerkleTree,
    abi_encode,
    keccak256,
    leaf_hash,
    node_hash,
    parse_json_value,
    process_multiproof,
    process_proof,
    to_json_value,
    verify,
    verify_multiproof,
)
from tests.core.rewards.conftest import NodeRunner

U64_MAX = 2**64 - 1
SEED = 20_260_611


def reward_values(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    """Random proctor reward leaves: (epoch, index, hotkey, recipient, amount)."""
    edge = (0, 1, U64_MAX)
    return [
        (
            rng.choice(edge) if rng.random() < 0.05 else rng.getrandbits(64),
            i if rng.random() < 0.9 else rng.getrandbits(32),
            rng.randbytes(32),
            rng.randbytes(32),
            rng.choice(edge) if rng.random() < 0.05 else rng.getrandbits(rng.randint(1, 64)),
        )
        for i in range(n)
    ]


def fixed_values() -> list[tuple[Any, ...]]:
    """Five deterministic reward leaves (their JS root and first proof are pinned below)."""
    return [(42, i, bytes([i]) * 32, bytes([0xA0 + i]) * 32, 10**9 * (i + 1)) for i in range(5)]


FIXED_ROOT = "0xa3580af1d7cd8638ae491620665ae6c93fdcde6b7bdb115d6c6fd32751819a9d"
FIXED_PROOF_0 = [
    "0x79357dac42394bd89b403eee1bc020e6f8a9181c3967f40dc240484c77922613",
    "0xfaeafff42404df9940ca4b6f2487e71db16b48bf2a353e63f54db5a637a86729",
    "0x9922ff06cbb0e41a029d24f83a6ff0c2a6ea271f0abc33d9e0eae415931dd970",
]
README_VALUES = [
    ("0x1111111111111111111111111111111111111111", 5 * 10**18),
    ("0x2222222222222222222222222222222222222222", 25 * 10**17),
]
README_ROOT = "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"


# --------------------------------------------------------------------------------------------------
# Cross-check with the JS library: every case in one Node run
# --------------------------------------------------------------------------------------------------


def _other_layout_cases(rng: random.Random) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """A few non-reward static layouts."""
    address_amount = [(rng.randbytes(20), rng.getrandbits(256)) for _ in range(37)]
    mixed = [
        (
            rng.random() < 0.5,
            rng.randint(-(2**255), 2**255 - 1),
            rng.randbytes(4),
            rng.getrandbits(8),
            rng.randint(-128, 127),
            "0x" + rng.randbytes(20).hex(),
        )
        for _ in range(23)
    ]
    aliases = [(rng.getrandbits(256), -rng.getrandbits(255), rng.randbytes(32)) for _ in range(9)]
    return [
        (["address", "uint256"], address_amount),
        (["bool", "int256", "bytes4", "uint8", "int8", "bytes20"], mixed),
        (["uint", "int", "bytes32"], aliases),
        (["address", "uint256"], list(README_VALUES)),
    ]


def _build_cases() -> list[dict[str, Any]]:
    """Python-side description of every cross-check case."""
    rng = random.Random(SEED)
    sizes = [1, 2, 3, 2000] + [int(math.exp(rng.uniform(math.log(4), math.log(2000)))) for _ in range(20)]
    layouts: list[tuple[list[str], list[tuple[Any, ...]], bool]] = [
        (list(LEAF_ENCODING), reward_values(rng, n), True) for n in sizes
    ]
    duplicated = reward_values(rng, 6)
    duplicated += [duplicated[1], duplicated[4], duplicated[1]]
    layouts.append((list(LEAF_ENCODING), duplicated, True))
    layouts.append((list(LEAF_ENCODING), reward_values(rng, 29), False))
    layouts += [(enc, vals, True) for enc, vals in _other_layout_cases(rng)]
    cases = []
    for number, (encoding, values, sort_leaves) in enumerate(layouts):
        k = rng.randint(0, len(values)) if number % 5 else len(values) if number % 2 else 0
        cases.append(
            {
                "encoding": encoding,
                "values": values,
                "sortLeaves": sort_leaves,
                "multiproofIndices": rng.sample(range(len(values)), k),
            }
        )
    return cases


def _payload(case: dict[str, Any], tree: StandardMerkleTree) -> dict[str, Any]:
    """What the Node helper receives for one case."""
    multiproof = tree.get_multiproof(case["multiproofIndices"])
    return {
        "leafEncoding": case["encoding"],
        "values": [to_json_value(case["encoding"], v) for v in case["values"]],
        "sortLeaves": case["sortLeaves"],
        "multiproofIndices": case["multiproofIndices"],
        "proctor": {
            "root": tree.root,
            "proofs": [tree.get_proof(i) for i in range(len(tree))],
            "multiproof": {**multiproof, "leaves": _json_leaves(case["encoding"], multiproof["leaves"])},
            "dump": tree.dump(),
        },
    }


def _json_leaves(encoding: list[str], leaves: list[Any]) -> list[list[Any]]:
    """Multiproof leaves in their JSON form."""
    return [to_json_value(encoding, value) for value in leaves]


@pytest.fixture(scope="module")
def cross(oz_node: NodeRunner) -> list[tuple[dict[str, Any], StandardMerkleTree, dict[str, Any]]]:
    """Build every case with proctor, run them all through the JS library once, and pair the results."""
    cases = _build_cases()
    trees = [StandardMerkleTree.of(c["values"], c["encoding"], sort_leaves=c["sortLeaves"]) for c in cases]
    payloads = [_payload(case, tree) for case, tree in zip(cases, trees, strict=True)]
    results = oz_node("cases.js", payloads)
    assert len(results) == len(cases)
    return [(payload, tree, result) for payload, tree, result in zip(payloads, trees, results, strict=True)]


def test_cross_check_covers_the_requested_sizes(cross: list[Any]) -> None:
    sizes = sorted(len(tree) for _, tree, _ in cross)
    assert {1, 2, 3, 2000} <= set(sizes) and len(cross) >= 28
    assert any(tuple(p["leafEncoding"]) != LEAF_ENCODING for p, _, _ in cross)


def test_roots_match_js(cross: list[Any]) -> None:
    for payload, tree, js in cross:
        assert tree.root == js["root"], payload["leafEncoding"]


def test_every_proof_matches_js(cross: list[Any]) -> None:
    for payload, _, js in cross:
        assert payload["proctor"]["proofs"] == js["proofs"]


def test_multiproofs_match_js(cross: list[Any]) -> None:
    for payload, _, js in cross:
        assert payload["proctor"]["multiproof"] == js["multiproof"], payload["multiproofIndices"]


def test_dumps_match_js(cross: list[Any]) -> None:
    for payload, _, js in cross:
        assert payload["proctor"]["dump"] == js["dump"]


def test_js_loads_proctor_dump_and_verifies_every_proof(cross: list[Any]) -> None:
    for _, tree, js in cross:
        assert js["loadError"] is None
        assert js["loadedRoot"] == tree.root
        assert js["loadedVerify"] == [True] * len(tree)


def test_js_verifies_proctor_proofs_and_multiproofs(cross: list[Any]) -> None:
    for _, tree, js in cross:
        assert js["staticVerify"] == [True] * len(tree)
        assert js["multiproofVerify"] is True


def test_proctor_loads_js_dump(cross: list[Any]) -> None:
    for payload, tree, js in cross:
        loaded = StandardMerkleTree.load(json.loads(json.dumps(js["dump"])))
        assert loaded.nodes == tree.nodes
        assert list(loaded.tree_indices) == list(tree.tree_indices)
        assert loaded.dump() == payload["proctor"]["dump"]


def test_proctor_verifies_js_proofs(cross: list[Any]) -> None:
    for payload, tree, js in cross:
        encoding = payload["leafEncoding"]
        for value, proof in zip(tree.values, js["proofs"], strict=True):
            assert verify(js["root"], encoding, value, proof)
        multiproof = dict(js["multiproof"])
        multiproof["leaves"] = [parse_json_value(encoding, v) for v in multiproof["leaves"]]
        assert verify_multiproof(js["root"], encoding, multiproof)


# --------------------------------------------------------------------------------------------------
# Pinned vectors (no Node needed)
# --------------------------------------------------------------------------------------------------


def test_keccak256_is_keccak_not_sha3() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert merkle.HASH_BACKEND in ("pycryptodome-oneshot", "pycryptodome")


def test_public_keccak_api_agrees_with_backend() -> None:
    rng = random.Random(3)
    for size in (0, 1, 31, 32, 64, 135, 136, 137, 160, 1000):
        data = rng.randbytes(size)
        assert keccak256(data) == merkle._keccak_public(data)


def test_pinned_js_vectors() -> None:
    tree = StandardMerkleTree.of(fixed_values())
    assert tree.root == FIXED_ROOT
    assert tree.get_proof(0) == FIXED_PROOF_0
    assert [tree.tree_index(i) for i in range(5)] == [8, 7, 6, 5, 4]
    assert StandardMerkleTree.of(README_VALUES, ["address", "uint256"]).root == README_ROOT


def test_leaf_and_node_hash_definitions() -> None:
    value = fixed_values()[2]
    encoded = abi_encode(LEAF_ENCODING, value)
    assert len(encoded) == 5 * 32
    assert encoded[:32] == (42).to_bytes(32, "big") and encoded[64:96] == bytes([2]) * 32
    assert leaf_hash(LEAF_ENCODING, value) == keccak256(keccak256(encoded))
    a, b = keccak256(b"a"), keccak256(b"b")
    assert node_hash(a, b) == node_hash(b, a) == keccak256(min(a, b) + max(a, b))


# --------------------------------------------------------------------------------------------------
# ABI encoding and value validation
# --------------------------------------------------------------------------------------------------


def test_abi_encode_static_types() -> None:
    word = abi_encode(
        ["uint8", "int16", "bytes2", "address", "bool", "uint", "int"],
        [255, -2, b"\x01\x02", "0x" + "ab" * 20, True, 2**256 - 1, -(2**255)],
    )
    words = [word[i : i + 32] for i in range(0, len(word), 32)]
    assert words[0] == bytes(31) + b"\xff"
    assert words[1] == b"\xff" * 31 + b"\xfe"
    assert words[2] == b"\x01\x02" + bytes(30)
    assert words[3] == bytes(12) + b"\xab" * 20
    assert words[4] == bytes(31) + b"\x01"
    assert words[5] == b"\xff" * 32
    assert words[6] == b"\x80" + bytes(31)


@pytest.mark.parametrize(
    ("types", "value"),
    [
        (["uint64"], [2**64]),
        (["uint64"], [-1]),
        (["uint32"], [2**32]),
        (["uint8"], [256]),
        (["int8"], [128]),
        (["int8"], [-129]),
        (["uint256"], [2**256]),
        (["uint64"], [True]),
        (["uint64"], [1.0]),
        (["uint64"], ["5"]),
        (["bytes32"], [bytes(31)]),
        (["bytes32"], [bytes(33)]),
        (["bytes32"], ["0x" + "00" * 31]),
        (["bytes32"], ["0xzz" + "00" * 31]),
        (["bytes32"], [42]),
        (["bytes4"], [bytes(32)]),
        (["address"], [bytes(19)]),
        (["address"], ["0x" + "11" * 21]),
        (["bytes1"], ["0xab\n"]),
        (["bool"], [1]),
        (["bool"], ["true"]),
        (["uint64", "uint64"], [1]),
        (["uint64"], [1, 2]),
        (["uint64"], "1"),
    ],
)
def test_out_of_range_or_malformed_values_raise(types: list[str], value: Any) -> None:
    with pytest.raises(ValueError):
        abi_encode(types, value)


@pytest.mark.parametrize(
    "bad_type",
    [
        "string",
        "bytes",
        "uint7",
        "uint264",
        "uint0",
        "int08",
        "bytes0",
        "bytes33",
        "uint64[]",
        "",
        "uint64\n",
    ],
)
def test_unsupported_types_raise(bad_type: str) -> None:
    with pytest.raises(ValueError):
        abi_encode([bad_type], [0])


@pytest.mark.parametrize(
    "bad",
    [
        (2**64, 0, bytes(32), bytes(32), 0),
        (0, 2**32, bytes(32), bytes(32), 0),
        (0, -1, bytes(32), bytes(32), 0),
        (0, 0, bytes(31), bytes(32), 0),
        (0, 0, bytes(32), bytes(33), 0),
        (0, 0, bytes(32), bytes(32), 2**64),
        (0, 0, bytes(32), bytes(32), -1),
        (True, 0, bytes(32), bytes(32), 0),
        (0, 0, bytes(32), bytes(32)),
        (0, 0, "0x" + "00" * 31, bytes(32), 0),
    ],
)
def test_reward_fast_path_rejects_bad_leaves(bad: tuple[Any, ...]) -> None:
    good = (1, 2, bytes(32), bytes(32), 3)
    with pytest.raises(ValueError):
        StandardMerkleTree.of([good, bad])
    with pytest.raises(ValueError):
        leaf_hash(LEAF_ENCODING, bad)


def test_reward_fast_path_equals_generic_encoding() -> None:
    rng = random.Random(7)
    for value in reward_values(rng, 50) + [(U64_MAX, 2**32 - 1, b"\xff" * 32, bytes(32), U64_MAX)]:
        assert leaf_hash(LEAF_ENCODING, value) == keccak256(keccak256(abi_encode(LEAF_ENCODING, value)))
        as_hex = (value[0], value[1], "0x" + value[2].hex(), bytearray(value[3]), value[4])
        assert leaf_hash(LEAF_ENCODING, as_hex) == leaf_hash(LEAF_ENCODING, value)


def test_json_values_round_trip_and_keep_uint64_exact() -> None:
    value = (U64_MAX, 7, b"\xab" * 32, bytes(32), U64_MAX - 1)
    rendered = to_json_value(LEAF_ENCODING, value)
    assert rendered == [str(U64_MAX), "7", "0x" + "ab" * 32, "0x" + "00" * 32, str(U64_MAX - 1)]
    assert parse_json_value(LEAF_ENCODING, json.loads(json.dumps(rendered))) == value
    assert parse_json_value(["uint64", "bool", "int8"], [5, "true", "-3"]) == (5, True, -3)
    assert to_json_value(["address", "bool", "int8"], ["0x" + "AB" * 20, False, -3]) == [
        "0x" + "ab" * 20,
        False,
        "-3",
    ]


# --------------------------------------------------------------------------------------------------
# Proofs and verification
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree_500() -> StandardMerkleTree:
    return StandardMerkleTree.of(reward_values(random.Random(11), 500))


def test_every_proof_verifies(tree_500: StandardMerkleTree) -> None:
    for i, value in enumerate(tree_500.values):
        assert verify(tree_500.root, LEAF_ENCODING, value, tree_500.get_proof(i))
        assert StandardMerkleTree.verify(tree_500.root_bytes, LEAF_ENCODING, value, tree_500.get_proof(i))
        assert process_proof(tree_500.leaf_hash(i), tree_500.get_proof(i)) == tree_500.root_bytes


def test_tampered_proof_leaf_or_root_fails(tree_500: StandardMerkleTree) -> None:
    value, proof, root = tree_500.at(17), tree_500.get_proof(17), tree_500.root
    assert verify(root, LEAF_ENCODING, value, proof)
    flipped = proof[:]
    flipped[3] = flipped[3][:-1] + ("0" if flipped[3][-1] != "0" else "1")
    assert not verify(root, LEAF_ENCODING, value, flipped)
    assert not verify(root, LEAF_ENCODING, value, proof[:-1])
    assert not verify(root, LEAF_ENCODING, value, proof + [proof[0]])
    assert not verify(root, LEAF_ENCODING, value, list(reversed(proof)))
    assert not verify(root, LEAF_ENCODING, (*value[:4], value[4] ^ 1), proof)
    assert not verify(root, LEAF_ENCODING, tree_500.at(18), proof)
    assert not verify("0x" + "00" * 32, LEAF_ENCODING, value, proof)
    with pytest.raises(ValueError):
        verify(root, LEAF_ENCODING, value, proof[:2] + ["0x1234"])


def test_iter_proofs_equals_get_proof() -> None:
    rng = random.Random(5)
    for n in [*range(1, 70), 257, 1000]:
        tree = StandardMerkleTree.of(reward_values(rng, n), sort_leaves=n % 3 != 0)
        streamed = list(tree.iter_proofs())
        assert sorted(i for i, _ in streamed) == list(range(n))
        for i, proof in streamed:
            assert proof == tree.get_proof(i)


def test_iter_proofs_yields_independent_lists(tree_500: StandardMerkleTree) -> None:
    seen = []
    for i, proof in tree_500.iter_proofs():
        proof.clear()  # a caller mutating a proof must not corrupt later ones
        seen.append(i)
    assert all(p == tree_500.get_proof(i) for i, p in tree_500.iter_proofs())
    assert len(seen) == 500


def test_unsorted_layout() -> None:
    values = reward_values(random.Random(2), 9)
    tree = StandardMerkleTree.of(values, sort_leaves=False)
    assert [tree.tree_index(i) for i in range(9)] == [16 - i for i in range(9)]
    assert StandardMerkleTree.of(values).root != tree.root


def test_multiproofs(tree_500: StandardMerkleTree) -> None:
    rng = random.Random(9)
    for k in (1, 2, 7, 64, 500):
        multiproof = tree_500.get_multiproof(rng.sample(range(500), k))
        assert len(multiproof["leaves"]) + len(multiproof["proof"]) == len(multiproof["proofFlags"]) + 1
        assert verify_multiproof(tree_500.root, LEAF_ENCODING, multiproof)
        assert StandardMerkleTree.verify_multiproof(tree_500.root, LEAF_ENCODING, multiproof)


def test_empty_multiproof_is_the_root(tree_500: StandardMerkleTree) -> None:
    assert tree_500.get_multiproof([]) == {"leaves": [], "proof": [tree_500.root], "proofFlags": []}
    assert verify_multiproof(tree_500.root, LEAF_ENCODING, tree_500.get_multiproof([]))


def test_tampered_or_malformed_multiproof(tree_500: StandardMerkleTree) -> None:
    multiproof = tree_500.get_multiproof([3, 99, 250, 400])
    tampered = copy.deepcopy(multiproof)
    tampered["leaves"][0] = (*tampered["leaves"][0][:4], tampered["leaves"][0][4] ^ 1)
    assert not verify_multiproof(tree_500.root, LEAF_ENCODING, tampered)
    swapped = copy.deepcopy(multiproof)
    swapped["proof"][0], swapped["proof"][1] = swapped["proof"][1], swapped["proof"][0]
    assert not verify_multiproof(tree_500.root, LEAF_ENCODING, swapped)
    short = {**multiproof, "proof": multiproof["proof"][:-1]}
    with pytest.raises(ValueError):
        verify_multiproof(tree_500.root, LEAF_ENCODING, short)
    with pytest.raises(ValueError):
        process_multiproof([], [], [True])
    with pytest.raises(ValueError):
        tree_500.get_multiproof([1, 2, 1])


def test_index_errors_and_lookup(tree_500: StandardMerkleTree) -> None:
    with pytest.raises(IndexError):
        tree_500.get_proof(500)
    with pytest.raises(IndexError):
        tree_500.get_proof(-1)
    assert tree_500.leaf_lookup(tree_500.at(123)) == 123
    with pytest.raises(ValueError):
        tree_500.leaf_lookup((0, 0, bytes(32), bytes(32), 0))


def test_empty_tree_is_rejected() -> None:
    with pytest.raises(ValueError):
        StandardMerkleTree.of([])


# --------------------------------------------------------------------------------------------------
# Persistence: dump/load and from_nodes
# --------------------------------------------------------------------------------------------------


def test_dump_load_round_trip(tree_500: StandardMerkleTree) -> None:
    dump = json.loads(json.dumps(tree_500.dump()))
    assert dump["format"] == "standard-v1" and dump["leafEncoding"] == list(LEAF_ENCODING)
    assert len(dump["tree"]) == 999 and dump["tree"][0] == tree_500.root
    loaded = StandardMerkleTree.load(dump)
    assert loaded.nodes == tree_500.nodes and loaded.values == tree_500.values
    assert loaded.dump() == dump


def _corruptions(dump: dict[str, Any]) -> list[dict[str, Any]]:
    """Ways to damage a dump that load() must reject."""
    out = []

    def variant(change: Any) -> None:
        damaged = copy.deepcopy(dump)
        change(damaged)
        out.append(damaged)

    variant(lambda d: d.update(format="standard-v2"))
    variant(lambda d: d.pop("leafEncoding"))
    variant(lambda d: d.update(leafEncoding=["uint64", "uint32", "bytes32", "bytes32", "bytes32"]))
    variant(lambda d: d.update(leafEncoding=["uint64", "uint32", "bytes32", "bytes32"]))
    variant(lambda d: d.update(leafEncoding=["uint64", "uint32", "bytes32", "bytes32", "string"]))
    variant(lambda d: d["tree"].__setitem__(0, "0x" + "11" * 32))
    variant(lambda d: d["tree"].__setitem__(5, d["tree"][6]))
    variant(lambda d: d["tree"].__setitem__(len(d["tree"]) - 1, "0x" + "ab" * 31))
    variant(lambda d: d["tree"].__setitem__(1, "0xnothex" + "00" * 29))
    variant(lambda d: d["tree"].pop())
    variant(lambda d: d["values"][3]["value"].__setitem__(4, str(int(d["values"][3]["value"][4]) + 1)))
    variant(lambda d: d["values"][3]["value"].__setitem__(4, str(2**64)))
    variant(lambda d: d["values"][3]["value"].__setitem__(2, "0x" + "00" * 31))
    variant(lambda d: d["values"][3].update(treeIndex=d["values"][4]["treeIndex"]))
    variant(lambda d: d["values"][3].update(treeIndex=0))
    variant(lambda d: d["values"][3].update(treeIndex="7"))
    variant(lambda d: d["values"][3].update(extra=1))
    variant(lambda d: d["values"].pop())
    variant(lambda d: d["values"].__setitem__(0, d["values"][1]))
    return out


def test_load_rejects_corrupted_dumps() -> None:
    dump = StandardMerkleTree.of(reward_values(random.Random(4), 12)).dump()
    StandardMerkleTree.load(copy.deepcopy(dump))
    for number, damaged in enumerate(_corruptions(dump)):
        with pytest.raises(ValueError):
            StandardMerkleTree.load(damaged)
            pytest.fail(f"corruption #{number} was accepted")


def test_from_nodes_round_trip(tree_500: StandardMerkleTree) -> None:
    stored_nodes, stored_indices = bytes(tree_500.nodes), tree_500.tree_indices.tobytes()
    assert len(stored_nodes) == 999 * 32
    from array import array

    indices = array("q")
    indices.frombytes(stored_indices)
    for check in (False, True):
        rebuilt = StandardMerkleTree.from_nodes(stored_nodes, tree_500.values, indices, verify=check)
        assert rebuilt.root == tree_500.root
        assert list(rebuilt.iter_proofs()) == list(tree_500.iter_proofs())
        assert rebuilt.get_multiproof([1, 5, 9]) == tree_500.get_multiproof([1, 5, 9])
        assert rebuilt.dump() == tree_500.dump()


def test_from_nodes_verify_detects_tampering(tree_500: StandardMerkleTree) -> None:
    nodes, values, indices = bytearray(tree_500.nodes), list(tree_500.values), list(tree_500.tree_indices)
    nodes[40 * 32] ^= 1
    StandardMerkleTree.from_nodes(bytes(nodes), values, indices)  # unchecked: accepted
    with pytest.raises(ValueError):
        StandardMerkleTree.from_nodes(bytes(nodes), values, indices, verify=True)
    swapped = indices[:]
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(ValueError):
        StandardMerkleTree.from_nodes(tree_500.nodes, values, swapped, verify=True)
    duplicated = indices[:]
    duplicated[0] = duplicated[1]
    with pytest.raises(ValueError):
        StandardMerkleTree.from_nodes(tree_500.nodes, values, duplicated, verify=True)


def test_from_nodes_checks_shape(tree_500: StandardMerkleTree) -> None:
    values, indices = tree_500.values, tree_500.tree_indices
    with pytest.raises(ValueError):
        StandardMerkleTree.from_nodes(tree_500.nodes[:-32], values, indices)
    with pytest.raises(ValueError):
        StandardMerkleTree.from_nodes(tree_500.nodes, values, indices[:-1])
    with pytest.raises(ValueError):
        StandardMerkleTree.from_nodes(tree_500.nodes, values, [0, *indices[1:]])
    with pytest.raises(ValueError):
        StandardMerkleTree.from_nodes(tree_500.nodes, values, indices, ["uint64", "string"])
