"""The polling loop both roles run in process mode: step until finished, retrying only transient
failures.

A step that raises `FlError` or `ConsentError` (a bad plan or data, a hash mismatch, consent
retries exhausted) is not transient: it propagates at once. Anything else (a node or store that
is down) is logged and retried after `poll_interval`; `MAX_CONSECUTIVE_FAILURES` in a row are
raised. A step with an outcome is followed at once by the next step; an idle one (None) asks
`finished` and, if not, waits `poll_interval`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final, TypeVar

from consent.errors import ConsentError
from fl.errors import FlError

__all__ = ["MAX_CONSECUTIVE_FAILURES", "run_role"]

logger = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILURES: Final = 20

_T = TypeVar("_T")


def run_role(
    role: str,
    step: Callable[[], _T | None],
    finished: Callable[[], bool],
    *,
    poll_interval: float,
    stop: threading.Event | None,
    on_outcome: Callable[[_T], None] | None,
) -> list[_T]:
    """Run `step` until `finished()` after an idle step, or until `stop` is set; returns the
    outcomes in order (each also passed to `on_outcome`)."""
    stop = stop or threading.Event()
    outcomes: list[_T] = []
    failures = 0
    while not stop.is_set():
        try:
            outcome = step()
            done = outcome is None and finished()
        except (FlError, ConsentError):
            raise  # not transient
        except Exception as exc:  # a daemon loop survives node/store hiccups
            failures += 1
            logger.warning("%s step failed (%d in a row): %s", role, failures, exc)
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise
            stop.wait(poll_interval)
            continue
        failures = 0
        if outcome is not None:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            continue
        if done:
            break
        stop.wait(poll_interval)
    return outcomes
