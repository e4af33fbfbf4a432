"""The `lineage` check's view of SISA rollbacks (issue 16): a sharded rollback names the plan's
shard count, retrains the shard of every patient it serves, and its round was opened on the
composition it names.

A rollback of shards `M` to round `b`'s base opens round `r` on a bundle whose sub-models of `M`
(and their `sisa.rounds` counters) are those of `b`'s base bundle and whose others are those of
round `r - 1`'s model (`fl.roles.shards.compose_base`). The contract records `M` but cannot read
bundles (it checks the base model hash only when every shard rolls back), so this check fetches
the three bundles, verifies each against its on-chain hash, and compares them tensor by tensor
(safetensors' numpy reader: no torch outside `fl/`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.store.errors import StoreError
from consent.lineage import ROUNDS_KEY, RollbackRecord, every_shard, shard_of, shard_prefix

__all__ = ["rollback_shard_checks"]

_NAME = "lineage"


def rollback_shard_checks(
    view: AuditView, round_: int, rollback: RollbackRecord, shards: int
) -> list[AuditCheck]:
    """The checks of rollback `rollback` (of round `round_`) in a study with `shards` shards."""
    if rollback.shards != shards or not 0 < rollback.shard_mask <= every_shard(shards):
        detail = (
            f"rollback names shards {rollback.shard_mask:#x} of {rollback.shards}; "
            f"the plan has {shards}"
        )
        return [AuditCheck(_NAME, False, "rollback shards", detail, round_)]
    named = {s for s in range(shards) if rollback.shard_mask >> s & 1}
    checks: list[AuditCheck] = []
    for patient in rollback.patients:
        k = shard_of(patient, shards)
        ok = k in named
        detail = (
            f"serves {patient}, whose shard {k} it retrains"
            if ok
            else f"serves {patient}, whose shard is {k}, but retrains shards {sorted(named)}"
        )
        checks.append(AuditCheck(_NAME, ok, "rollback shards", detail, round_))
    if len(named) < shards:
        checks.append(_composition(view, round_, rollback, named, shards))
    return checks


def _composition(
    view: AuditView, round_: int, rollback: RollbackRecord, named: set[int], shards: int
) -> AuditCheck:
    opened, base, previous = (view.rounds[r] for r in (round_, rollback.base_round, round_ - 1))
    try:
        bundle = _bundle(view, opened.base_model_cid, opened.base_model_hash)
        older = _bundle(view, base.base_model_cid, base.base_model_hash)
        newer = _bundle(view, previous.model_cid, previous.model_hash)
    except (ValueError, StoreError) as exc:
        return AuditCheck(_NAME, False, "rollback base", f"bundle unreadable: {exc}", round_)
    wrong = [s for s in range(shards) if not _same(bundle, older if s in named else newer, s)]
    counter = np.array([(older if s in named else newer)[ROUNDS_KEY][s] for s in range(shards)])
    if (
        not wrong
        and bundle.get(ROUNDS_KEY) is not None
        and np.array_equal(bundle[ROUNDS_KEY], counter)
    ):
        detail = (
            f"opened on shards {sorted(named)} of round {rollback.base_round}'s base and the "
            f"others of round {round_ - 1}'s model"
        )
        return AuditCheck(_NAME, True, "rollback base", detail, round_)
    detail = f"the opened base's shards {wrong or 'counters'} are not the ones the rollback names"
    return AuditCheck(_NAME, False, "rollback base", detail, round_)


def _bundle(view: AuditView, cid: str, expected: bytes) -> dict[str, NDArray[Any]]:
    data = view.artifacts.get(cid)
    if hashlib.sha256(data).digest() != bytes(expected):
        raise ValueError(f"{cid} does not match its on-chain hash")
    try:
        return load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError on malformed bytes
        raise ValueError(f"{cid} is not a safetensors bundle: {exc}") from exc


def _same(left: dict[str, NDArray[Any]], right: dict[str, NDArray[Any]], s: int) -> bool:
    prefix = shard_prefix(s)
    keys = {k for k in left if k.startswith(prefix)}
    if keys != {k for k in right if k.startswith(prefix)} or not keys:
        return False
    return all(np.array_equal(left[k], right[k]) for k in keys)
