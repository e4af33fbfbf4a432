"""The aggregator's SISA rollbacks (issue 16): which shards a revocation retrains, from which
round's base, and the base bundle a partial rollback round is opened on.

Shard `k`'s lineage (`consent.lineage.shard_lineages`) is tainted only by revocations of patients
whose shard (`consent.lineage.shard_of`) is `k`: their rows never trained another sub-model. The
rollback retrains the tainted shards (`mask`) from one base round, the earliest first tainted
round among them; a shard whose sub-model at that round's base would itself carry one of its
revocations (it was on another branch then) sends the rollback to round 0, the initial model.

A partial rollback's base is a composition (`compose_base`): the retrained shards' sub-models
(and lineage counters) from the base round's base bundle, the others from the head's model. Its
bytes are a function of the two bundles, so a restarted aggregator recomposes the same bytes and
the audit checks the composition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor

from consent.ids import Bytes32
from consent.lineage import (
    Revocation,
    RollbackRecord,
    entering_lineages,
    every_shard,
    first_tainted,
    shard_lineages,
    shard_of,
)
from fl.learners.sharded import ROUNDS_KEY, shard_keys
from fl.ports import ArtifactStorePort, RoundRecord
from fl.roles.artifacts import fetch_verified, sha256
from fl.serialize import bytes_to_state_dict, state_dict_to_bytes

__all__ = ["ShardRollback", "compose_base", "sharded_pending"]


@dataclass(frozen=True, slots=True)
class ShardRollback:
    """What a sharded rollback retrains: from `base_round`'s base, the shards in `mask`."""

    base_round: int
    served: tuple[Revocation, ...]
    mask: int


def sharded_pending(
    round_of: Callable[[int], RoundRecord],
    rollbacks: Mapping[int, RollbackRecord],
    revocations: Sequence[Revocation],
    head: int,
    shards: int,
) -> ShardRollback | None:
    """The rollback the lineages of round `head`'s model need, or None when every shard's is
    clean (see the module docstring)."""
    lines = shard_lineages(head, rollbacks, shards)
    found: dict[int, tuple[int, tuple[Revocation, ...]]] = {}
    for k in range(shards):
        hit = first_tainted([round_of(x) for x in lines[k]], _of_shard(revocations, k, shards))
        if hit is not None:
            found[k] = hit
    if not found:
        return None
    base_round = min(first for first, _ in found.values())
    entering = entering_lineages(base_round, rollbacks, shards)
    for k in found:
        restored = [round_of(x) for x in entering[k]]
        if first_tainted(restored, _of_shard(revocations, k, shards)) is not None:
            base_round = 0  # that checkpoint of shard k is on a tainted branch
            break
    served = {r for _, hits in found.values() for r in hits}
    ordered = tuple(r for r in revocations if r in served)
    return ShardRollback(base_round, ordered, sum(1 << k for k in found))


def _of_shard(revocations: Sequence[Revocation], k: int, shards: int) -> list[Revocation]:
    return [r for r in revocations if shard_of(r.patient, shards) == k]


def compose_base(
    store: ArtifactStorePort,
    template: Mapping[str, Tensor],
    base: RoundRecord,
    head: RoundRecord,
    mask: int,
    shards: int,
) -> tuple[Bytes32, str]:
    """The base bundle (hash, CID) of a rollback of the shards in `mask` to `base`'s base model,
    the other shards carried from finalized `head`'s model (stored; `base`'s own base when
    every shard rolls back)."""
    if mask == every_shard(shards):
        return base.base_model_hash, base.base_model_cid
    older = _bundle(store, template, base.base_model_cid, base.base_model_hash)
    newer = _bundle(store, template, head.model_cid, head.model_hash)
    composed: dict[str, Tensor] = {}
    for s in range(shards):
        source = older if mask >> s & 1 else newer
        prefix = shard_keys(s)
        composed.update({k: v for k, v in source.items() if k.startswith(prefix)})
    counter = newer[ROUNDS_KEY].clone()
    for s in range(shards):
        if mask >> s & 1:
            counter[s] = older[ROUNDS_KEY][s]
    composed[ROUNDS_KEY] = counter
    data = state_dict_to_bytes(composed)
    return Bytes32(sha256(data)), store.put(data)


def _bundle(
    store: ArtifactStorePort, template: Mapping[str, Tensor], cid: str, expected: bytes
) -> dict[str, Tensor]:
    return bytes_to_state_dict(fetch_verified(store, cid, expected), expected=dict(template))
