"""The aggregator's intake of a round's updates: fetch, verify, decode, check the envelope,
screen, with every refusal kept as data (the hospital and why).

Per update on the ledger: fetch by CID and check its SHA-256 against the ledger; decode with the
study's codec (today: open the seal with the aggregator's X25519 key); read the update envelope
(`consent.formats.update_envelope`) and refuse an update filed under another round, hospital or
codec; deserialize against the learner's update template; then let the learner screen the lot
(keys, shapes, finite values, samples). A store that is down raises (`ConnectionError`): the
round is retried later rather than an update dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from torch import Tensor

from consent.errors import ConsentError
from consent.formats.update_envelope import UpdateEnvelope
from consent.ids import Address
from fl.codecs import UpdateCodec
from fl.errors import FlError
from fl.learner import Learner
from fl.ports import RoundRecord, UpdateRecord
from fl.roles.artifacts import ArtifactSource, fetch_verified
from fl.serialize import bytes_to_state_dict, read_metadata
from fl.strategy import ClientUpdate

__all__ = ["RejectedHospital", "UpdateIntake"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RejectedHospital:
    """A hospital's update left out of aggregation, and why."""

    hospital: Address
    reason: str


class EnvelopeMismatchError(FlError, ValueError):
    """An update whose envelope names another round, hospital or codec."""


class UpdateIntake:
    """Loads the updates of one study's rounds, remembering each (hospital, hash) it loaded."""

    def __init__(
        self,
        *,
        store: ArtifactSource,
        seal_key: X25519PrivateKey,
        codec: UpdateCodec,
        learner: Learner,
    ) -> None:
        self._store = store
        self._seal_key = seal_key
        self._codec = codec
        self._learner = learner
        self._loaded: dict[tuple[int, str, bytes], ClientUpdate | RejectedHospital] = {}

    def forget(self, round_: int) -> None:
        """Drop what was loaded for `round_` (it is finalized)."""
        self._loaded = {k: v for k, v in self._loaded.items() if k[0] != round_}

    def verified(
        self, record: RoundRecord, base: Mapping[str, Tensor]
    ) -> tuple[list[ClientUpdate], list[RejectedHospital]]:
        """Every update of `record`, loaded once (a re-read round reuses earlier loads), split
        into those fit to combine and the rejected ones, in the round's order."""
        template = self._learner.update_template(base)
        updates: list[ClientUpdate] = []
        rejected: list[RejectedHospital] = []
        for update in record.updates:
            key = (record.round, update.hospital, bytes(update.update_hash))
            if key not in self._loaded:
                self._loaded[key] = self._load_or_reject(record.round, update, template)
            result = self._loaded[key]
            if isinstance(result, RejectedHospital):
                rejected.append(result)
            else:
                updates.append(result)
        accepted, screened = self._learner.screen(template, updates)
        rejected += [RejectedHospital(Address(r.update.client_id), str(r.error)) for r in screened]
        return accepted, rejected

    def _load_or_reject(
        self, round_: int, update: UpdateRecord, template: Mapping[str, Tensor]
    ) -> ClientUpdate | RejectedHospital:
        try:
            return self._load(round_, update, template)
        except ConnectionError:
            raise  # the store is down: retry the round later rather than drop the update
        except (FlError, ConsentError, OSError, KeyError, ValueError) as exc:
            logger.warning("round %d: rejecting an update: %s", round_, exc)
            return RejectedHospital(update.hospital, str(exc))

    def _load(
        self, round_: int, update: UpdateRecord, template: Mapping[str, Tensor]
    ) -> ClientUpdate:
        stored = fetch_verified(self._store, update.update_cid, update.update_hash)
        payload = self._codec.decode(stored, self._seal_key)
        envelope = UpdateEnvelope.from_metadata(read_metadata(payload))
        problem = envelope.mismatch(round_=round_, hospital=update.hospital, codec=self._codec.name)
        if problem is not None:
            raise EnvelopeMismatchError(problem)
        delta = bytes_to_state_dict(payload, expected=template)
        # FedAvg weight: the patient count the contract bounded by the hospital's active
        # consents, never the unbounded row count (issue 11, H3)
        return ClientUpdate(update.hospital, delta, update.num_patients)
