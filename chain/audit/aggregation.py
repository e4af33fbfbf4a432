"""`aggregation`: each finalized round's metrics artifact lists every update on chain as
aggregated or rejected, each once, weights each aggregated update by its on-chain patient count,
and its decisions agree with the lists (the reading of the metrics is `chain.round_metrics`)."""

from __future__ import annotations

from typing import Final

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from chain.round_metrics import check_aggregation
from consent.rounds import RoundState

__all__ = ["Aggregation"]


class Aggregation:
    """One check per finalized round."""

    name: Final = "aggregation"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring; `StoreUnavailableError` (node down) is raised."""
        checks: list[AuditCheck] = []
        for round_ in view.rounds:
            if round_.state is not RoundState.FINALIZED:
                continue
            found = check_aggregation(view.artifacts, round_)
            subject = f"metrics {round_.metrics_cid}"
            checks.append(AuditCheck(self.name, found.passed, subject, found.detail, round_.round))
        return checks
