"""The Merkle tree of the event log: RFC 6962's hashes and proofs, against its published
vectors and as properties over any leaves (any change to any leaf changes the root)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# The reference leaves and roots of the Certificate Transparency implementations (RFC 6962).
CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
             "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
HASHES = [leaf_hash(d) for d in CT_LEAVES]


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH as RFC 6962 defines it, recursively: the specification the code is held to."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


leaves = st.lists(st.binary(max_size=12), max_size=40).map(lambda ds: [leaf_hash(d) for d in ds])


def test_the_roots_are_rfc_6962s_published_ones():
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert [root(HASHES[:n]).hex() for n in range(1, 9)] == CT_ROOTS


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_the_inclusion_proofs_are_rfc_6962s_published_ones(index, size, path):
    assert [h.hex() for h in inclusion_proof(index, HASHES[:size])] == path
    proof = [bytes.fromhex(h) for h in path]
    assert verify_inclusion(index, size, HASHES[index], proof, bytes.fromhex(CT_ROOTS[size - 1]))


@given(leaves)
def test_a_tree_grown_leaf_by_leaf_has_the_definitions_root_at_every_size(hashes):
    frontier = Frontier()
    for n, leaf in enumerate(hashes, 1):
        frontier.append(leaf)
        assert frontier.root() == reference_root(hashes[:n]) == root(hashes[:n])
    again = Frontier(frontier.size, frontier.peaks)  # a follower resumes from what it kept
    again.append(leaf_hash(b"next"))
    assert again.root() == root([*hashes, leaf_hash(b"next")])


@given(leaves.filter(bool), st.data())
def test_any_change_deletion_insertion_or_swap_of_a_leaf_changes_the_root(hashes, data):
    i = data.draw(st.integers(0, len(hashes) - 1))
    changed = [*hashes]
    changed[i] = leaf_hash(b"forged" + changed[i])
    deleted = hashes[:i] + hashes[i + 1 :]
    inserted = [*hashes[:i], leaf_hash(b"inserted"), *hashes[i:]]
    variants = [changed, deleted, inserted]
    j = data.draw(st.integers(0, len(hashes) - 1))
    if hashes[i] != hashes[j]:
        swapped = [*hashes]
        swapped[i], swapped[j] = swapped[j], swapped[i]
        variants.append(swapped)
    assert all(root(v) != root(hashes) for v in variants)


@given(leaves.filter(bool), st.data())
def test_every_leaf_proves_its_inclusion_and_nothing_else_does(hashes, data):
    top, size = root(hashes), len(hashes)
    for i, leaf in enumerate(hashes):
        path = inclusion_proof(i, hashes)
        assert verify_inclusion(i, size, leaf, path, top)
    i = data.draw(st.integers(0, size - 1))
    path = inclusion_proof(i, hashes)
    assert not verify_inclusion(i, size, leaf_hash(b"other" + hashes[i]), path, top)
    assert not verify_inclusion(size, size, hashes[i], path, top)
    if path:
        assert not verify_inclusion(i, size, hashes[i], path[:-1], top)


@given(leaves, st.data())
def test_consistency_proofs_hold_for_every_pair_of_sizes_and_fail_for_a_rewritten_past(
    hashes, data
):
    n = len(hashes)
    for m in range(n + 1):
        proof = consistency_proof(m, hashes)
        assert verify_consistency(m, n, root(hashes[:m]), root(hashes), proof)
    if n >= 2:
        m = data.draw(st.integers(1, n - 1))
        rewritten = [*hashes]
        rewritten[data.draw(st.integers(0, m - 1))] = leaf_hash(b"rewritten")
        old = root(rewritten[:m])  # a digest of a past the current log does not extend
        if old != root(hashes[:m]):
            assert not verify_consistency(m, n, old, root(hashes), consistency_proof(m, hashes))
        assert not verify_consistency(m, n, root(hashes[:m]), root(hashes), [])
