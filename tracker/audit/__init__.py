"""The audit side: a Merkle tree over the whole event log, digests, proofs and verification."""
