"""Leave-one-out: phi_i = v(N) - v(N without i). N + 1 evaluations; blind to redundancy (two
identical hospitals each get about 0), which is why it is not the default."""

from __future__ import annotations

from typing import ClassVar

from fl.valuation.contributions import Valuation
from fl.valuation.utility import CoalitionGame

__all__ = ["LeaveOneOut"]


class LeaveOneOut(Valuation):
    name: ClassVar[str] = "loo"

    def values(self, game: CoalitionGame) -> list[float]:
        everyone = game.grand()
        total = game.value(everyone)
        return [total - game.value(everyone - {i}) for i in range(game.n)]

    def config(self) -> dict[str, object]:
        return {}
