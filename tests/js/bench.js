#!/usr/bin/env node
// Benchmark helper for bench/merkle.py: builds an OpenZeppelin StandardMerkleTree from a binary
// file of proctor reward leaves and derives the proof of every leaf.
//
// Usage: node bench.js LEAVES_FILE
// LEAVES_FILE holds fixed 84-byte records, all big-endian:
//   epoch u64 | index u32 | hotkey 32 bytes | recipient 32 bytes | amount u64
// Prints one JSON line: {root, leaves, proofNodes, buildSeconds, proofsSeconds, totalSeconds, maxRssBytes}.
'use strict';

const fs = require('fs');
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

const LEAF_ENCODING = ['uint64', 'uint32', 'bytes32', 'bytes32', 'uint64'];
const RECORD = 84;

function readValues(path) {
  const buf = fs.readFileSync(path);
  if (buf.length % RECORD !== 0) throw new Error(`file size ${buf.length} is not a multiple of ${RECORD}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const values = new Array(buf.length / RECORD);
  for (let i = 0; i < values.length; i++) {
    const o = i * RECORD;
    values[i] = [
      view.getBigUint64(o).toString(),
      view.getUint32(o + 8).toString(),
      '0x' + buf.toString('hex', o + 12, o + 44),
      '0x' + buf.toString('hex', o + 44, o + 76),
      view.getBigUint64(o + 76).toString(),
    ];
  }
  return values;
}

function seconds(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function main() {
  const values = readValues(process.argv[2]);
  const t0 = process.hrtime.bigint();
  const tree = StandardMerkleTree.of(values, LEAF_ENCODING);
  const buildSeconds = seconds(t0);
  const t1 = process.hrtime.bigint();
  let proofNodes = 0;
  for (let i = 0; i < values.length; i++) {
    proofNodes += tree.getProof(i).length;
  }
  const proofsSeconds = seconds(t1);
  process.stdout.write(
    JSON.stringify({
      root: tree.root,
      leaves: values.length,
      proofNodes,
      buildSeconds,
      proofsSeconds,
      totalSeconds: buildSeconds + proofsSeconds,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    }) + '\n',
  );
}

main();
