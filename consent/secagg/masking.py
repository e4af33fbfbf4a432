"""Masking a hospital's encoded update, and removing the masks from the sum (Bonawitz et al.
2017, with every hospital a neighbour of every other: SecAgg, not the sparse-graph SecAgg+).

Hospital `i` of the round's roster sends

    y_i = q_i + PRG(self_i) + sum_{j in roster, j != i} sign(i, j) * PRG(s_ij)     (mod 2**64)

with `sign(i, j) = +1` if `i`'s address sorts below `j`'s, else -1, so the pairwise terms of two
hospitals that both submit cancel in the sum. For the survivors `S` (who submitted) and the
dropped `D = roster - S`:

    sum_{i in S} q_i = sum_{i in S} y_i - sum_{i in S} PRG(self_i)
                       - sum_{j in D} sum_{i in S} sign(i, j) * PRG(s_ij)

which needs every survivor's self seed and every dropped hospital's mask private key, both
rebuilt from revealed shares (`consent.secagg.shares`), never both for one hospital.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from consent.ids import Address
from consent.secagg.errors import SecAggParamsError
from consent.secagg.prg import RoundContext, expand, pairwise_seed, self_mask_seed
from consent.secagg.ring import RingVector, ring_sum

__all__ = ["mask", "unmask"]


def _sorts_below(a: Address, b: Address) -> bool:
    return bytes.fromhex(a[2:]) < bytes.fromhex(b[2:])


def _apply(total: RingVector, term: RingVector, *, add: bool) -> None:
    if add:
        np.add(total, term, out=total)
    else:
        np.subtract(total, term, out=total)


def mask(
    context: RoundContext,
    *,
    owner: Address,
    mask_key: X25519PrivateKey,
    roster: Mapping[Address, X25519PublicKey],
    self_seed: bytes,
    encoded: RingVector,
) -> RingVector:
    """`encoded` plus `owner`'s self-mask and its pairwise masks with every other roster member."""
    if owner not in roster:
        raise SecAggParamsError(f"{owner} is not on the round's roster")
    length = encoded.shape[0]
    masked = encoded.copy()
    np.add(masked, expand(self_mask_seed(context, owner, self_seed), length), out=masked)
    for peer, peer_key in roster.items():
        if peer == owner:
            continue
        seed = pairwise_seed(context, owner, mask_key, peer, peer_key)
        _apply(masked, expand(seed, length), add=_sorts_below(owner, peer))
    return masked


def unmask(
    context: RoundContext,
    *,
    roster: Mapping[Address, X25519PublicKey],
    masked: Mapping[Address, RingVector],
    self_seeds: Mapping[Address, bytes],
    dropped_keys: Mapping[Address, X25519PrivateKey],
) -> RingVector:
    """The sum of the survivors' encoded updates (see the module docstring)."""
    survivors = set(masked)
    dropped = set(roster) - survivors
    if not survivors <= set(roster):
        raise SecAggParamsError(
            f"masked updates from outside the roster: {survivors - set(roster)}"
        )
    if set(self_seeds) != survivors:
        raise SecAggParamsError("a self seed is needed for exactly every survivor")
    if set(dropped_keys) != dropped:
        raise SecAggParamsError("a mask key is needed for exactly every dropped hospital")
    total = ring_sum(list(masked.values()))
    length = total.shape[0]
    for survivor in sorted(survivors):
        term = expand(self_mask_seed(context, survivor, self_seeds[survivor]), length)
        np.subtract(total, term, out=total)
    for gone in sorted(dropped):
        for survivor in sorted(survivors):
            seed = pairwise_seed(context, gone, dropped_keys[gone], survivor, roster[survivor])
            # the survivor added this term if it sorts below the dropped hospital: take it away
            _apply(total, expand(seed, length), add=not _sorts_below(survivor, gone))
    return total
