"""The secagg round end to end over the pure core: the unmasked sum equals plaintext FedAvg."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from consent.secagg import (
    MaskedUpdate,
    RingParams,
    dequantize_mean,
    quantize,
    recover_sum,
    reveal,
    submit,
)
from consent.secagg.ring import ring_sum
from tests.unit.consent.secagg.conftest import Study, subset

PARAMS = RingParams(scale_bits=24, clip=4.0)


def _run_round(
    study: Study,
    updates: dict[str, np.ndarray],
    weights: dict[str, int],
    drop_before: int,
    drop_after: int,
) -> tuple[np.ndarray, list[str]]:
    """Submit all but `drop_before`; of the submitters, `drop_after` never reveal."""
    context = study.context(1)
    submitters, _gone = subset(study.hospitals, drop_before)
    masked = [
        submit(
            context,
            owner=h.address,
            mask_key=h.mask_key,
            roster=study.roster,
            threshold=study.threshold,
            encoded=quantize(updates[h.address], weights[h.address], PARAMS),
            weight=weights[h.address],
        )
        for h in submitters
    ]
    revealers, _silent = subset(submitters, drop_after)
    dropped = [study.key_deals[h.address] for h in _gone]
    reveals = [
        reveal(context, holder=h.address, seal_key=h.seal_key, survivors=masked, dropped=dropped)
        for h in revealers
    ]
    result = recover_sum(
        context, roster=study.roster, key_deals=study.key_deals, updates=masked, reveals=reveals
    )
    assert result.survivors == tuple(sorted(h.address for h in submitters))
    assert result.dropped == tuple(sorted(h.address for h in _gone))
    return dequantize_mean(result.total, result.weight_sum, PARAMS), [h.address for h in submitters]


@pytest.mark.parametrize("n", [3, 4, 5, 7, 10, 13, 16, 20])
def test_aggregate_equals_plaintext_fedavg_within_quantization_error_with_30_percent_dropout(
    n: int, study_of: Callable[[int, int], Study]
) -> None:
    threshold = max(2, math.ceil(n / 2))
    study = study_of(n, threshold)
    rng = np.random.default_rng(n)
    updates = {h.address: rng.normal(0, 0.5, 257).astype(np.float32) for h in study.hospitals}
    weights = {h.address: int(rng.integers(1, 500)) for h in study.hospitals}
    dropouts = math.ceil(0.3 * n)
    before = (dropouts + 1) // 2
    after = dropouts - before
    if n - before - after < threshold:
        after = n - before - threshold
    mean, used = _run_round(study, updates, weights, before, after)
    total = sum(weights[a] for a in used)
    expected = sum(weights[a] * updates[a].astype(np.float64) for a in used) / total
    # stated error: 0.5 / 2**scale_bits, plus float32 rounding of the result
    bound = PARAMS.max_error + np.abs(expected) * 2.0**-23
    assert np.all(np.abs(mean - expected) <= bound)
    assert not np.allclose(mean, 0)


def test_masked_update_alone_looks_nothing_like_the_update(
    study_of: Callable[[int, int], Study],
) -> None:
    study = study_of(3, 2)
    h = study.hospitals[0]
    encoded = quantize(np.zeros(1000), 10, PARAMS)
    masked = submit(
        study.context(),
        owner=h.address,
        mask_key=h.mask_key,
        roster=study.roster,
        threshold=2,
        encoded=encoded,
        weight=10,
    )
    assert np.count_nonzero(masked.vector) > 990  # zeros are hidden by the masks
    assert len(np.unique(masked.vector)) > 990


def test_pairwise_masks_cancel_when_everyone_submits(study_of: Callable[[int, int], Study]) -> None:
    study = study_of(4, 2)
    context = study.context()
    zero = quantize(np.zeros(64), 1, PARAMS)
    masked: list[MaskedUpdate] = [
        submit(
            context,
            owner=h.address,
            mask_key=h.mask_key,
            roster=study.roster,
            threshold=2,
            encoded=zero,
            weight=1,
        )
        for h in study.hospitals
    ]
    reveals = [
        reveal(context, holder=h.address, seal_key=h.seal_key, survivors=masked, dropped=[])
        for h in study.hospitals
    ]
    result = recover_sum(
        context, roster=study.roster, key_deals=study.key_deals, updates=masked, reveals=reveals
    )
    assert not np.any(result.total)
    assert np.any(ring_sum([m.vector for m in masked]))  # the raw sum still carries self-masks
