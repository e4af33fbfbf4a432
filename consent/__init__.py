"""Pure consent domain: ids, EIP-712 types, patient keys, consent index, Merkle commitments.

No I/O to chains or stores lives here; `chain/` and `fl/` both build on it.
"""
