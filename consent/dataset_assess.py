"""Assess a dataset: k, l, t on the rows, attack risks against a holdout, and its card.

The real rows are split (seeded) into an attacked part and a control holdout that anonymeter
uses as its baseline. The released table is the data itself, or a synthetic copy: a hospital's
own rows released as they are score risks near 1 by construction, which is what they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import numpy as np
import pandas as pd

from consent.anonymity import AnonymityScores, assess_anonymity
from consent.attack_risk import AttackRisks, attack_risks
from consent.dataset_card import DatasetCard
from consent.dataset_errors import UnsuitableDataError

__all__ = ["ID_COLUMNS", "Assessment", "assess", "holdout_split", "tool_versions"]

ID_COLUMNS: Final = ("patient", "record_id")
"""Row-identity columns: never quasi-identifiers of the card, never given to the attacks."""
_TOOLS: Final = ("consentfl", "pandas", "numpy", "anonymeter")


def tool_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Installed versions of the tools that computed a card."""
    found: dict[str, str] = {}
    for name in (*_TOOLS, *extra):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def holdout_split(
    data: pd.DataFrame, fraction: float, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(attacked, control): a seeded random `fraction` of the rows held out as control."""
    if not 0.0 < fraction < 1.0:
        raise UnsuitableDataError(f"the holdout fraction must lie in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(len(data))
    cut = round(len(data) * fraction)
    return data.iloc[order[cut:]], data.iloc[order[:cut]]


@dataclass(frozen=True, slots=True)
class Assessment:
    """What `assess` measured, and the card built from it."""

    anonymity: AnonymityScores
    risks: AttackRisks
    card: DatasetCard


def assess(
    data: pd.DataFrame,
    *,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str],
    synthetic: pd.DataFrame | None = None,
    holdout_fraction: float = 0.3,
    attacks: int = 200,
    extensions: Mapping[str, Any] | None = None,
) -> Assessment:
    """Assess `data` (or, with `synthetic`, that synthetic copy of `data`) and build its card."""
    if set(quasi_identifiers) & set(ID_COLUMNS):
        raise UnsuitableDataError(f"row ids ({', '.join(ID_COLUMNS)}) are not quasi-identifiers")
    attacked, control = holdout_split(data, holdout_fraction)
    released = attacked if synthetic is None else synthetic
    assessed = data if synthetic is None else synthetic
    anonymity = assess_anonymity(assessed, quasi_identifiers, sensitive)
    risks = attack_risks(
        attacked,
        released,
        control,
        quasi_identifiers=quasi_identifiers,
        sensitive=sensitive,
        attacks=attacks,
    )
    columns = tuple(
        (str(c), str(assessed[c].dtype)) for c in assessed.columns if c not in ID_COLUMNS
    )
    card = DatasetCard(
        columns=columns,
        rows=len(assessed),
        quasi_identifiers=tuple(quasi_identifiers),
        sensitive=tuple(sensitive),
        k=anonymity.k,
        l=anonymity.l,
        t_closeness=anonymity.t_closeness,
        risks=risks.by_name(),
        synthetic=synthetic is not None,
        tools=tool_versions(("sdv",) if synthetic is not None else ()),
        extensions={"holdout_fraction": holdout_fraction, "attacks": attacks, **(extensions or {})},
    )
    return Assessment(anonymity, risks, card)
