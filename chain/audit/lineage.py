"""`lineage`: in an `unlearn` study (issue 16), the head model's lineage excludes every patient
whose revocation's window has closed.

The head is the latest finalized round's model, the model in use. Its lineage
(`consent.lineage.lineage`) follows the on-chain rollback records from the head back to the
initial model. A revocation's window has closed at the head when the head's round is at least the
policy's `window_rounds`-th round opened after the revocation, or when the head was finalized
`window_seconds` or more after it. For every such revocation of a consent given to hospital `H`,
every update `H` contributed to a lineage round must have a published non-membership proof of the
patient that verifies against its on-chain `dataRoot`; a missing or failing proof fails the check
naming that round. Rollback records are checked too: each names a base round before it whose base
model is the one the rollback round was opened on (the contract refuses others; a forked or lying
node would not).

SISA shards (the plan's `revocation.shards` = S > 1): every shard has its own lineage
(`consent.lineage.shard_lineages`), and a revoked patient's rows trained only the sub-model of
their shard (`consent.lineage.shard_of`), so the proofs are asked for every round of that shard's
lineage, and a failure names the round and the shard. Each rollback must name the plan's S and
the shard of every patient it serves, and a partial one must have opened its round on the
composition it names (`chain.audit.shards`).

A `forward` study is reported as one passed check saying so; a malformed policy section fails;
a study without a finalized round has no lineage to check.
"""

from __future__ import annotations

from typing import Final

from chain.audit.check import hexed
from chain.audit.report import AuditCheck
from chain.audit.shards import rollback_shard_checks
from chain.audit.view import AuditView
from consent.errors import MalformedProofError
from consent.formats.revocation import RevocationPolicy
from consent.lineage import Revocation, revocations_of, shard_lineages, shard_of
from consent.records import RoundRecord
from consent.rounds import RoundState
from consent.smt import verify_non_membership

__all__ = ["Lineage", "window_closed"]


def window_closed(
    policy: RevocationPolicy,
    revocation: Revocation,
    rounds: tuple[RoundRecord, ...],
    head: RoundRecord,
    head_time: int | None,
) -> bool:
    """Whether `revocation`'s unlearning window has closed at finalized `head`."""
    opened_after = sum(1 for r in rounds[: head.round + 1] if r.opened_block > revocation.block)
    if opened_after >= policy.window_rounds:
        return True
    return head_time is not None and head_time - revocation.timestamp >= policy.window_seconds


class Lineage:
    """One check per (lineage update, revoked patient due), and one per rollback record."""

    name: Final = "lineage"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        policy = view.revocation_policy
        if not any(r.state is RoundState.FINALIZED for r in view.rounds):
            return []  # no model yet: no lineage
        if policy is None:
            return [
                AuditCheck(
                    self.name, False, "policy", "the plan's revocation policy section is malformed"
                )
            ]
        if not policy.unlearns:
            return [AuditCheck(self.name, True, "policy", "forward: revocations are not unlearned")]
        head = [r for r in view.rounds if r.state is RoundState.FINALIZED][-1]
        shards = policy.shards
        checks = self._rollbacks(view, shards)
        try:
            lines = shard_lineages(head.round, view.rollbacks, shards)
        except ValueError as exc:
            return [*checks, AuditCheck(self.name, False, "lineage", str(exc), head.round)]
        for s, rounds in enumerate(lines):
            shown = " <- ".join(str(r) for r in reversed(rounds))
            label = f"round {head.round} lineage" + (f" of shard {s}" if shards > 1 else "")
            checks.append(AuditCheck(self.name, True, "head", f"{label}: {shown}", head.round))
        head_time = view.block_time(head.finalized_block)
        for revocation in revocations_of(view.consent_events):
            if window_closed(policy, revocation, tuple(view.rounds), head, head_time):
                shard = shard_of(revocation.patient, shards)
                checks.extend(self._excluded(view, revocation, lines[shard], shard, shards))
        return checks

    def _rollbacks(self, view: AuditView, shards: int) -> list[AuditCheck]:
        checks: list[AuditCheck] = []
        for round_, rollback in sorted(view.rollbacks.items()):
            in_history = 0 <= rollback.base_round < round_ < len(view.rounds)
            if shards > 1 and in_history:
                checks.extend(rollback_shard_checks(view, round_, rollback, shards))
                if rollback.shard_mask != (1 << shards) - 1:
                    continue  # the composition check stands for the base model check
            ok = in_history and bytes(view.rounds[round_].base_model_hash) == bytes(
                view.rounds[rollback.base_round].base_model_hash
            )
            detail = (
                f"rollback to round {rollback.base_round}'s base, serving "
                f"{len(rollback.patients)} revocation(s)"
                if ok
                else f"rollback names base round {rollback.base_round}, whose base model is not "
                f"the one round {round_} was opened on"
            )
            checks.append(AuditCheck(self.name, ok, "rollback", detail, round_))
        return checks

    def _excluded(
        self,
        view: AuditView,
        revocation: Revocation,
        rounds: tuple[int, ...],
        shard: int,
        shards: int,
    ) -> list[AuditCheck]:
        checks: list[AuditCheck] = []
        where = f", shard {shard}" if shards > 1 else ""
        subject = f"revoked patient {revocation.patient} (block {revocation.block}{where})"
        for round_ in rounds:
            for update in view.updates(round_):
                if update.hospital.lower() != revocation.hospital.lower():
                    continue
                root = hexed(update.data_root)
                proof = view.proof(update.hospital, update.data_root, revocation.patient)
                if proof is None:
                    passed, detail = False, f"lineage round lacks an exclusion proof ({root})"
                    if shards > 1:
                        detail = f"shard {shard}'s {detail}"
                elif isinstance(proof, MalformedProofError):
                    passed, detail = False, f"malformed exclusion proof: {proof}"
                elif verify_non_membership(update.data_root, revocation.patient, proof):
                    passed, detail = True, f"absent from lineage round's dataRoot {root}"
                else:
                    passed, detail = False, f"proof does not verify against dataRoot {root}"
                checks.append(
                    AuditCheck(self.name, passed, subject, detail, round_, update.hospital)
                )
        return checks
