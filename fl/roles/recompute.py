"""The aggregate, recomputable: the aggregator's combine step, and the auditor's recomputation.

`fl.roles.judging.judge_round` is the one place a round's next model is computed from its base
and the screened updates (the aggregator calls it; so does the auditor), and
`AggregateRecomputer` rebuilds a finalized round's model from the updates on the ledger exactly
as the aggregator must have:

* the same updates: every update of the round, fetched by CID and checked against its on-chain
  hash, opened with an auditor's key (the study plan's `auditor_seal_keys`; `consent.multi_seal`
  commits to one content key, so the auditor opens the payload the aggregator opened), the
  envelope checked and the learner's screening applied, by the aggregator's own intake
  (`fl.roles.collect.UpdateIntake`);
* the same combination (`judge_round`): the plan's learner and strategy (from the plan, whose CID
  is on chain; FLTrust's root update and contribution values on the aggregator's validation rows,
  which the auditor is given),
  the weights the on-chain records give, the updates in their on-chain submission order, float32
  tensors accumulated in float64 (`fl.aggregate.weighted_mean`), the same torch build. Under
  those conditions the model bytes are a function of the inputs, so the recomputed model's
  SHA-256 must equal the on-chain `modelHash`; anything else is a named difference.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consent.errors import ConsentError
from consent.formats.update_envelope import UpdateEnvelope
from consent.ids import Address
from consent.recomputation import Recomputation, UnusableUpdate
from fl.data import Examples
from fl.errors import FlError
from fl.ports import RoundRecord, UpdateRecord
from fl.roles.artifacts import ArtifactSource, fetch_verified, sha256
from fl.roles.collect import UpdateIntake
from fl.roles.errors import BaseModelMismatchError, RoleError
from fl.roles.judging import judge_round
from fl.roles.plan import StudyPlan
from fl.serialize import bytes_to_state_dict, read_metadata, state_dict_to_bytes

__all__ = ["AggregateRecomputer", "state_difference"]


class AggregateRecomputer:
    """Recomputes finalized rounds of one study from their updates, with an auditor's key."""

    def __init__(
        self,
        *,
        plan: StudyPlan,
        store: ArtifactSource,
        auditor_key: X25519PrivateKey,
        validation: Examples | None = None,
    ) -> None:
        self._plan = plan
        self._validation = validation
        """The aggregator's validation rows (FLTrust's root update, contribution values)."""
        self._store = store
        self._key = auditor_key
        self._codec = plan.make_codec()
        self._intake = UpdateIntake(
            store=store, seal_key=auditor_key, codec=self._codec, learner=plan.make_learner()
        )

    def recompute(self, record: RoundRecord) -> Recomputation:
        """`record`'s model rebuilt from its updates (see the module docstring).

        Raises `BaseModelMismatchError` / `ConsentError` / `FlError` when the base model cannot be
        read, `ConnectionError` when the store is down.
        """
        base_bytes = fetch_verified(self._store, record.base_model_cid, record.base_model_hash)
        base = bytes_to_state_dict(base_bytes, expected=self._plan.initial_state())
        unopened = {u.hospital: reason for u in record.updates if (reason := self._unopened(u))}
        accepted, rejected = self._intake.verified(record, base)
        try:
            state = judge_round(self._plan, record.round, base, accepted, self._validation).state
        except RoleError as exc:  # e.g. FLTrust without the validation rows
            raise ValueError(f"the round's combine cannot be rerun: {exc}") from exc
        model = state_dict_to_bytes(state)
        digest = sha256(model)
        difference = ""
        if digest != bytes(record.model_hash):
            difference = self._difference(record, model)
        return Recomputation(
            round=record.round,
            model_hash=digest,
            kept=tuple(Address(u.client_id) for u in accepted),
            unusable=tuple(
                UnusableUpdate(
                    r.hospital, unopened.get(r.hospital) or r.reason, not unopened.get(r.hospital)
                )
                for r in rejected
            ),
            difference=difference,
        )

    def _unopened(self, update: UpdateRecord) -> str:
        """Why the auditor's key does not open `update` to an update envelope ('' if it does)."""
        try:
            stored = fetch_verified(self._store, update.update_cid, update.update_hash)
            UpdateEnvelope.from_metadata(read_metadata(self._codec.decode(stored, self._key)))
        except ConnectionError:
            raise
        except (BaseModelMismatchError, ConsentError, FlError, KeyError, ValueError) as exc:
            return f"not openable with the auditor's key: {exc}"
        return ""

    def _difference(self, record: RoundRecord, model: bytes) -> str:
        try:
            published = fetch_verified(self._store, record.model_cid, record.model_hash)
        except ConnectionError:
            raise
        except (BaseModelMismatchError, ConsentError, FlError, KeyError, ValueError) as exc:
            return f"the published model is unreadable: {exc}"
        return state_difference(published, model)


def state_difference(expected: bytes, found: bytes) -> str:
    """Which tensors of two serialized states differ, and by how much (for audit reports)."""
    try:
        theirs, ours = bytes_to_state_dict(expected), bytes_to_state_dict(found)
    except (FlError, ValueError) as exc:
        return f"the published bytes are not a model: {exc}"
    if set(theirs) != set(ours):
        return f"tensor names differ: published {sorted(theirs)}, recomputed {sorted(ours)}"
    parts = []
    for name in sorted(ours):
        a, b = ours[name], theirs[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            parts.append(
                f"{name}: published {b.dtype}{list(b.shape)}, got {a.dtype}{list(a.shape)}"
            )
        elif not bool((a == b).all()):
            diff = float((a.double() - b.double()).abs().max())
            parts.append(f"{name}: max |difference| {diff:.3g}")
    return "; ".join(parts) or "same tensors, different serialization (metadata or order)"
