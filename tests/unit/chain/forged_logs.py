"""A node that lies about one audited contract's logs: `LedgerView.read`'s events through a forge.

`chain.audit.logs.read_events` answers one list of events per audited facade, in the order
`LedgerView.read` asks for them (consent registry, study registry, round ledger, then the
contributions contract); `forge_logs` replaces one of those lists with what `forge` makes of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from chain.audit import view as view_module
from chain.events import LedgerEvent

Forge = Callable[[Sequence[LedgerEvent]], list[LedgerEvent]]

ROUND_LEDGER = 2
"""The round ledger's place among the facades `LedgerView.read` reads the logs of."""
CONTRIBUTIONS = -1
"""The contributions contract's place: the last."""


def forge_logs(monkeypatch: pytest.MonkeyPatch, facade: int, forge: Forge) -> None:
    """The node answers the logs of the `facade`-th audited contract through `forge`."""
    real = view_module.read_events

    def lying(*args: Any) -> list[list[LedgerEvent]]:
        found = real(*args)
        found[facade] = forge(found[facade])
        return found

    monkeypatch.setattr(view_module, "read_events", lying)
