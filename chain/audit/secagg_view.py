"""Reading a study's secagg transcript from the chain for the audit's view."""

from __future__ import annotations

from chain.deploy import Ledger
from chain.store import ArtifactNotFoundError, ArtifactReader, CorruptArtifactError, InvalidCidError
from consent.formats import FormatError
from consent.formats.privacy import PrivacySpec
from consent.formats.study_plan import PlanDocument
from consent.ids import StudyId
from consent.secagg import RingParams, RosterEntry, SecAggParamsError
from consent.secagg.records import SecAggRoundRecord

__all__ = ["read_secagg_rounds", "ring_params_of"]


def ring_params_of(plan: PlanDocument) -> RingParams:
    """The ring parameters of the plan's privacy section (`consent.formats.privacy`)."""
    return PrivacySpec.from_extensions(plan.extensions).ring


def read_secagg_rounds(
    ledger: Ledger, artifacts: ArtifactReader, study: StudyId, count: int
) -> dict[int, SecAggRoundRecord]:
    """Each round's record, or nothing when the deployment or study does not use secagg."""
    coordinator = ledger.secagg
    if coordinator is None or coordinator.threshold(study) == 0:
        return {}
    threshold = coordinator.threshold(study)
    plan_cid = ledger.studies.get_study(study).metadata_cid
    try:
        params = ring_params_of(PlanDocument.from_json_bytes(artifacts.get(plan_cid)))
    except (
        FormatError,
        SecAggParamsError,
        ArtifactNotFoundError,
        CorruptArtifactError,
        InvalidCidError,
    ):
        params = RingParams()  # the plan check reports an unreadable plan; keep auditing
    records = {}
    for round_ in range(count):
        members = coordinator.roster(study, round_)
        # the epochs that bound this round: a key rotated later changes nothing here
        keys = {member: coordinator.keys_at(study, member, round_) for member in members}
        roster = tuple(RosterEntry(m, keys[m].mask_key, keys[m].seal_key) for m in members)
        records[round_] = SecAggRoundRecord(
            threshold=threshold,
            params=params,
            roster=roster,
            key_deals=keys,
            phase=coordinator.get_phase(study, round_),
            reveals=coordinator.get_reveals(study, round_),
        )
    return records
