"""A Merkle tree over the event log in the style of RFC 6962 (9162): hashes, proofs, checks.

Leaves are the events' stored bytes in log order. A leaf's hash is SHA-256 of 0x00 and its
bytes, a node's SHA-256 of 0x01 and its two children (distinct prefixes: no leaf can pass for
a node); the tree of n leaves splits at the largest power of two below n. An inclusion proof
shows that a leaf is in a tree of a given root; a consistency proof, that a tree of m leaves
is the first m leaves of a later tree of n. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
Subtree = Callable[[int, int], bytes]  # (lo, hi) -> the root of the leaves lo..hi-1


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _lift(fn: int, sn: int) -> tuple[int, int]:
    """Both shifted right until fn's lowest bit is set or fn is 0 (RFC 9162's verifications)."""
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree whose leaf hashes are ``leaves`` (MTH in RFC 6962)."""
    if not leaves:
        return EMPTY_ROOT
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class Frontier:
    """A tree grown one leaf hash at a time, keeping only the roots of its perfect subtrees
    (one per bit of its size): appending is O(log n) amortized, memory O(log n)."""

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()):
        if len(peaks) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} peaks")
        self.size = size
        self.peaks = list(peaks)  # left to right, largest subtree first

    def append(self, leaf: bytes) -> None:
        node, size = leaf, self.size
        while size & 1:  # each full subtree of the same height merges with it
            node = node_hash(self.peaks.pop(), node)
            size >>= 1
        self.peaks.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        node = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            node = node_hash(peak, node)
        return node


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (PATH in RFC 6962)."""
    return inclusion_path(index, len(leaves), _over(leaves))


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves, asking ``subtree`` for
    the roots it needs (a stored tree answers from its stored nodes)."""
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    path.reverse()  # from the leaf's sibling up
    return path


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], top: bytes) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` at ``index`` in the tree of ``size`` leaves
    whose root is ``top`` (RFC 9162, 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            fn, sn = _lift(fn, sn)
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == top


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of the first ``m`` leaves is a prefix of the tree of all of
    ``leaves`` (PROOF in RFC 6962); empty when m is 0 or all of them."""
    return consistency_path(m, len(leaves), _over(leaves))


def consistency_path(m: int, n: int, subtree: Subtree) -> list[bytes]:
    """The consistency proof between the trees of ``m`` and ``n`` leaves, asking ``subtree``
    for the roots it needs."""
    if not 0 <= m <= n:
        raise ValueError(f"a tree of {m} leaves is no prefix of a tree of {n}")
    if m in (0, n):
        return []
    return _subproof(m, 0, n, True, subtree)


def _subproof(m: int, lo: int, hi: int, whole: bool, subtree: Subtree) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [subtree(lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, lo, lo + k, whole, subtree), subtree(lo + k, hi)]
    return [*_subproof(m - k, lo + k, hi, False, subtree), subtree(lo, lo + k)]


def subtree_root(lo: int, hi: int, complete: Callable[[int, int], bytes]) -> bytes:
    """MTH of the leaves lo..hi-1, from ``complete(height, index)``: the root of the perfect
    subtree of 2**height leaves starting at leaf index * 2**height (what a store keeps)."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        return complete(n.bit_length() - 1, lo // n)
    k = _split(n)
    return node_hash(subtree_root(lo, lo + k, complete), subtree_root(lo + k, hi, complete))


def _over(leaves: Sequence[bytes]) -> Subtree:
    return lambda lo, hi: root(leaves[lo:hi])


def verify_consistency(m: int, n: int, old: bytes, new: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree of ``m`` leaves with root ``old`` to be the first m
    leaves of the tree of ``n`` with root ``new`` (RFC 9162, 2.1.4.2)."""
    if not 0 <= m <= n:
        return False
    if m == n:
        return old == new and not proof
    if m == 0:
        return old == EMPTY_ROOT and not proof
    if not proof:
        return False
    path = list(proof)
    if m & (m - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _lift(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old and sr == new and sn == 0
