"""Pure consent domain: ids, EIP-712 types, patient keys, consent index, Merkle commitments, the
records that cross floors in a round (`consent.records`, `consent.rounds`) and the artifact
formats (`consent.formats`).

No I/O to chains or stores lives here; `chain/` and `fl/` both build on it.
"""
