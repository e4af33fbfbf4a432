"""`combine`: a sum-combining learner's model follows from the totals it published.

Closed-form ridge and federated k-means add the hospitals' sums (not averages) and the aggregator
publishes the totals in the round metrics (`consent.combines.COMBINE_EXTENSION`). For every
finalized round that has them, this check reads the round's model (and, for k-means, its base
model), each checked against its on-chain hash, recomputes the combine with the same functions
the aggregator uses (`consent.combines`: the ridge solve, every candidate's Lloyd step and the
choice of the lowest federated inertia, the k-means++ seedings with the study's seed, the
preprocessing statistics round's means and variances) and requires the published model, to
1e-9. An aggregator that publishes a model its sums do not give is caught here. That the totals
are the sum of the sealed updates needs the updates opened (the recompute check of the auditor
keys), not this check.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.store import ArtifactNotFoundError, CorruptArtifactError, InvalidCidError
from consent.combines import (
    COMBINE_EXTENSION,
    CombineTotals,
    CombineTotalsError,
    kmeans_candidates,
    lloyd_candidates,
    ridge_solution,
    statistics_state,
)
from consent.records import RoundRecord
from consent.rounds import RoundState

__all__ = ["Combine"]

_TOLERANCE: Final = 1e-9

Arrays = dict[str, npt.NDArray[Any]]


class _UnreadableError(Exception):
    """An artifact the check needs is missing, corrupt or not what the chain recorded."""


def _read(view: AuditView, cid: str, expected: bytes) -> Arrays:
    try:
        data = view.artifacts.get(cid)
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError) as exc:
        raise _UnreadableError(f"artifact {cid} unreadable: {exc}") from exc
    if hashlib.sha256(data).digest() != bytes(expected):
        raise _UnreadableError(f"artifact {cid} does not match its on-chain hash")
    try:
        return dict(load(data))
    except Exception as exc:  # safetensors raises its own SafetensorError on malformed bytes
        raise _UnreadableError(f"artifact {cid} is not a safetensors model: {exc}") from exc


def _recomputed(view: AuditView, round_: RoundRecord, totals: CombineTotals) -> Arrays:
    t = totals.tensors
    if totals.kind == "ridge":
        theta = ridge_solution(t["gram"], t["moment"], totals.alpha)
        return {"0.weight": theta[None, :-1], "0.bias": theta[-1:]}
    if totals.kind == "statistics":
        return statistics_state(totals)
    base = _read(view, round_.base_model_cid, round_.base_model_hash)
    if totals.kind == "lloyd":
        moved, chosen = lloyd_candidates(base["candidates"], t["sums"], t["counts"], t["inertia"])
        return {"candidates": moved, "centroids": moved[chosen]}
    if totals.kind == "seeding":
        n, k, _ = base["candidates"].shape
        seeded = kmeans_candidates(t["centers"], t["weights"], k, int(base["seed"][0]), n)
        return {"candidates": seeded, "centroids": seeded[0]}
    raise CombineTotalsError(f"unknown combine kind {totals.kind!r}")


def _finding(view: AuditView, round_: RoundRecord) -> tuple[bool, str] | None:
    """(passed, detail), or None when the round has no published totals."""
    try:
        body = json.loads(view.artifacts.get(round_.metrics_cid))
        entry = body.get("extensions", {}).get(COMBINE_EXTENSION)
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError, ValueError):
        return None  # the aggregation check reports an unreadable metrics artifact
    if entry is None:
        return None
    try:
        totals = CombineTotals.from_json_dict(entry)
        expected = _recomputed(view, round_, totals)
        model = _read(view, round_.model_cid, round_.model_hash)
    except (_UnreadableError, CombineTotalsError, KeyError, ValueError) as exc:
        return False, f"cannot recompute the {entry.get('kind', '?')} combine: {exc}"
    for name, value in expected.items():
        got = model.get(name)
        if got is None or got.shape != value.shape:
            return False, f"the model's {name!r} does not have the recomputed shape"
        if not np.allclose(got, value, rtol=_TOLERANCE, atol=_TOLERANCE):
            gap = float(np.max(np.abs(got.astype(np.float64) - value)))
            return False, f"the model's {name!r} is not what the published sums give (gap {gap})"
    return True, f"{totals.learner} {totals.kind}: the model is what the published sums give"


class Combine:
    """One check per finalized round whose metrics publish sum-combine totals."""

    name: Final = "combine"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring; `StoreUnavailableError` (node down) is raised."""
        checks: list[AuditCheck] = []
        for round_ in view.rounds:
            if round_.state is not RoundState.FINALIZED:
                continue
            found = _finding(view, round_)
            if found is not None:
                subject = f"model {round_.model_cid}"
                checks.append(AuditCheck(self.name, found[0], subject, found[1], round_.round))
        return checks
