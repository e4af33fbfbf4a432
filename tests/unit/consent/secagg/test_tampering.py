"""Attacks on the transcript: each forged piece is refused with an error that names the culprit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from consent.formats.masked_update import decode_masked_update, encode_masked_update
from consent.formats.secagg_reveal import decode_reveal, encode_reveal
from consent.secagg import (
    ForbiddenRevealError,
    ForgedShareError,
    MalformedMaskedUpdateError,
    MaskedUpdate,
    ReconstructionError,
    Reveal,
    RingParams,
    TooFewSharesError,
    dequantize_mean,
    quantize,
    recover_sum,
    reveal,
    submit,
)
from consent.secagg.shares import Share
from tests.unit.consent.secagg.conftest import Study

PARAMS = RingParams()


def _round(study: Study, submitters: int) -> tuple[list[MaskedUpdate], list[Reveal]]:
    context = study.context(2)
    masked = [
        submit(
            context,
            owner=h.address,
            mask_key=h.mask_key,
            roster=study.roster,
            threshold=study.threshold,
            encoded=quantize(np.full(32, 0.25), 2, PARAMS),
            weight=2,
        )
        for h in study.hospitals[:submitters]
    ]
    dropped = [study.key_deals[h.address] for h in study.hospitals[submitters:]]
    reveals = [
        reveal(context, holder=h.address, seal_key=h.seal_key, survivors=masked, dropped=dropped)
        for h in study.hospitals[:submitters]
    ]
    return masked, reveals


def _recover(study: Study, masked: list[MaskedUpdate], reveals: list[Reveal]) -> np.ndarray:
    result = recover_sum(
        study.context(2),
        roster=study.roster,
        key_deals=study.key_deals,
        updates=masked,
        reveals=reveals,
    )
    return dequantize_mean(result.total, result.weight_sum, PARAMS)


def test_honest_transcript_round_trips_through_the_stored_formats(
    study_of: Callable[[int, int], Study],
) -> None:
    study = study_of(5, 3)
    masked, reveals = _round(study, 4)
    stored = [decode_masked_update(encode_masked_update(m), hospital=m.hospital) for m in masked]
    published = [decode_reveal(encode_reveal(r)) for r in reveals]
    assert np.allclose(_recover(study, stored, published), 0.25)


def test_a_forged_masked_update_changes_the_sum_and_the_stored_bytes_name_it(
    study_of: Callable[[int, int], Study],
) -> None:
    study = study_of(4, 2)
    masked, reveals = _round(study, 4)
    victim = masked[1]
    forged_vector = victim.vector.copy()
    forged_vector[0] += np.uint64(2**30)
    forged = dataclasses.replace(victim, vector=forged_vector)
    # masking is linear: a forged vector shifts the sum by exactly the forgery, unseen ...
    mean = _recover(study, [masked[0], forged, *masked[2:]], reveals)
    assert mean[0] == np.float32(0.25 + 2**30 / (PARAMS.scale * 8))
    assert np.all(mean[1:] == np.float32(0.25))
    # ... so the bytes are bound to the sender: the header names another hospital
    data = encode_masked_update(forged)
    with pytest.raises(MalformedMaskedUpdateError) as caught:
        decode_masked_update(data, hospital=masked[0].hospital)
    assert caught.value.hospital == masked[0].hospital
    with pytest.raises(MalformedMaskedUpdateError):
        decode_masked_update(data[:-8], hospital=victim.hospital)


def test_an_update_replayed_into_another_round_is_named(
    study_of: Callable[[int, int], Study],
) -> None:
    study = study_of(3, 2)
    masked, reveals = _round(study, 3)
    replayed = dataclasses.replace(masked[2], context=study.context(9))
    with pytest.raises(MalformedMaskedUpdateError) as caught:
        _recover(study, [*masked[:2], replayed], reveals)
    assert caught.value.hospital == masked[2].hospital


def test_a_forged_reveal_names_its_publisher(study_of: Callable[[int, int], Study]) -> None:
    study = study_of(5, 3)
    masked, reveals = _round(study, 4)  # one dropped before submitting: mask shares are revealed
    liar = reveals[1]
    tampered = tuple(
        dataclasses.replace(share, value=bytes(32)) if share.kind == "mask" else share
        for share in liar.shares
    )
    with pytest.raises(ForgedShareError) as caught:
        _recover(
            study, masked, [reveals[0], dataclasses.replace(liar, shares=tampered), *reveals[2:]]
        )
    assert caught.value.holder == liar.holder
    assert caught.value.owner == study.hospitals[4].address


def test_revealing_a_survivors_mask_key_share_is_forbidden(
    study_of: Callable[[int, int], Study],
) -> None:
    study = study_of(4, 2)
    masked, reveals = _round(study, 4)
    h = study.hospitals[0]
    leak = Share("mask", study.hospitals[1].address, h.address, 1, bytes(32))
    bad = dataclasses.replace(reveals[0], shares=(*reveals[0].shares, leak))
    with pytest.raises(ForbiddenRevealError) as caught:
        _recover(study, masked, [bad, *reveals[1:]])
    assert (caught.value.holder, caught.value.kind) == (h.address, "mask")


def test_below_threshold_reveals_the_sum_stays_masked(
    study_of: Callable[[int, int], Study],
) -> None:
    study = study_of(5, 4)
    masked, reveals = _round(study, 5)
    with pytest.raises(TooFewSharesError):
        _recover(study, masked, reveals[:3])


def test_a_dropped_hospital_that_dealt_shares_of_another_key_is_named(
    study_of: Callable[[int, int], Study],
) -> None:
    study = study_of(4, 2)
    gone = study.hospitals[3]
    other = study_of(4, 2)  # same addresses, fresh keys: its deal is of a different mask key
    lying = dict(study.key_deals)
    lying[gone.address] = other.key_deals[gone.address]
    masked, _ = _round(study, 3)
    context = study.context(2)
    reveals = [
        reveal(context, holder=h.address, seal_key=o.seal_key, survivors=[], dropped=[])
        for h, o in zip(study.hospitals[:3], other.hospitals[:3], strict=True)
    ]
    # holders open the lying deal with the keys it was sealed to, and reveal honestly
    mask_shares = [
        dataclasses.replace(
            r,
            shares=(
                *reveal(
                    context, holder=h.address, seal_key=h.seal_key, survivors=masked, dropped=[]
                ).shares,
                *reveal(
                    context,
                    holder=o.address,
                    seal_key=o.seal_key,
                    survivors=[],
                    dropped=[other.key_deals[gone.address]],
                ).shares,
            ),
        )
        for r, h, o in zip(reveals, study.hospitals[:3], other.hospitals[:3], strict=True)
    ]
    with pytest.raises(ReconstructionError) as caught:
        recover_sum(
            context, roster=study.roster, key_deals=lying, updates=masked, reveals=mask_shares
        )
    assert caught.value.owner == gone.address
