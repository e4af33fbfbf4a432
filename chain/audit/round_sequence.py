"""`round-sequence`: rounds 0..n-1 all exist, every round but the last is finalized, and each
opens after the previous one was finalized."""

from __future__ import annotations

from typing import Final

from chain.audit.report import AuditCheck
from chain.audit.view import AuditView
from consent.rounds import RoundState

__all__ = ["RoundSequence"]


class RoundSequence:
    """One check per round: present, finalized unless last, opened after its predecessor."""

    name: Final = "round-sequence"

    def run(self, view: AuditView) -> list[AuditCheck]:
        """See the module docstring."""
        rounds = view.rounds
        checks: list[AuditCheck] = []
        for index, round_ in enumerate(rounds):
            problems: list[str] = []
            if round_.state is RoundState.NONE:
                problems.append("round is missing on chain")
            elif index < len(rounds) - 1 and round_.state is not RoundState.FINALIZED:
                problems.append("a later round exists but this one is not finalized")
            if index > 0:
                previous = rounds[index - 1]
                if round_.opened_block < previous.finalized_block:
                    problems.append(
                        f"opened at block {round_.opened_block}, before round {index - 1} was "
                        f"finalized at block {previous.finalized_block}"
                    )
            state = round_.state.name.lower()
            detail = "; ".join(problems) or f"round {index} {state}, in order"
            checks.append(AuditCheck(self.name, not problems, "round", detail, round=index))
        return checks
