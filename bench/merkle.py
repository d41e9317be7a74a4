"""Benchmark proctor's Merkle tree against @openzeppelin/merkle-tree (Node).

    python bench/merkle.py [--leaves 1000000] [--seed 1] [--skip-node]

Generates N deterministic random proctor reward leaves into a temporary binary file, then times, each in
its own child process so that peak RSS is measured separately:

1. proctor: ``StandardMerkleTree.of`` then streaming every proof with ``iter_proofs()`` (counted, not kept);
2. Node: ``StandardMerkleTree.of`` then ``getProof(i)`` for every index (``tests/js/bench.js``).

Prints a table with both rows, the proctor/Node time ratio and whether the roots are identical. The JS
dependencies are installed in ``tests/js`` with ``npm ci`` when missing, as the tests do.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
JS_DIR = REPO / "tests" / "js"
OZ_PACKAGE_JSON = JS_DIR / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"
RECORD = struct.Struct(">QI32s32sQ")  # epoch, index, hotkey, recipient, amount (84 bytes)
U64_MAX = 2**64 - 1


def write_leaves(path: Path, count: int, seed: int) -> None:
    """Write ``count`` deterministic random reward leaves as fixed 84-byte big-endian records."""
    rng = random.Random(seed)
    epoch = rng.getrandbits(32)
    with path.open("wb") as out:
        for start in range(0, count, 65536):
            chunk = range(start, min(start + 65536, count))
            out.write(
                b"".join(
                    RECORD.pack(epoch, i, rng.randbytes(32), rng.randbytes(32), rng.randint(1, U64_MAX))
                    for i in chunk
                )
            )


def peak_rss_bytes() -> int:
    """Peak RSS of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def proctor_worker(path: Path) -> dict[str, Any]:
    """Time proctor on the leaves in ``path``: build, then stream and count every proof."""
    sys.path.insert(0, str(REPO / "src"))
    from proctor.core.rewards.merkle import HASH_BACKEND, StandardMerkleTree

    values = list(RECORD.iter_unpack(path.read_bytes()))
    rss_values = peak_rss_bytes()
    t0 = time.perf_counter()
    tree = StandardMerkleTree.of(values)
    t1 = time.perf_counter()
    proof_nodes = proofs = 0
    for _, proof in tree.iter_proofs():
        proofs += 1
        proof_nodes += len(proof)
    t2 = time.perf_counter()
    assert proofs == len(values)
    return {
        "root": tree.root,
        "leaves": len(values),
        "proofNodes": proof_nodes,
        "buildSeconds": t1 - t0,
        "proofsSeconds": t2 - t1,
        "totalSeconds": t2 - t0,
        "maxRssBytes": peak_rss_bytes(),
        "valuesRssBytes": rss_values,
        "backend": HASH_BACKEND,
    }


def run_proctor(path: Path) -> dict[str, Any]:
    """Run the proctor worker in a fresh interpreter and return its report."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"proctor worker failed:\n{done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def ensure_js_deps() -> str:
    """Install tests/js dependencies with ``npm ci`` if missing; return the node executable."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit("node and npm are required for the Node row (or pass --skip-node)")
    if not OZ_PACKAGE_JSON.exists():
        print("installing tests/js dependencies with npm ci ...", file=sys.stderr)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True)
    return node


def run_node(path: Path, max_old_space_mb: int) -> dict[str, Any]:
    """Run tests/js/bench.js on the leaves file and return its report."""
    node = ensure_js_deps()
    command = [node, f"--max-old-space-size={max_old_space_mb}", str(JS_DIR / "bench.js"), str(path)]
    done = subprocess.run(command, cwd=JS_DIR, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"node bench failed:\n{done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def print_table(count: int, rows: dict[str, dict[str, Any]]) -> None:
    """Print both rows, the time ratio and whether the roots agree."""
    table = Table(title=f"StandardMerkleTree, {count:,} leaves: build + every proof")
    for column in ("impl", "build s", "proofs s", "total s", "peak RSS MiB", "root"):
        table.add_column(column, justify="left" if column in ("impl", "root") else "right")
    for name, row in rows.items():
        table.add_row(
            name,
            f"{row['buildSeconds']:.2f}",
            f"{row['proofsSeconds']:.2f}",
            f"{row['totalSeconds']:.2f}",
            f"{row['maxRssBytes'] / 2**20:.0f}",
            row["root"][:18] + "…",
        )
    console = Console(width=120)
    console.print(table)
    proctor = rows["proctor"]
    console.print(
        f"proctor keccak backend: {proctor['backend']}; proctor RSS after loading the values, "
        f"before building: {proctor['valuesRssBytes'] / 2**20:.0f} MiB"
    )
    if "node" in rows:
        node = rows["node"]
        console.print(
            f"ratio proctor/node (total time): {proctor['totalSeconds'] / node['totalSeconds']:.3f}"
        )
        console.print(f"roots identical: {proctor['root'] == node['root']}")
        console.print(f"  proctor {proctor['root']}\n  node    {node['root']}", soft_wrap=True)
        console.print(f"same total number of proof nodes: {proctor['proofNodes'] == node['proofNodes']}")


def main() -> None:
    """Parse arguments, generate leaves, run both implementations and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-node", action="store_true", help="only run proctor")
    parser.add_argument("--node-max-old-space-mb", type=int, default=8192)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(proctor_worker(args.worker)))
        return
    if args.leaves < 1:
        parser.error("--leaves must be at least 1")
    with tempfile.TemporaryDirectory(prefix="proctor-merkle-bench-") as tmp:
        path = Path(tmp) / "leaves.bin"
        write_leaves(path, args.leaves, args.seed)
        rows = {"proctor": run_proctor(path)}
        print(f"proctor done in {rows['proctor']['totalSeconds']:.2f} s", file=sys.stderr)
        if not args.skip_node:
            started = time.perf_counter()
            rows["node"] = run_node(path, args.node_max_old_space_mb)
            print(f"node done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print_table(args.leaves, rows)
    if "node" in rows and rows["node"]["root"] != rows["proctor"]["root"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
