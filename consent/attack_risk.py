"""Attack-based re-identification risks of a released table, measured with anonymeter.

anonymeter (Statice, the method the CNIL reviewed) runs three attacks on a released table
`released` built from the real rows `original`, and the same attacks against `control`, real rows
that were never released; the risk is the attack's success above that baseline, with a
confidence interval:

* singling out: predicates (one column's unique values) on the released rows that match
  exactly one original record;
* linkability: joining two halves of the quasi-identifiers through the released rows;
* inference: guessing a sensitive column from the quasi-identifiers.

A released table equal to the original is the worst case, and must score near 1 (anonymeter's
issue 32 was a crash there: when every attack succeeds and the control rate is 1, the risk's
denominator is 0; `_risk` reports that case as risk 1 instead of failing).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Final

import pandas as pd

from consent.anonymity import check_columns
from consent.dataset_card import Risk
from consent.dataset_errors import UnsuitableDataError

__all__ = ["CONFIDENCE", "AttackRisks", "anonymeter_version", "attack_risks"]

log = logging.getLogger(__name__)

CONFIDENCE: Final = 0.95
_MIN_ROWS: Final = 10


@dataclass(frozen=True, slots=True)
class AttackRisks:
    """The three risks of one release."""

    singling_out: Risk
    linkability: Risk
    inference: Risk

    def by_name(self) -> dict[str, Risk]:
        """Risk name (as in the card) -> risk."""
        return {
            "singling_out": self.singling_out,
            "linkability": self.linkability,
            "inference": self.inference,
        }


def anonymeter_version() -> str:
    """The installed anonymeter version (recorded in dataset cards)."""
    return version("anonymeter")


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _risk(evaluator: Any) -> Risk:
    try:
        measured = evaluator.risk(confidence_level=CONFIDENCE)
    except (ZeroDivisionError, ValueError) as exc:
        # every control attack succeeded too: the baseline leaves nothing to measure against,
        # which happens when the release reproduces the population: treat as total exposure
        log.info("anonymeter could not separate attack from baseline (%s): risk 1", exc)
        return Risk(value=1.0, ci_low=1.0, ci_high=1.0)
    low, high = (float(x) for x in measured.ci)
    return Risk(value=_clamp(float(measured.value)), ci_low=_clamp(low), ci_high=_clamp(high))


def attack_risks(
    original: pd.DataFrame,
    released: pd.DataFrame,
    control: pd.DataFrame,
    *,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str],
    attacks: int = 200,
) -> AttackRisks:
    """The singling-out, linkability and inference risks of `released`.

    Linkability splits the quasi-identifiers in two halves (needs two or more); inference
    attacks each sensitive column from the quasi-identifiers and keeps the worst.
    """
    from anonymeter.evaluators import (
        InferenceEvaluator,
        LinkabilityEvaluator,
        SinglingOutEvaluator,
    )

    qi, sa = list(quasi_identifiers), list(sensitive)
    for frame in (original, released, control):
        check_columns(frame, qi, sa)
    if len(qi) < 2:
        raise UnsuitableDataError("linkability needs at least two quasi-identifiers")
    if min(len(original), len(released), len(control)) < _MIN_ROWS:
        raise UnsuitableDataError(f"each of original, released and control needs {_MIN_ROWS} rows")
    columns = qi + sa
    ori, syn, ctl = (f[columns].reset_index(drop=True) for f in (original, released, control))
    n = max(1, min(attacks, len(ctl)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anonymeter warns on every low-success attack
        # univariate: unique values of one column (multivariate predicates cost ~20x the time
        # and, on the identical-copy case, measured the same risk within its interval)
        singling = SinglingOutEvaluator(ori=ori, syn=syn, control=ctl, n_attacks=n, seed=0)
        singling.evaluate(mode="univariate")
        half = len(qi) // 2
        linking = LinkabilityEvaluator(
            ori=ori, syn=syn, control=ctl, n_attacks=n, aux_cols=(qi[:half], qi[half:])
        )
        linking.evaluate(n_jobs=1)
        inferences = []
        for secret in sa:
            inference = InferenceEvaluator(
                ori=ori, syn=syn, control=ctl, aux_cols=qi, secret=secret, n_attacks=n
            )
            inference.evaluate(n_jobs=1)
            inferences.append(_risk(inference))
    return AttackRisks(
        singling_out=_risk(singling),
        linkability=_risk(linking),
        inference=max(inferences, key=lambda r: r.ci_high),
    )
