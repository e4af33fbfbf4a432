"""`base-model`: each round's base model is the previous round's model (hash and CID), or, for a
rollback round of an `unlearn` study (issue 16), the base model of the round its on-chain record
names (the `lineage` check verifies the record itself). A rollback of some of a sharded study's
SISA shards opens on a composition of two bundles, which the `lineage` check verifies
(`chain.audit.shards`): here it passes, saying so."""

from __future__ import annotations

from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from consent.lineage import every_shard, shards_in

__all__ = ["BaseModel"]


class BaseModel:
    """One check per round; round 0 starts from the initial model it names."""

    name: Final = "base-model"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        rounds = view.rounds
        checks: list[AuditCheck] = []
        for index, round_ in enumerate(rounds):
            if index == 0:
                detail = f"round 0 starts from the initial model {hexed(round_.base_model_hash)}"
                checks.append(AuditCheck(self.name, True, "base model", detail, round=0))
                continue
            rollback = view.rollbacks.get(index)
            if rollback is not None and rollback.shard_mask != every_shard(rollback.shards):
                detail = (
                    f"rollback of shards {list(shards_in(rollback.shard_mask))} of "
                    f"{rollback.shards}: a composed base (the lineage check verifies it)"
                )
                checks.append(AuditCheck(self.name, True, "base model", detail, round=index))
                continue
            if rollback is not None and 0 <= rollback.base_round < index:
                base = rounds[rollback.base_round]
                same = (
                    round_.base_model_hash == base.base_model_hash
                    and round_.base_model_cid == base.base_model_cid
                )
                detail = (
                    f"rollback: base model is round {rollback.base_round}'s base"
                    if same
                    else f"rollback base {hexed(round_.base_model_hash)} is not round "
                    f"{rollback.base_round}'s base {hexed(base.base_model_hash)}"
                )
                checks.append(AuditCheck(self.name, same, "base model", detail, round=index))
                continue
            previous = rounds[index - 1]
            same = (
                round_.base_model_hash == previous.model_hash
                and round_.base_model_cid == previous.model_cid
            )
            detail = (
                f"base model is round {index - 1}'s model"
                if same
                else f"base model {hexed(round_.base_model_hash)} ({round_.base_model_cid}) is "
                f"not round {index - 1}'s model {hexed(previous.model_hash)} ({previous.model_cid})"
            )
            checks.append(AuditCheck(self.name, same, "base model", detail, round=index))
        return checks
