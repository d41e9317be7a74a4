#!/usr/bin/env node
// Cross-check helper for tests/core/rewards/test_merkle.py.
//
// Reads a JSON array of cases on stdin. Each case:
//   {leafEncoding, values, sortLeaves, multiproofIndices, proctor: {root, proofs, multiproof, dump}}
// where values are in the JSON form of proctor's dump and proctor.* is what proctor computed.
// Prints a JSON array with, per case, what @openzeppelin/merkle-tree computes for the same values
// (root, every proof, the multiproof, the dump) and whether the JS library accepts proctor's output:
//   loadError        - null, or the error StandardMerkleTree.load(proctor.dump) threw
//   loadedRoot       - root of the tree loaded from proctor's dump
//   loadedVerify     - per value: loaded.verify(i, proctor.proofs[i])
//   staticVerify     - per value: StandardMerkleTree.verify(proctor.root, encoding, value, proctor.proofs[i])
//   multiproofVerify - StandardMerkleTree.verifyMultiProof(proctor.root, encoding, proctor.multiproof)
'use strict';

const fs = require('fs');
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

function attempt(fn) {
  try {
    return fn();
  } catch (err) {
    return `error: ${err.message}`;
  }
}

function runCase({ leafEncoding, values, sortLeaves, multiproofIndices, proctor }) {
  const tree = StandardMerkleTree.of(values, leafEncoding, { sortLeaves });
  const result = {
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
    multiproof: tree.getMultiProof(multiproofIndices),
    dump: tree.dump(),
    loadError: null,
    loadedRoot: null,
    loadedVerify: [],
    staticVerify: values.map((value, i) =>
      attempt(() => StandardMerkleTree.verify(proctor.root, leafEncoding, value, proctor.proofs[i])),
    ),
    multiproofVerify: attempt(() =>
      StandardMerkleTree.verifyMultiProof(proctor.root, leafEncoding, proctor.multiproof),
    ),
  };
  let loaded;
  try {
    loaded = StandardMerkleTree.load(proctor.dump);
  } catch (err) {
    result.loadError = err.message;
    return result;
  }
  result.loadedRoot = loaded.root;
  result.loadedVerify = values.map((_, i) => attempt(() => loaded.verify(i, proctor.proofs[i])));
  return result;
}

const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map(runCase)));
