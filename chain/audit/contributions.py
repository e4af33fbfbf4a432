"""`contributions`: each finalized round's decisions and contribution values (the round metrics,
`consent.formats.round_metrics`) are the ones the aggregator recorded in the Contributions contract,
and each hospital's cumulative value on chain, the one a reward is paid on, is the sum of its
per-round values in the metrics (issue 15).

Per finalized round: the contract holds a record, its judgement digest equals the SHA-256 of the
metrics' decisions and values (`RoundMetrics.judgement_digest`: an artifact edited after the
round, a decision flipped or a value inflated, no longer matches), and every hospital's recorded
value is its value in the metrics (scaled to the contract's fixed point). Then, per hospital, the
contract's cumulative value is the sum over the rounds. Whether the decisions and values are
what the updates give is a recomputation with torch and the seal key: `Judgement` takes an
optional `JudgementRecomputer` (the CLI passes `fl.roles.recheck` through `api/` when it has the
seal key and the validation rows), whose findings are reported under the same check name.
A deployment made before the contract existed has no record to compare and yields no finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.contributions import ContributionsSnapshot
from chain.store import ArtifactNotFoundError, CorruptArtifactError, InvalidCidError
from consent.contributions import ContributionRecord, InvalidContributionError
from consent.formats import FormatError
from consent.formats.round_metrics import RoundMetrics
from consent.ids import Address
from consent.records import RoundRecord
from consent.rounds import RoundState

__all__ = ["Judgement", "JudgementRecomputer"]

NAME: Final = "contributions"


class JudgementRecomputer(Protocol):
    """Recomputes a finalized round's decisions, values and model from its opened updates."""

    def recheck(self, round_: RoundRecord) -> tuple[bool, str]:
        """Whether the round's metrics are what its updates give, and why not."""
        ...


class Judgement:
    """One finding per finalized round, one per hospital's cumulative value, and (with a
    recomputer) one recomputation per finalized round."""

    name: Final = NAME

    def __init__(self, recomputer: JudgementRecomputer | None = None) -> None:
        self._recomputer = recomputer

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring; `StoreUnavailableError` (node down) is raised."""
        checks: list[AuditCheck] = []
        snapshot = view.contributions
        finalized = [r for r in view.rounds if r.state is RoundState.FINALIZED]
        if snapshot is not None:
            totals: dict[Address, int] = {}
            for round_ in finalized:
                checks.append(_round_check(view, snapshot, round_, totals))
            checks += _cumulative_checks(snapshot, totals)
        if self._recomputer is not None:
            for round_ in finalized:
                passed, detail = self._recomputer.recheck(round_)
                subject = f"round {round_.round} recomputed from its updates"
                checks.append(AuditCheck(NAME, passed, subject, detail, round_.round))
        return checks


def _round_check(
    view: AuditView,
    snapshot: ContributionsSnapshot,
    round_: RoundRecord,
    totals: dict[Address, int],
) -> AuditCheck:
    subject = f"round {round_.round} judgement on chain"

    def finding(passed: bool, detail: str) -> AuditCheck:
        return AuditCheck(NAME, passed, subject, detail, round_.round)

    recorded = snapshot.rounds.get(round_.round)
    if recorded is None or not recorded.recorded:
        return finding(False, "the round's decisions and values were never recorded on chain")
    try:
        metrics = RoundMetrics.from_json_bytes(view.artifacts.get(round_.metrics_cid))
        expected = ContributionRecord.of(metrics.judgement_digest(), metrics.contribution_values())
    except (ArtifactNotFoundError, CorruptArtifactError, InvalidCidError) as exc:
        return finding(False, f"metrics artifact unreadable: {exc}")
    except (FormatError, InvalidContributionError) as exc:
        return finding(False, f"metrics artifact malformed: {exc}")
    for hospital, value in expected.as_dict().items():
        totals[hospital] = totals.get(hospital, 0) + value
    if bytes(recorded.judgement_hash) != bytes(expected.judgement_hash):
        return finding(False, "the metrics' decisions or values are not the ones recorded on chain")
    if problems := _value_problems(round_.round, snapshot, expected):
        return finding(False, "; ".join(problems))
    return finding(True, f"digest and {len(expected.hospitals)} value(s) match the chain")


def _value_problems(
    round_: int, snapshot: ContributionsSnapshot, expected: ContributionRecord
) -> list[str]:
    recorded = snapshot.rounds[round_]
    problems = []
    if recorded.value_count != len(expected.hospitals):
        problems.append(
            f"{recorded.value_count} value(s) on chain, {len(expected.hospitals)} in the metrics"
        )
    for hospital, value in expected.as_dict().items():
        on_chain = snapshot.round_values.get((round_, hospital), 0)
        if on_chain != value:
            problems.append(f"{hospital}: value {on_chain} on chain, {value} in the metrics")
    return problems


def _cumulative_checks(
    snapshot: ContributionsSnapshot, totals: Mapping[Address, int]
) -> list[AuditCheck]:
    checks = []
    for hospital in sorted(set(snapshot.cumulative) | set(totals)):
        on_chain = snapshot.cumulative.get(hospital, 0)
        summed = totals.get(hospital, 0)
        checks.append(
            AuditCheck(
                NAME,
                on_chain == summed,
                f"cumulative value of {hospital}",
                f"{on_chain} on chain"
                + ("" if on_chain == summed else f", but the rounds' metrics sum to {summed}"),
                hospital=hospital,
            )
        )
    return checks
