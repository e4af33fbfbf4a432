"""Shamir sharing of 32-byte secrets: t shares rebuild, t-1 do not, forged shares are named."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consent.ids import Address, StudyId, parse_address
from consent.sealing import TamperedEnvelopeError, public_key_bytes
from consent.secagg import (
    ForgedShareError,
    ReconstructionError,
    RoundContext,
    SecAggParamsError,
    TooFewSharesError,
)
from consent.secagg.shares import (
    Deal,
    Share,
    combine_unchecked,
    deal,
    new_secret,
    open_share,
    reconstruct,
)

CONTEXT = RoundContext(StudyId(bytes(range(32))), 4)
HOLDERS = [parse_address(f"0x{i:040x}") for i in range(1, 7)]
KEYS = {h: X25519PrivateKey.generate() for h in HOLDERS}
OWNER = HOLDERS[0]


def _deal(secret: bytes, threshold: int = 4) -> Deal:
    return deal(
        CONTEXT,
        kind="self",
        owner=OWNER,
        secret=secret,
        holders={h: bytes(public_key_bytes(k)) for h, k in KEYS.items()},
        threshold=threshold,
    )


def _open(dealt: Deal, holders: list[Address]) -> list[Share]:
    return [open_share(CONTEXT, dealt, h, KEYS[h]) for h in holders]


def test_threshold_shares_rebuild_the_secret_from_any_subset() -> None:
    secret = new_secret()
    dealt = _deal(secret)
    assert reconstruct(CONTEXT, dealt, _open(dealt, HOLDERS[:4])) == secret
    assert reconstruct(CONTEXT, dealt, _open(dealt, HOLDERS[2:])) == secret
    assert reconstruct(CONTEXT, dealt, _open(dealt, HOLDERS)) == secret


def test_t_minus_one_shares_fail_with_a_named_error() -> None:
    secret = new_secret()
    dealt = _deal(secret)
    shares = _open(dealt, HOLDERS[:3])
    with pytest.raises(TooFewSharesError) as caught:
        reconstruct(CONTEXT, dealt, shares)
    assert (caught.value.have, caught.value.threshold, caught.value.owner) == (3, 4, OWNER)
    # and the raw combination of t-1 shares is simply a different secret
    assert combine_unchecked(shares) != secret


def test_a_share_is_sealed_to_its_holder_only() -> None:
    dealt = _deal(new_secret())
    with pytest.raises(TamperedEnvelopeError):
        open_share(CONTEXT, dealt, HOLDERS[1], KEYS[HOLDERS[2]])


def test_a_forged_revealed_share_names_its_holder() -> None:
    secret = new_secret()
    dealt = _deal(secret)
    shares = _open(dealt, HOLDERS[:4])
    forged = dataclasses.replace(shares[2], value=bytes(32))
    with pytest.raises(ForgedShareError) as caught:
        reconstruct(CONTEXT, dealt, [*shares[:2], forged, shares[3]])
    assert (caught.value.holder, caught.value.owner) == (HOLDERS[2], OWNER)


def test_a_share_replayed_from_another_round_is_forged() -> None:
    dealt = _deal(new_secret())
    shares = _open(dealt, HOLDERS[:4])
    other_round = RoundContext(CONTEXT.study, CONTEXT.round + 1)
    with pytest.raises(ForgedShareError):
        reconstruct(other_round, dealt, shares)


def test_a_dealer_who_shares_another_secret_is_named() -> None:
    dealt = _deal(new_secret())
    lying = dataclasses.replace(dealt, secret_commitment=bytes(32))
    with pytest.raises(ReconstructionError) as caught:
        reconstruct(CONTEXT, lying, _open(dealt, HOLDERS[:4]))
    assert caught.value.owner == OWNER


@pytest.mark.parametrize("threshold", [0, 1, 7])
def test_impossible_thresholds_are_refused(threshold: int) -> None:
    with pytest.raises(SecAggParamsError):
        _deal(new_secret(), threshold)


def test_deal_round_trips_through_json() -> None:
    dealt = _deal(new_secret())
    assert Deal.from_json_dict(dealt.to_json_dict()) == dealt
    share = _open(dealt, HOLDERS[:1])[0]
    assert Share.from_json_dict(share.to_json_dict()) == share
