"""One secure-aggregation round from each party's side, over the pure pieces of this package.

- set-up (once per registered key): `deal_mask_key` shares a hospital's X25519 mask private key
  t-of-n among the roster members, sealed to their encryption keys;
- submit: `submit` quantizes nothing (the caller passes the encoded vector, see `ring`), draws a
  fresh self-mask seed, masks, and deals the seed to the roster;
- reveal: `reveal` opens, for each survivor, the holder's share of its self seed and, for each
  dropped hospital, the holder's share of its mask key: never both kinds for one hospital;
- recover: `recover_sum` checks every reveal against the dealers' commitments, rebuilds the
  secrets (a dropped hospital's key must match the public key on the roster) and removes the
  masks. Anyone holding the public transcript (roster, key deals, masked updates, reveals) can
  run it: this is how the audit recomputes the aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from consent.ids import Address, Bytes32
from consent.sealing import load_private_key, load_public_key, private_key_bytes, public_key_bytes
from consent.secagg.errors import (
    ForbiddenRevealError,
    MalformedMaskedUpdateError,
    ReconstructionError,
    SecAggParamsError,
)
from consent.secagg.masking import mask, unmask
from consent.secagg.prg import RoundContext, StudyContext
from consent.secagg.ring import RingVector
from consent.secagg.shares import Deal, Share, deal, new_secret, open_share, reconstruct

__all__ = [
    "MASK_KEY",
    "SELF_SEED",
    "KeyDeal",
    "MaskedUpdate",
    "RecoveredSum",
    "Reveal",
    "RosterEntry",
    "deal_mask_key",
    "recover_sum",
    "reveal",
    "submit",
]

SELF_SEED: Final = "self"
MASK_KEY: Final = "mask"


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A hospital's registered keys for the study: mask agreement and share sealing."""

    hospital: Address
    mask_key: Bytes32
    seal_key: Bytes32


@dataclass(frozen=True, slots=True)
class KeyDeal:
    """A hospital's mask private key, shared among its peers at registration."""

    context: StudyContext
    deal: Deal


@dataclass(frozen=True, slots=True)
class MaskedUpdate:
    """What a hospital publishes for a round: its masked vector and the deal of its self seed."""

    context: RoundContext
    hospital: Address
    weight: int
    vector: RingVector
    self_deal: Deal


@dataclass(frozen=True, slots=True)
class Reveal:
    """What a survivor publishes after submissions close."""

    context: RoundContext
    holder: Address
    shares: tuple[Share, ...]


@dataclass(frozen=True, slots=True)
class RecoveredSum:
    """The unmasked sum of the survivors' encoded updates and what it covers."""

    total: RingVector
    weight_sum: int
    survivors: tuple[Address, ...]
    dropped: tuple[Address, ...]


def _public_keys(roster: Sequence[RosterEntry]) -> dict[Address, X25519PublicKey]:
    return {entry.hospital: load_public_key(entry.mask_key) for entry in roster}


def _holders(roster: Sequence[RosterEntry], owner: Address) -> dict[Address, bytes]:
    """Every roster member holds a share, the owner too (as in Bonawitz et al.): a survivor then
    counts towards the threshold for its own self seed."""
    if owner not in {entry.hospital for entry in roster}:
        raise SecAggParamsError(f"{owner} is not on the roster")
    return {entry.hospital: bytes(entry.seal_key) for entry in roster}


def deal_mask_key(
    context: StudyContext,
    *,
    owner: Address,
    mask_key: X25519PrivateKey,
    roster: Sequence[RosterEntry],
    threshold: int,
) -> KeyDeal:
    """Share `owner`'s mask private key among the roster."""
    secret = private_key_bytes(mask_key)
    peers = _holders(roster, owner)
    return KeyDeal(
        context,
        deal(
            context, kind=MASK_KEY, owner=owner, secret=secret, holders=peers, threshold=threshold
        ),
    )


def submit(
    context: RoundContext,
    *,
    owner: Address,
    mask_key: X25519PrivateKey,
    roster: Sequence[RosterEntry],
    threshold: int,
    encoded: RingVector,
    weight: int,
) -> MaskedUpdate:
    """`owner`'s masked update for the round, with its self seed dealt to the roster."""
    seed = new_secret()
    vector = mask(
        context,
        owner=owner,
        mask_key=mask_key,
        roster=_public_keys(roster),
        self_seed=seed,
        encoded=encoded,
    )
    self_deal = deal(
        context,
        kind=SELF_SEED,
        owner=owner,
        secret=seed,
        holders=_holders(roster, owner),
        threshold=threshold,
    )
    return MaskedUpdate(context, owner, weight, vector, self_deal)


def reveal(
    context: RoundContext,
    *,
    holder: Address,
    seal_key: X25519PrivateKey,
    survivors: Sequence[MaskedUpdate],
    dropped: Sequence[KeyDeal],
) -> Reveal:
    """`holder`'s shares: self seeds of the survivors, mask keys of the dropped."""
    alive = {update.hospital for update in survivors}
    if alive & {kd.deal.owner for kd in dropped}:
        raise SecAggParamsError("a hospital cannot be both a survivor and dropped")
    shares = [open_share(context, update.self_deal, holder, seal_key) for update in survivors]
    shares += [open_share(kd.context, kd.deal, holder, seal_key) for kd in dropped]
    return Reveal(context, holder, tuple(shares))


def _check_update(
    context: RoundContext, update: MaskedUpdate, roster: set[Address], n: int
) -> None:
    if update.context != context:
        raise MalformedMaskedUpdateError("it belongs to another round", hospital=update.hospital)
    if update.hospital not in roster:
        raise MalformedMaskedUpdateError(
            "its sender is not on the roster", hospital=update.hospital
        )
    if update.vector.shape != (n,):
        raise MalformedMaskedUpdateError(
            f"{update.vector.shape[0]} elements, the round's first has {n}",
            hospital=update.hospital,
        )
    if update.self_deal.owner != update.hospital or update.self_deal.kind != SELF_SEED:
        raise MalformedMaskedUpdateError(
            "its self-seed deal is someone else's", hospital=update.hospital
        )


def recover_sum(
    context: RoundContext,
    *,
    roster: Sequence[RosterEntry],
    key_deals: Mapping[Address, KeyDeal],
    updates: Sequence[MaskedUpdate],
    reveals: Sequence[Reveal],
) -> RecoveredSum:
    """The survivors' sum from the public transcript; raises a named `SecAggError`."""
    if not updates:
        raise SecAggParamsError("no masked updates to aggregate")
    members = {entry.hospital for entry in roster}
    length = updates[0].vector.shape[0]
    for update in updates:
        _check_update(context, update, members, length)
    survivors = {update.hospital: update for update in updates}
    dropped = sorted(members - set(survivors))
    by_owner = _sort_reveals(reveals, set(survivors), set(dropped))
    seeds = {
        owner: reconstruct(context, update.self_deal, by_owner.get(owner, []))
        for owner, update in survivors.items()
    }
    keys = {owner: _dropped_key(owner, key_deals, by_owner, roster) for owner in dropped}
    total = unmask(
        context,
        roster=_public_keys(roster),
        masked={owner: update.vector for owner, update in survivors.items()},
        self_seeds=seeds,
        dropped_keys=keys,
    )
    weight_sum = sum(update.weight for update in updates)
    return RecoveredSum(total, weight_sum, tuple(sorted(survivors)), tuple(dropped))


def _sort_reveals(
    reveals: Sequence[Reveal], survivors: set[Address], dropped: set[Address]
) -> dict[Address, list[Share]]:
    """Revealed shares by owner; a share of the wrong kind for its owner is named."""
    by_owner: dict[Address, list[Share]] = {}
    for published in reveals:
        for share in published.shares:
            wanted = SELF_SEED if share.owner in survivors else MASK_KEY
            if (
                share.holder != published.holder
                or share.kind != wanted
                or share.owner not in survivors | dropped
            ):
                raise ForbiddenRevealError(share.owner, published.holder, share.kind)
            by_owner.setdefault(share.owner, []).append(share)
    return by_owner


def _dropped_key(
    owner: Address,
    key_deals: Mapping[Address, KeyDeal],
    by_owner: Mapping[Address, list[Share]],
    roster: Sequence[RosterEntry],
) -> X25519PrivateKey:
    try:
        key_deal = key_deals[owner]
    except KeyError as exc:
        raise ReconstructionError(owner, "it never dealt its mask key") from exc
    key = load_private_key(reconstruct(key_deal.context, key_deal.deal, by_owner.get(owner, [])))
    registered = next(entry.mask_key for entry in roster if entry.hospital == owner)
    if public_key_bytes(key) != registered:
        raise ReconstructionError(owner, "the rebuilt mask key is not the registered one")
    return key
